# %posttrans of fifo-pingd: runs once at the end of the transaction, after the %postun of
# the version this one replaced (no argument worth testing: rpm < 4.17 passes none).

# Upgrade from 0.1: its FIFO was /run/fifo-ping itself, so %post could not put the link
# there. Since 0.2 nothing makes a FIFO at that path (the units may not write to /run), so
# a FIFO there is 0.1's. Restart now what may still use it: fifo-pingd.service (0.1's
# %postun restarts it directly only without systemd-update-helper; with it, the restart
# comes after this scriptlet) and fifo-pingd.socket (0.1's %postun never restarts it, and
# since the daemon-reload it has no FIFO at all: "not functional until restarted";
# restarting it restarts a running fifo-pingd-socket.service after it). The old daemon
# removes its FIFO when it stops; the socket's RemoveOnStop= only knows the new path, so
# what is left is removed here.
if [ -p /run/fifo-ping ] && [ ! -L /run/fifo-ping ]; then
    if [ -d /run/systemd/system ]; then
        systemctl try-restart fifo-pingd.service fifo-pingd.socket >/dev/null 2>&1 || :
    fi
    if [ -p /run/fifo-ping ] && [ ! -L /run/fifo-ping ]; then
        rm -f /run/fifo-ping
    fi
fi

# == %tmpfiles_create fifo-pingd.conf once more: the link /run/fifo-ping, now that
# nothing is in its place. Idempotent otherwise.
if [ -x /usr/bin/systemd-tmpfiles ]; then
    /usr/bin/systemd-tmpfiles --create fifo-pingd.conf >/dev/null 2>&1 || :
fi
