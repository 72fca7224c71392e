# %postun of fifo-pingd. $1 = number of fifo-pingd packages left: 0 = erase, >= 1 = upgrade.

# == %systemd_postun_with_restart fifo-pingd.service fifo-pingd-socket.service: on
# upgrade restart the daemon onto the new binary, but only where it was running
# (try-restart). With systemd >= 249 the helper defers that to systemd's rpm file triggers.
if [ "$1" -ge 1 ]; then
    if [ -x /usr/lib/systemd/systemd-update-helper ]; then
        /usr/lib/systemd/systemd-update-helper mark-restart-system-units fifo-pingd.service fifo-pingd-socket.service || :
    elif [ -d /run/systemd/system ]; then
        systemctl daemon-reload >/dev/null 2>&1 || :
        systemctl try-restart fifo-pingd.service fifo-pingd-socket.service >/dev/null 2>&1 || :
    fi
    # Running instances, wherever the helper's triggers do not cover them (patterns).
    if [ -d /run/systemd/system ]; then
        systemctl try-restart 'fifo-pingd@*.service' 'fifo-pingd-socket@*.service' >/dev/null 2>&1 || :
    fi
fi

if [ "$1" -eq 0 ]; then
    # The unit files are gone: let systemd forget them (done by systemd's own rpm file
    # triggers where they exist; harmless twice).
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload >/dev/null 2>&1 || :
    fi
    # Our entries out of the journal catalog's database: Fedora's systemd has a file
    # trigger for installation only (%transfiletriggerin), none for removal.
    if [ -x /usr/bin/journalctl ] && [ -w /var ]; then
        /usr/bin/journalctl --update-catalog >/dev/null 2>&1 || :
    fi
    # cargo-generate-rpm 0.21 cannot put directories in the package (packaging/README.md,
    # "Deviations"), so rpm creates these implicitly, owns none of them and does not
    # remove them on erase. Remove them if empty (a kept fifo-pingd.toml.rpmsave keeps
    # /etc/fifo-pingd, as with any package; another package's drop-in keeps
    # systemd-tmpfiles-setup.service.d). The completion directories are the shells'
    # where those are installed (then never empty, or owned and recreated by them); on a
    # system without the shell, rpm made them for our files alone.
    for d in /etc/fifo-pingd /usr/share/licenses/fifo-pingd /usr/share/doc/fifo-pingd \
        /usr/lib/systemd/system/systemd-tmpfiles-setup.service.d /usr/lib/systemd/catalog \
        /usr/share/fish/vendor_completions.d /usr/share/fish /usr/share/zsh/site-functions \
        /usr/share/zsh /usr/share/bash-completion/completions /usr/share/bash-completion; do
        rmdir "$d" 2>/dev/null || :
    done
    # The runtime paths that %post (systemd-tmpfiles) made: state of this package only,
    # useless without the daemon. %preun unmounted the round-trip area; the link is
    # removed only if it is still a link.
    for area in /run/fifo-pingd/reply /run/fifo-pingd/instance; do
        if ! mountpoint -q "$area" 2>/dev/null; then
            rm -rf "$area"
        fi
    done
    if [ -L /run/fifo-ping ]; then
        rm -f /run/fifo-ping
    fi
    rmdir /run/fifo-pingd/default /run/fifo-pingd/instance /run/fifo-pingd 2>/dev/null || :
fi
# The user fifo-pingd and the group fifo-ping are kept, as with every sysusers.d entry (a
# reused id would give files that still carry it to someone else).
