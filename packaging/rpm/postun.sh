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
fi

if [ "$1" -eq 0 ]; then
    # The unit files are gone: let systemd forget them (done by systemd's own rpm file
    # triggers where they exist; harmless twice).
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload >/dev/null 2>&1 || :
    fi
    # cargo-generate-rpm 0.21 cannot put directories in the package, so rpm creates
    # /etc/fifo-pingd and /usr/share/licenses/fifo-pingd implicitly and does not remove
    # them on erase. Remove them if empty (a kept fifo-pingd.toml.rpmsave keeps
    # /etc/fifo-pingd, as with any package).
    rmdir /etc/fifo-pingd /usr/share/licenses/fifo-pingd /usr/share/doc/fifo-pingd 2>/dev/null || :
    # The reply directory that %post (systemd-tmpfiles) made: runtime state of this
    # package only, useless without the daemon.
    rm -rf /run/fifo-pingd/reply
    rmdir /run/fifo-pingd 2>/dev/null || :
fi
# The group fifo-ping is kept, as with every sysusers.d group (a reused GID would give
# files that still carry it to someone else).
