#!/usr/bin/env bash
# End-to-end test of fifo-pingd under a real systemd 252 (PID 1 of a systemd-nspawn
# container running Debian 12), driven the way users drive it: systemctl start/reload/stop,
# echo ping > /run/fifo-ping, journalctl -u fifo-pingd, fifo-pingctl ping [--wait].
#
# Usage (as root):  tests/e2e/run.sh
# Prints PASS/FAIL lines, timings, the security scores and a final "N passed, N failed";
# exits non-zero on any failure, including a host where the container cannot boot.
# The container is always torn down (EXIT trap), also after a failure or Ctrl-C.
#
# Environment:
#   E2E_BINARY=PATH   test this binary instead of building target/release/fifo-pingd
#   E2E_CLIENT=PATH   test this fifo-pingctl (default: the fifo-pingctl next to the daemon)
#   E2E_CONFIG=PATH   install this config instead of etc/fifo-pingd/fifo-pingd.toml
#   E2E_CACHE_DIR=DIR image cache and per-run directories (default /var/cache/fifo-pingd-e2e)
#   E2E_MIRROR=URL    Debian mirror for the one-time image build (default: the host's)
#   E2E_CYCLES=N      start/ping/stop cycles in check 6 (default 20)
#   E2E_KEEP=1        keep the unpacked rootfs of this run (its journal is in var/log/journal)
#
# Host requirements: Debian 12 (or similar) as root; installs systemd-container,
# debootstrap and zstd if missing. The first run builds a ~30 MB image (1-2 min); later
# runs unpack it in a few seconds.

# Checks are written as `check "what" eval '...'`: single-quoted on purpose, expanded when
# the check runs (inside wait_for, possibly many times).
# shellcheck disable=SC2016,SC2001
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
# shellcheck source=tests/e2e/container.sh
. "$HERE/container.sh"

T_START=$EPOCHREALTIME
declare -A TIMES=()
declare -A SCORES=()

# ---------------------------------------------------------------- small helpers
# shellcheck source=tests/e2e/checks.sh
. "$HERE/checks.sh"
active_state() { prop "$1" ActiveState; }
perm_is() { [ "$(fifo_perm)" = "$1" ]; }
fifo_present() { [ "$(in_ct sh -c "if [ -p $FIFO ]; then echo fifo; fi")" = fifo ]; }
# Run fifo-pingctl as USER; sets OUT (stdout+stderr), RC and TOOK (seconds). Bounded
# twice: by its own --timeout and by `timeout 10` in case it hangs after all.
pingctl() {
    local u=$1 t=$EPOCHREALTIME; shift
    OUT=$(as_user "$u" timeout 10 fifo-pingctl "$@" 2>&1) && RC=0 || RC=$?
    TOOK=$(elapsed "$t")
    echo "    $u: fifo-pingctl $* -> rc $RC in ${TOOK}s: $OUT"
}
# Entries in the reply directory ("" = none left behind), as root.
reply_entries() { in_ct ls -A "$REPLY_DIR" 2>&1 || true; }
show_journal() {
    in_ct journalctl --no-pager -o short-monotonic -n "${2:-40}" -u "$1" 2>/dev/null | sed 's/^/    /' || true
}

# ---------------------------------------------------------------- teardown / summary
on_exit() {
    e2e_finish $? tools image build boot install checks teardown
    for k in "${!SCORES[@]}"; do
        printf '  systemd-analyze security %s: %s\n' "$k" "${SCORES[$k]}"
    done
    e2e_exit
}
trap on_exit EXIT
trap 'echo "interrupted"; exit 130' INT
trap 'echo "terminated"; exit 143' TERM

# ---------------------------------------------------------------- what gets installed
# The one place that knows how fifo-pingd gets into the container. Issue 4 replaces the
# body with: copy the .deb to $CT_ROOT/var/tmp and `in_ct dpkg -i /var/tmp/...`, which
# must end in the same state (files in place, group created, systemd reloaded).
install_into_container() {
    install_project_files
    # No man pages are installed this way (nor man-db in the image), so `systemd-analyze
    # verify` must not try to open the Documentation= pages. Installing the package (with
    # man-db in the image) should set this to "" so that they are checked too.
    VERIFY_MAN=--man=no
}

# ================================================================= setup
SECTION=setup
t=$EPOCHREALTIME
ct_host_tools
TIMES[tools]=$(elapsed "$t")

t=$EPOCHREALTIME
e2e_binaries
TIMES[build]=$(elapsed "$t")

t=$EPOCHREALTIME
ct_rootfs
TIMES[image]=$(elapsed "$t")

t=$EPOCHREALTIME
ct_boot
TIMES[boot]=$(elapsed "$t")
echo "booted in ${TIMES[boot]}s"

t=$EPOCHREALTIME
install_into_container || ct_die "installing fifo-pingd into the container failed"
TIMES[install]=$(elapsed "$t")
T_CHECKS=$EPOCHREALTIME

# ================================================================= 1
section 1 "systemctl start returns after READY; /run/fifo-ping leads to prw--w---- fifo-pingd fifo-ping"
check "group fifo-ping was created by systemd-sysusers" eval 'in_ct getent group fifo-ping >/dev/null'
check "user fifo-pingd was created by systemd-sysusers" eval 'in_ct getent passwd fifo-pingd >/dev/null'
check "$FIFO is the tmpfiles.d link to fifo-pingd/default/fifo" link_ok
# The admin's part: let the user pinger write pings.
check "usermod -aG fifo-ping pinger" in_ct usermod -aG fifo-ping pinger
check "systemctl enable $SVC" in_ct systemctl enable --quiet "$SVC"
check "systemctl start $SVC returns 0" in_ct systemctl start "$SVC"
# No waiting from here on: Type=notify means start returned only after READY=1, and the
# daemon promises READY=1 only once the FIFO has its final mode and owner and is open.
perm=$(fifo_perm)
state=$(active_state "$SVC")
check "right after start: ActiveState=active (got '$state')" test "$state" = active
check "right after start: FIFO is 'prw--w---- fifo-pingd fifo-ping' (got '$perm')" \
    test "$perm" = "prw--w---- fifo-pingd fifo-ping"
check "journal: listening on $REAL_FIFO (mode 0620, owner fifo-pingd, group fifo-ping)" wait_for 5 \
    jgrew "$SVC" "^listening on $REAL_FIFO \(mode 0620, owner fifo-pingd, group fifo-ping\)$" 0

# ================================================================= 2
section 2 "echo ping > $FIFO: a member of fifo-ping may, others may not"
n=$(jcount "$SVC" '^received ping$')
check "pinger (member of fifo-ping) writes 'ping'" write_fifo pinger ping
check "journalctl -u fifo-pingd shows 'received ping'" wait_for 10 jgrew "$SVC" '^received ping$' "$n"
out=$(write_fifo outsider ping 2>&1) && rc=0 || rc=$?
check "outsider (not a member) gets 'Permission denied' (rc=$rc, '$out')" \
    eval '[ "$rc" != 0 ] && grep -q "Permission denied" <<<"$out"'

# ================================================================= 3
section 3 "systemctl status shows the STATUS= line with the ping count"
status_line() { in_ct systemctl status --no-pager "$SVC" 2>/dev/null | grep -E '^ *Status: ' || true; }
# STATUS= is refreshed at most once per second.
check "Status: \"listening on $REAL_FIFO; pings=1 ends=0 rejected=0\"" wait_for 5 \
    eval 'status_line | grep -qF "Status: \"listening on $REAL_FIFO; pings=1 ends=0 rejected=0"'
echo "    $(status_line | sed 's/^ *//')"

# ================================================================= 3b
section 3b "fifo-pingctl: plain ping and a round trip (ping --wait) as a member; outsiders are told what to do"
check "round-trip area: its own tmpfs ($MOUNT), drwx-ws--T fifo-pingd fifo-ping (got '$(in_ct stat -c '%A %U %G' "$REPLY_DIR" 2>&1)')" \
    eval 'in_ct mountpoint -q "$REPLY_DIR" && [ "$(in_ct stat -c "%A %U %G" "$REPLY_DIR" 2>&1)" = "drwx-ws--T fifo-pingd fifo-ping" ]'
check "round-trip area: 4096 inodes" test "$(in_ct stat -f -c %c "$REPLY_DIR" 2>&1)" = 4096
n=$(jcount "$SVC" '^received ping$')
pingctl pinger ping
check "pinger: fifo-pingctl ping exits 0 ('sent ping to $FIFO')" \
    eval '[ "$RC" = 0 ] && [ "$OUT" = "sent ping to $FIFO" ]'
check "... and the daemon logs it" wait_for 10 jgrew "$SVC" '^received ping$' "$n"
pid=$(main_pid "$SVC")
caps=$(in_ct awk '/^CapEff:/ { print $2 }' "/proc/$pid/status" 2>&1 || true)
uid=$(in_ct awk '/^Uid:/ { print $2 }' "/proc/$pid/status" 2>&1 || true)
# So the pong can only go through the group: the reply FIFO is the client's, mode 0620.
check "the daemon (PID $pid) runs as fifo-pingd (uid $uid) with no effective capabilities (CapEff $caps)" \
    eval '[ "$uid" = "$(in_ct id -u fifo-pingd)" ] && [[ $caps =~ ^0+$ ]]'
n=$(jcount "$SVC" '^no pong sent')
pingctl pinger ping --wait -t 5
check "pinger: fifo-pingctl ping --wait -t 5 exits 0 and prints 'pong from fifo-pingd in ...'" \
    eval '[ "$RC" = 0 ] && [[ $OUT == "pong from fifo-pingd in "* ]]'
check "no reply FIFO left in $REPLY_DIR ('$(reply_entries)')" test -z "$(reply_entries)"
check "journal: no 'no pong sent' notice" test "$(jcount "$SVC" '^no pong sent')" = "$n"
pingctl outsider ping --wait -t 5
check "outsider: exit 77, 'add the user to group fifo-ping'" \
    eval '[ "$RC" = 77 ] && grep -qF "add the user to group fifo-ping" <<<"$OUT"'
pingctl outsider ping
check "outsider, without --wait: the same (exit 77)" \
    eval '[ "$RC" = 77 ] && grep -qF "add the user to group fifo-ping" <<<"$OUT"'
check "nothing left in $REPLY_DIR" test -z "$(reply_entries)"

# ================================================================= 4
section 4 "systemctl reload applies a changed mode before it returns; a broken config fails the reload and keeps the service running"
cp "$CT_ROOT$CONF" "$CT_DIR/config.orig"
# Set mode = "0660" in the [fifo] table (uncommenting the key if the example has it commented).
sed -i -E '/^\[fifo\]/,/^\[/ s/^#? *mode *=.*/mode = "0660"/' "$CT_ROOT$CONF"
check "config edited: [fifo] mode = \"0660\"" grep -qx 'mode = "0660"' "$CT_ROOT$CONF"
pid=$(main_pid "$SVC")
n=$(jcount "$SVC" "^reloaded configuration from $CONF$")
t=$EPOCHREALTIME
check "systemctl reload $SVC returns 0" in_ct systemctl reload "$SVC"
took=$(elapsed "$t")
# No waiting: ExecReload=fifo-pingd --reload returns once the daemon reported it.
perm=$(fifo_perm)
check "right after 'systemctl reload' (${took}s): new mode applied: prw-rw---- fifo-pingd fifo-ping (got '$perm')" \
    test "$perm" = "prw-rw---- fifo-pingd fifo-ping"
check "journal: reloaded configuration from $CONF" wait_for 10 jgrew "$SVC" "^reloaded configuration from $CONF$" "$n"
check "back to active/running after RELOADING=1 ... READY=1" wait_for 10 \
    eval '[ "$(prop "$SVC" ActiveState)/$(prop "$SVC" SubState)" = active/running ]'
check "same main PID after reload ($pid)" test "$(main_pid "$SVC")" = "$pid"

printf '[fifo]\nmode = "0600"\n' >>"$CT_ROOT$CONF"   # a duplicate table
n=$(jcount "$SVC" '^reload failed, keeping the previous configuration')
out=$(in_ct systemctl reload "$SVC" 2>&1) && rc=0 || rc=$?
echo "    systemctl reload -> rc $rc: $out"
check "systemctl reload with a broken config fails (rc $rc)" test "$rc" != 0
st=$(in_ct systemctl status --no-pager -n 5 "$SVC" 2>&1 || true)
check "systemctl status shows the one-line error with path:line:column" \
    eval 'grep -qE "reload failed, the previous configuration is kept: $CONF:[0-9]+:[0-9]+: " <<<"$st"'
grep -E "reload failed" <<<"$st" | sed 's/^/    /' || true
check "journal: reload failed, keeping the previous configuration: ..." wait_for 10 \
    jgrew "$SVC" '^reload failed, keeping the previous configuration' "$n"
check "still active/running after the failed reload" wait_for 10 \
    eval '[ "$(prop "$SVC" ActiveState)/$(prop "$SVC" SubState)" = active/running ]'
check "same main PID ($pid)" test "$(main_pid "$SVC")" = "$pid"
check "mode unchanged: prw-rw---- fifo-pingd fifo-ping" perm_is "prw-rw---- fifo-pingd fifo-ping"
n=$(jcount "$SVC" '^received ping$')
check "pings still arrive" eval 'write_fifo pinger ping && wait_for 10 jgrew "$SVC" "^received ping$" "$n"'

cp "$CT_DIR/config.orig" "$CT_ROOT$CONF"
in_ct systemctl reload "$SVC" || true
check "original config restored and reloaded: prw--w---- fifo-pingd fifo-ping" wait_for 10 perm_is "prw--w---- fifo-pingd fifo-ping"

# ================================================================= 5
section 5 "echo end > $FIFO: the unit becomes inactive (not failed), the FIFO is gone"
check "pinger writes 'end'" write_fifo pinger end
check "unit becomes inactive" wait_for 10 state_is "$SVC" inactive
check "Result=success (not failed)" test "$(prop "$SVC" Result)" = success
check "not restarted (still inactive 1 s later)" eval 'sleep 1; state_is "$SVC" inactive'
check "$REAL_FIFO is gone, $FIFO dangles" eval 'fifo_absent && link_ok'
check "journal: stopping (end received): ..." jgrew "$SVC" '^stopping \(end received\)' 0

# ================================================================= 6
section 6 "systemctl start + stop: inactive, FIFO gone; ${E2E_CYCLES:-20} start/ping/stop cycles leave nothing behind"
check "systemctl start" in_ct systemctl start "$SVC"
check "systemctl stop" in_ct systemctl stop "$SVC"
check "inactive, Result=success" eval '[ "$(active_state "$SVC")/$(prop "$SVC" Result)" = inactive/success ]'
check "$REAL_FIFO is gone, $FIFO dangles" eval 'fifo_absent && link_ok'
check "journal: stopping (SIGTERM): ..." wait_for 5 jgrew "$SVC" '^stopping \(SIGTERM\)' 0

cycles=${E2E_CYCLES:-20}
run_before=$(in_ct ls -A /run)
n=$(jcount "$SVC" '^received ping$')
problems=()
t=$EPOCHREALTIME
for i in $(seq 1 "$cycles"); do
    # Faster than any admin: reset the start rate limit (StartLimitBurst=5 per 10 s, which
    # guards against restart loops), or start #6 is refused with 'start-limit-hit'.
    in_ct systemctl reset-failed "$SVC"
    in_ct systemctl start "$SVC" || problems+=("cycle $i: start failed")
    write_fifo pinger ping || problems+=("cycle $i: write failed")
    in_ct systemctl stop "$SVC" || problems+=("cycle $i: stop failed")
    state_is "$SVC" inactive || problems+=("cycle $i: $(active_state "$SVC") after stop")
    fifo_absent || problems+=("cycle $i: FIFO left behind: $(fifo_perm)")
done
echo "    $cycles cycles in $(elapsed "$t")s"
check "$cycles cycles without an error (${problems[*]:-none})" test "${#problems[@]}" = 0
check "every cycle's ping reached the journal" wait_for 10 \
    eval '[ "$(jcount "$SVC" "^received ping$")" -ge $((n + cycles)) ]'
check "/run has the same entries as before the cycles" test "$(in_ct ls -A /run)" = "$run_before"
check "no process left in the unit, unit not failed" \
    eval '[ "$(main_pid "$SVC")" = 0 ] && [ "$(prop "$SVC" Result)" = success ]'

# Root's typo while stopped: the link dangles into a directory that is gone, so the
# shell cannot create a regular file that would block the next start.
out=$(in_ct sh -c "echo ping > $FIFO" 2>&1) && rc=0 || rc=$?
check "stopped: root's 'echo ping > $FIFO' fails (rc $rc: $out)" \
    eval '[ "$rc" != 0 ] && grep -qE "No such file or directory|Directory nonexistent" <<<"$out"'
check "... created nothing, and the next start works" \
    eval 'fifo_absent && in_ct systemctl start "$SVC" && state_is "$SVC" active && in_ct systemctl stop "$SVC"'
# Where `echo ping > FIFO` would hang forever (a FIFO nobody reads), the client fails
# at once.
t=$EPOCHREALTIME
out=$(as_user pinger timeout 3 fifo-pingctl ping 2>&1) && rc=0 || rc=$?
took=$(elapsed "$t")
echo "    pinger: timeout 3 fifo-pingctl ping -> rc $rc in ${took}s: $out"
check "service stopped: timeout 3 fifo-pingctl ping exits 69 at once (not 124; ${took}s), 'fifo-pingd is not running: $FIFO is a symbolic link ...'" \
    eval '[ "$rc" = 69 ] && grep -qF "fifo-pingd is not running: $FIFO is a symbolic link to fifo-pingd/default/fifo, which does not exist" <<<"$out" && awk -v t="$took" "BEGIN { exit !(t < 1.5) }"'
check "... and created nothing at $FIFO" fifo_absent
pingctl pinger ping --wait
check "fifo-pingctl ping --wait: exit 69 at once as well, nothing left in $REPLY_DIR" \
    eval '[ "$RC" = 69 ] && awk -v t="$TOOK" "BEGIN { exit !(t < 1.5) }" && [ -z "$(reply_entries)" ]'
# A stale FIFO that nobody reads (as if left by a daemon killed without a restart).
in_ct sh -c "mkdir -p ${REAL_FIFO%/*} && mkfifo -m 0620 $REAL_FIFO && chgrp fifo-ping $REAL_FIFO"
pingctl pinger ping --wait
check "stale FIFO, nobody reading: exit 69 at once, 'fifo-pingd is not running (nothing is reading $FIFO)'" \
    eval '[ "$RC" = 69 ] && grep -qF "fifo-pingd is not running (nothing is reading $FIFO)" <<<"$OUT" && awk -v t="$TOOK" "BEGIN { exit !(t < 1.5) }"'
check "... nothing left in $REPLY_DIR" test -z "$(reply_entries)"
in_ct rm -rf "${REAL_FIFO%/*}"

# ================================================================= 7
section 7 "kill -9: systemd restarts the daemon; the stale FIFO does not stop it"
check "systemctl start" in_ct systemctl start "$SVC"
pid=$(main_pid "$SVC")
restarts=$(prop "$SVC" NRestarts)
check "kill -9 $pid" in_ct kill -KILL "$pid"
check "restarted: new main PID, active" wait_for 15 \
    eval 'p=$(main_pid "$SVC"); [ "$p" != 0 ] && [ "$p" != "$pid" ] && state_is "$SVC" active'
check "NRestarts went up by one" test "$(prop "$SVC" NRestarts)" = $((restarts + 1))
check "FIFO is prw--w---- fifo-pingd fifo-ping again" perm_is "prw--w---- fifo-pingd fifo-ping"
n=$(jcount "$SVC" '^received ping$')
check "a ping reaches the new daemon" eval 'write_fifo pinger ping && wait_for 10 jgrew "$SVC" "^received ping$" "$n"'
check "systemctl stop; FIFO gone" eval 'in_ct systemctl stop "$SVC" && fifo_absent'

# ================================================================= 8
section 8 "socket activation: fifo-pingd.socket creates the FIFO, the first ping starts an unprivileged daemon"
check "systemctl disable --now $SVC" in_ct systemctl disable --quiet --now "$SVC"
check "systemctl enable --now $SOCK" in_ct systemctl enable --quiet --now "$SOCK"
check "FIFO exists before the service runs: prw--w---- fifo-pingd fifo-ping (got '$(fifo_perm)')" \
    perm_is "prw--w---- fifo-pingd fifo-ping"
check "$SOCK_SVC not running yet" state_is "$SOCK_SVC" inactive
n=$(jcount "$SOCK_SVC" '^received ping$')
check "pinger writes 'ping'" write_fifo pinger ping
check "the write started $SOCK_SVC" wait_for 10 state_is "$SOCK_SVC" active
check "that first ping is logged (journalctl -u ${SOCK_SVC%.service})" wait_for 10 jgrew "$SOCK_SVC" '^received ping$' "$n"
# The contract's text is "listening on PATH (socket-activated fd 3)"; the daemon may add
# what it found (", mode 0620, owner fifo-pingd, group fifo-ping").
check "journal: listening on $REAL_FIFO (socket-activated fd 3...)" \
    jgrew "$SOCK_SVC" "^listening on $REAL_FIFO \(socket-activated fd 3[,)]" 0
pid=$(main_pid "$SOCK_SVC")
ids=$(in_ct awk '/^(Uid|Gid):/ { printf "%s %s %s ", $1, $2, $3 } /^Cap(Prm|Eff):/ { printf "%s %s ", $1, $2 }' \
    "/proc/$pid/status" || true)
echo "    main PID $pid: $ids user $(in_ct ps -o user= -p "$pid" || true)"
check "runs as fifo-pingd: its UID and GID, no capabilities" \
    eval '[[ $ids =~ ^Uid:\ ([1-9][0-9]*)\ [1-9][0-9]*\ Gid:\ [1-9][0-9]*\ [1-9][0-9]*\ CapPrm:\ 0+\ CapEff:\ 0+\ $ ]] && [ "${BASH_REMATCH[1]}" = "$(in_ct id -u fifo-pingd)" ]'
check "systemctl stop $SOCK_SVC: the daemon leaves the FIFO to systemd" \
    eval 'in_ct systemctl stop "$SOCK_SVC" 2>/dev/null && state_is "$SOCK_SVC" inactive && perm_is "prw--w---- fifo-pingd fifo-ping"'
n=$(jcount "$SOCK_SVC" '^received ping$')
check "the next ping activates it again and is logged" \
    eval 'write_fifo pinger ping && wait_for 10 jgrew "$SOCK_SVC" "^received ping$" "$n"'
check "systemctl stop $SOCK_SVC (again)" \
    eval 'in_ct systemctl stop "$SOCK_SVC" 2>/dev/null && state_is "$SOCK_SVC" inactive'
n=$(jcount "$SOCK_SVC" '^no pong sent')
pingctl pinger ping --wait
# The request waits in the pipe while systemd starts the daemon; it writes the pong
# through its supplementary group fifo-ping.
check "pinger: fifo-pingctl ping --wait activates $SOCK_SVC and gets a pong" \
    eval '[ "$RC" = 0 ] && [[ $OUT == "pong from fifo-pingd in "* ]] && state_is "$SOCK_SVC" active'
check "no reply FIFO left in $REPLY_DIR, no 'no pong sent' notice" \
    eval '[ -z "$(reply_entries)" ] && [ "$(jcount "$SOCK_SVC" "^no pong sent")" = "$n" ]'
pingctl pinger ping --wait
check "a second round trip to the running daemon" \
    eval '[ "$RC" = 0 ] && [[ $OUT == "pong from fifo-pingd in "* ]]'
n=$(jcount "$SOCK_SVC" "^reloaded configuration from $CONF$")
check "systemctl reload $SOCK_SVC returns 0, and the daemon had reloaded by then" \
    eval 'in_ct systemctl reload "$SOCK_SVC" && jgrew "$SOCK_SVC" "^reloaded configuration from $CONF$" "$n"'
cp "$CT_ROOT$CONF" "$CT_DIR/config.orig"
echo 'not = [toml' >>"$CT_ROOT$CONF"
check "systemctl reload $SOCK_SVC with a broken config fails, the daemon keeps running" \
    eval '! in_ct systemctl reload "$SOCK_SVC" 2>/dev/null && state_is "$SOCK_SVC" active'
cp "$CT_DIR/config.orig" "$CT_ROOT$CONF"
# Control: the group is the daemon's only way into the reply FIFOs. Without it (a
# drop-in resetting SupplementaryGroups=) the request arrives but no pong can be written.
in_ct mkdir -p "/run/systemd/system/$SOCK_SVC.d"
in_ct sh -c "printf '[Service]\nSupplementaryGroups=\n' > /run/systemd/system/$SOCK_SVC.d/e2e-nogroup.conf"
in_ct systemctl daemon-reload
in_ct systemctl stop "$SOCK_SVC" 2>/dev/null || true
n=$(jcount "$SOCK_SVC" '^no pong sent: .*Permission denied')
pingctl pinger ping --wait -t 1
check "control, without SupplementaryGroups=fifo-ping: no pong (exit 75), nothing left in $REPLY_DIR" \
    eval '[ "$RC" = 75 ] && [ -z "$(reply_entries)" ]'
check "... journal: no pong sent: ... Permission denied" wait_for 10 \
    jgrew "$SOCK_SVC" '^no pong sent: .*Permission denied' "$n"
in_ct rm -rf "/run/systemd/system/$SOCK_SVC.d"
in_ct systemctl daemon-reload || true
in_ct systemctl stop "$SOCK_SVC" 2>/dev/null || true
check "systemctl disable --now $SOCK" in_ct systemctl disable --quiet --now "$SOCK"
check "socket and service inactive, FIFO and its directory removed, $FIFO dangles" \
    eval 'wait_for 10 state_is "$SOCK_SVC" inactive && state_is "$SOCK" inactive && fifo_absent && ! in_ct test -e "${REAL_FIFO%/*}" && link_ok'
out=$(in_ct sh -c "echo ping > $FIFO" 2>&1) && rc=0 || rc=$?
check "socket stopped: root's 'echo ping > $FIFO' fails (rc $rc: $out), the socket starts again" \
    eval '[ "$rc" != 0 ] && fifo_absent && in_ct systemctl start "$SOCK" && perm_is "prw--w---- fifo-pingd fifo-ping" && in_ct systemctl stop "$SOCK"'
check "starting $SVC stops a running $SOCK (Conflicts=)" \
    eval 'in_ct systemctl start "$SOCK" && in_ct systemctl start "$SVC" && state_is "$SOCK" inactive && perm_is "prw--w---- fifo-pingd fifo-ping"'
in_ct systemctl stop "$SVC" "$SOCK" || true

# ================================================================= 9
section 9 "watchdog: a daemon that stops feeding it is restarted"
in_ct mkdir -p "/run/systemd/system/$SVC.d"
in_ct sh -c "printf '[Service]\nWatchdogSec=2s\n' > /run/systemd/system/$SVC.d/e2e-watchdog.conf"
in_ct systemctl daemon-reload
check "systemctl start" in_ct systemctl start "$SVC"
pid=$(main_pid "$SVC")
restarts=$(prop "$SVC" NRestarts)
sleep 5
check "fed: same main PID after 5 s with WatchdogSec=2s" \
    eval '[ "$(main_pid "$SVC")" = "$pid" ] && [ "$(prop "$SVC" NRestarts)" = "$restarts" ]'
check "SIGSTOP $pid" in_ct kill -STOP "$pid"
check "restarted after the watchdog timeout: new main PID, active" wait_for 20 \
    eval 'p=$(main_pid "$SVC"); [ "$p" != 0 ] && [ "$p" != "$pid" ] && state_is "$SVC" active'
check "journal: Watchdog timeout (limit 2s)!" jgrew "$SVC" '^fifo-pingd.service: Watchdog timeout \(limit 2s\)!$' 0
check "NRestarts went up by one" test "$(prop "$SVC" NRestarts)" = $((restarts + 1))
check "FIFO is prw--w---- fifo-pingd fifo-ping again" perm_is "prw--w---- fifo-pingd fifo-ping"
in_ct systemctl stop "$SVC" || true
in_ct rm -rf "/run/systemd/system/$SVC.d"
in_ct systemctl daemon-reload || true

# ================================================================= 10
section 10 "systemd-analyze verify prints nothing; security scores within the targets"
for unit in "$SVC" "$SOCK" "$SOCK_SVC" "$MOUNT"; do
    out=$(in_ct systemd-analyze verify $VERIFY_MAN "/usr/lib/systemd/system/$unit" 2>&1) && rc=0 || rc=$?
    check "systemd-analyze verify $unit: rc 0, no output" test "$rc/$out" = "0/"
    [ -z "$out" ] || sed 's/^/    /' <<<"$out"
done
for spec in "$SVC:0.5" "$SOCK_SVC:0.5"; do
    unit=${spec%%:*} target=${spec##*:}
    score=$(in_ct systemd-analyze security --offline=yes --no-pager "/usr/lib/systemd/system/$unit" 2>&1 |
        sed -n 's/^→ Overall exposure level for .*: \([0-9.]*\) .*/\1/p' || true)
    SCORES[$unit]="${score:-?} (target <= $target)"
    check "systemd-analyze security $unit: ${score:-no score} <= $target" \
        awk -v s="${score:-99}" -v t="$target" 'BEGIN { exit !(s + 0 <= t + 0) }'
done

TIMES[checks]=$(elapsed "$T_CHECKS")
