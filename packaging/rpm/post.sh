# %post of fifo-pingd (cargo-generate-rpm cannot expand rpm macros, so the macros Fedora's
# guidelines ask for are written out). $1 = number of fifo-pingd packages installed after
# this transaction: 1 = first install, 2 = upgrade.

# == %sysusers_create_compat: the system group fifo-ping (members may write to
# /run/fifo-ping). rpm >= 4.19 creates it by itself from the group(fifo-ping) Provides
# that the sysusers.d file generates; running systemd-sysusers again is then a no-op.
# No packaged file is owned by the group, so %post (not %pre) is early enough.
if [ -x /usr/bin/systemd-sysusers ]; then
    /usr/bin/systemd-sysusers /usr/lib/sysusers.d/fifo-pingd.conf || :
else
    getent group fifo-ping >/dev/null || groupadd -r fifo-ping || :
fi

# == %tmpfiles_create fifo-pingd.conf: /run/fifo-pingd/reply, the reply directory of
# `fifo-pingctl ping --wait` (group fifo-ping, so after the group); at boot
# systemd-tmpfiles-setup.service creates it.
if [ -x /usr/bin/systemd-tmpfiles ]; then
    /usr/bin/systemd-tmpfiles --create fifo-pingd.conf >/dev/null 2>&1 || :
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
