# %preun of fifo-pingd. $1 = number of fifo-pingd packages left after this
# transaction: 0 = erase, 1 = upgrade (then nothing is done here).

# == %systemd_preun fifo-pingd.service fifo-pingd.socket fifo-pingd-socket.service:
# on erase, disable and stop all three units. Stopping removes /run/fifo-ping (the daemon
# unlinks the FIFO it made; the socket unit has RemoveOnStop=yes).
if [ "$1" -eq 0 ]; then
    if [ -x /usr/lib/systemd/systemd-update-helper ]; then
        /usr/lib/systemd/systemd-update-helper remove-system-units fifo-pingd.service fifo-pingd.socket fifo-pingd-socket.service || :
    else
        systemctl --no-reload disable --now fifo-pingd.service fifo-pingd.socket fifo-pingd-socket.service >/dev/null 2>&1 || :
    fi
fi
