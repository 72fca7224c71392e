# %post of fifo-pingd (cargo-generate-rpm cannot expand rpm macros, so the macros Fedora's
# guidelines ask for are written out). $1 = number of fifo-pingd packages installed after
# this transaction: 1 = first install, 2 = upgrade.

# == %sysusers_create_compat: the system user fifo-pingd (the daemon) and the group
# fifo-ping (members may write to /run/fifo-ping). rpm >= 4.19 creates them by itself
# from the user()/group() Provides that the sysusers.d file generates; running
# systemd-sysusers again is then a no-op. No packaged file is owned by them, so %post
# (not %pre) is early enough.
if [ -x /usr/bin/systemd-sysusers ]; then
    /usr/bin/systemd-sysusers /usr/lib/sysusers.d/fifo-pingd.conf || :
else
    getent group fifo-pingd >/dev/null || groupadd -r fifo-pingd || :
    getent passwd fifo-pingd >/dev/null ||
        useradd -r -g fifo-pingd -d / -s /sbin/nologin -c "fifo-pingd daemon" fifo-pingd || :
    getent group fifo-ping >/dev/null || groupadd -r fifo-ping || :
fi

# The round-trip area /run/fifo-pingd/reply is a tmpfs of its own
# (run-fifo\x2dpingd-reply.mount), as are the instances' areas
# (run-fifo\x2dpingd-instance.mount); mounted before tmpfiles gives it its owner and group,
# as systemd-tmpfiles-setup.service does at boot. Not a service: nothing runs.
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
    systemctl start 'run-fifo\x2dpingd-reply.mount' 'run-fifo\x2dpingd-instance.mount' >/dev/null 2>&1 || :
fi

# == %tmpfiles_create fifo-pingd.conf: /run/fifo-pingd, the round-trip area's owner and
# mode, the link /run/fifo-ping (names the user and group, so after them).
if [ -x /usr/bin/systemd-tmpfiles ]; then
    /usr/bin/systemd-tmpfiles --create fifo-pingd.conf >/dev/null 2>&1 || :
fi

# The journal catalog (journalctl -x, --list-catalog). Fedora's systemd has a file
# trigger on /usr/lib/systemd/catalog that does this, but only where systemd runs
# (/run/systemd/system); this covers image builds and systems without the trigger.
# Harmless twice. Only where /var is writable (not on rpm-ostree), as systemd's own %post.
if [ -x /usr/bin/journalctl ] && [ -w /var ]; then
    /usr/bin/journalctl --update-catalog >/dev/null 2>&1 || :
fi

# == %systemd_post fifo-pingd.service: on first install apply the system's preset
# policy. Fedora/RHEL presets leave it disabled, so the service is installed, not
# enabled and not started (Fedora policy); `systemctl enable --now fifo-pingd` starts it.
# fifo-pingd.socket is deliberately left out: it is the opt-in alternative and
# conflicts with the service, so no preset (not even an enable-all one) may enable it.
if [ "$1" -eq 1 ]; then
    if [ -x /usr/lib/systemd/systemd-update-helper ]; then
        /usr/lib/systemd/systemd-update-helper install-system-units fifo-pingd.service || :
    else
        systemctl --no-reload preset fifo-pingd.service >/dev/null 2>&1 || :
    fi
fi
