# %preun of fifo-pingd. $1 = number of fifo-pingd packages left after this
# transaction: 0 = erase, 1 = upgrade (then nothing is done here).

# == %systemd_preun fifo-pingd.service fifo-pingd.socket fifo-pingd-socket.service:
# on erase, disable and stop all three units. Stopping removes the FIFO (systemd removes
# the service's runtime directory; the socket unit has RemoveOnStop=yes). Then the
# round-trip area's tmpfs is unmounted.
if [ "$1" -eq 0 ]; then
    if [ -x /usr/lib/systemd/systemd-update-helper ]; then
        /usr/lib/systemd/systemd-update-helper remove-system-units fifo-pingd.service fifo-pingd.socket fifo-pingd-socket.service || :
    else
        systemctl --no-reload disable --now fifo-pingd.service fifo-pingd.socket fifo-pingd-socket.service >/dev/null 2>&1 || :
    fi
    if [ -d /run/systemd/system ]; then
        # Running instances (the templates are never enabled by the package).
        systemctl stop 'fifo-pingd@*.service' 'fifo-pingd-socket@*.service' 'fifo-pingd@*.socket' >/dev/null 2>&1 || :
        systemctl stop 'run-fifo\x2dpingd-reply.mount' 'run-fifo\x2dpingd-instance.mount' >/dev/null 2>&1 || :
    fi
    # Still mounted: a file in it is still open (a client waiting for its pong), or the
    # stopped daemon's mount namespace, which holds a bind mount of it, is still going
    # away ("target is busy"). Detach it, so that %postun can remove the directory; an
    # open reply FIFO stays usable for its client until it closes it.
    for area in /run/fifo-pingd/reply /run/fifo-pingd/instance; do
        if mountpoint -q "$area" 2>/dev/null; then
            umount --lazy "$area" 2>/dev/null || :
        fi
    done
fi
