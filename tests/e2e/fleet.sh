#!/usr/bin/env bash
# Fleet end-to-end test of fifo-pingd (issue 13) under a real systemd 252 (PID 1 of a
# systemd-nspawn container running Debian 12): instances fifo-pingd@NAME side by side
# with the default instance, in both modes, `fifo-pingctl --instance NAME ping|status|end`,
# each instance's journal holding only its own pings, structured journal entries (found
# by MESSAGE_ID, fields read back in the export format, the catalog), and names refused.
#
# Usage (as root):  bash tests/e2e/fleet.sh
# Prints PASS/FAIL lines and a final "N passed, N failed"; exits non-zero on any failure,
# including a host where the container cannot boot. The container is always torn down.
# Environment: E2E_BINARY, E2E_CLIENT, E2E_CONFIG, E2E_CACHE_DIR, E2E_MIRROR, E2E_KEEP as
# for tests/e2e/run.sh.

# Checks are written as `check "what" eval '...'`: expanded when the check runs.
# shellcheck disable=SC2016
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
# shellcheck source=tests/e2e/container.sh
. "$HERE/container.sh"
# shellcheck source=tests/e2e/checks.sh
. "$HERE/checks.sh"

T_START=$EPOCHREALTIME
declare -A TIMES=()

on_exit() {
    e2e_finish $? tools build image boot install checks teardown
    e2e_exit
}
trap on_exit EXIT
trap 'echo "interrupted"; exit 130' INT
trap 'echo "terminated"; exit 143' TERM

# ---------------------------------------------------------------- probes
ifile() { printf '/run/fifo-pingd/instance/%s/fifo' "$1"; }
iarea() { printf '/run/fifo-pingd/instance/%s/reply' "$1"; }
perm_of() { in_ct stat -c '%A %U %G' "$1" 2>/dev/null || echo absent; }
# perm_is PATH PERM: PATH has PERM (what `stat -c "%A %U %G"` says); says what it found.
perm_is() {
    local found
    found=$(perm_of "$1")
    [ "$found" = "$2" ] && return 0
    echo "    $1: found $found"
    in_ct sh -c 'ls -la "$(dirname "$1")"; findmnt -R /run/fifo-pingd' sh "$1" 2>&1 | sed 's/^/      /'
    return 1
}
absent() { in_ct sh -c '! [ -e "$1" ] && ! [ -L "$1" ]' sh "$1"; }
ctl() { local u=$1; shift; as_user "$u" timeout 20 fifo-pingctl "$@"; }
# pings_logged UNIT: its journal's `received ping` lines (plain and round trip).
pings_logged() { jcount "$1" '^received ping'; }
# status_field NAME KEY: KEY=N from the counters line of `fifo-pingctl --instance NAME status`.
status_field() {
    ctl pinger --instance "$1" status | sed -nE "s/^counters: (.* )?$2=([0-9]+).*/\2/p"
}
counts_are() { [ "$(status_field "$1" "$2")" = "$3" ]; }
show() { echo "    $*"; }
# The journal's MESSAGE_IDs of fifo-pingd's events (src/daemon/logging/event.rs).
ID_STARTED=e2b588eb66c440fca92004ade2e24ef2
ID_PING=e51316af166e4760a0519d67e206708a
ID_ROUND_TRIP=71abd73e1e574203a75b3d4dc78c58c3
ID_STOPPING=831f57fc60ef483bac064617f0a94585
# jmatch MATCH...: how many entries journalctl finds for the matches (its own index).
jmatch() { in_ct journalctl --no-pager -o export "$@" 2>/dev/null | grep -c '^__CURSOR=' || true; }
# jfield FIELD MATCH...: FIELD's values in those entries, read back in journalctl's
# export format (our entries have no binary fields: one FIELD=value line each).
jfield() { local f=$1; shift; in_ct journalctl --no-pager -o export "$@" 2>/dev/null | sed -n "s/^$f=//p"; }

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
t=$EPOCHREALTIME
install_project_files || ct_die "installing fifo-pingd into the container failed"
in_ct usermod -aG fifo-ping pinger || ct_die "usermod -aG fifo-ping pinger failed"
TIMES[install]=$(elapsed "$t")
T_CHECKS=$EPOCHREALTIME

# ================================================================= 1
section 1 "two instances and the default one, side by side"
check "systemctl start $SVC (the default instance)" in_ct systemctl start "$SVC"
check "systemctl enable --now fifo-pingd@blue fifo-pingd@green" \
    in_ct systemctl enable --now fifo-pingd@blue fifo-pingd@green
for name in blue green; do
    check "fifo-pingd@$name is active" state_is "fifo-pingd@$name.service" active
    check "$(ifile $name): prw--w---- fifo-pingd fifo-ping" \
        perm_is "$(ifile $name)" "prw--w---- fifo-pingd fifo-ping"
    check "$(iarea $name): the daemon made its area, 1730 fifo-pingd fifo-ping" \
        perm_is "$(iarea $name)" "drwx-wx--T fifo-pingd fifo-ping"
    check "StatusText of fifo-pingd@$name names its FIFO" \
        eval '[[ "$(prop fifo-pingd@'$name'.service StatusText)" == "listening on $(ifile '$name');"* ]]'
done
show "blue: $(prop fifo-pingd@blue.service StatusText); FIFO $(perm_of "$(ifile blue)"); area $(perm_of "$(iarea blue)")"
in_ct journalctl --no-pager -o cat -u fifo-pingd@blue.service | head -5 | sed 's/^/    /' || true
check "the instances' tree is a tmpfs of its own (4096 inodes)" \
    eval '[ "$(in_ct findmnt -n -o FSTYPE /run/fifo-pingd/instance)" = tmpfs ] &&
          [ "$(in_ct stat -f -c %c /run/fifo-pingd/instance)" = 4096 ]'
check "the default instance still has its FIFO at $REAL_FIFO" \
    eval '[ "$(perm_of "$REAL_FIFO")" = "prw--w---- fifo-pingd fifo-ping" ]'

# ================================================================= 2
section 2 "ping, round trip and status, each instance its own"
for _ in 1 2 3; do ctl pinger --instance blue -q ping || true; done
for _ in 1 2; do ctl pinger --instance green -q ping || true; done
check "fifo-pingctl --instance blue ping --wait" ctl pinger --instance blue -q ping --wait
check "fifo-pingctl --instance green ping --wait" ctl pinger --instance green -q ping --wait
check "the default instance answers too" ctl pinger -q ping --wait
out=$(ctl pinger --instance blue status 2>&1 || true)
echo "$out" | sed 's/^/    /'
check "status of blue: instance blue, its FIFO, its defaults (no /etc/fifo-pingd/blue.toml)" \
    eval 'grep -qx "instance: blue" <<<"$out" && grep -qx "fifo: $(ifile blue)" <<<"$out" &&
          grep -qx "config: built-in defaults (/etc/fifo-pingd/blue.toml is absent)" <<<"$out"'
check "status of blue counts its 4 pings (3 + 1 round trip)" counts_are blue pings 4
check "status of green counts its 3 pings" counts_are green pings 3
# (The image has no JSON parser; the unit tests check the JSON with Python's.)
check "status --json of green: one line, one object, \"pings\":3" \
    eval 'j=$(ctl pinger --instance green status --json) && [ "$(wc -l <<<"$j")" = 1 ] &&
          [[ "$j" == "{\"instance\":\"green\","*"\"pings\":3,"*"}}" ]]'
check "the journal of fifo-pingd@blue has exactly its 4 pings" \
    wait_for 10 eval '[ "$(pings_logged fifo-pingd@blue.service)" = 4 ]'
check "the journal of fifo-pingd@green has exactly its 3 pings" \
    wait_for 10 eval '[ "$(pings_logged fifo-pingd@green.service)" = 3 ]'
check "the default instance's journal has only its 1 round trip" \
    wait_for 10 eval '[ "$(pings_logged "$SVC")" = 1 ]'

section 3 "structured journal entries: MESSAGE_ID, FIFO_PINGD_* fields, the catalog"
# Entries in the native protocol, parsed by the real journald and found by its index.
check "journalctl MESSAGE_ID=<ping> FIFO_PINGD_INSTANCE=blue finds exactly blue's 3 pings" \
    wait_for 10 eval '[ "$(jmatch MESSAGE_ID=$ID_PING FIFO_PINGD_INSTANCE=blue)" = 3 ]'
check "... and MESSAGE_ID=<round trip> its 1 round trip, from user pinger" \
    eval '[ "$(jmatch MESSAGE_ID=$ID_ROUND_TRIP FIFO_PINGD_INSTANCE=blue)" = 1 ] &&
          [ "$(jfield FIFO_PINGD_REQUESTER MESSAGE_ID=$ID_ROUND_TRIP FIFO_PINGD_INSTANCE=blue)" = pinger ]'
check "green's 2 plain pings, the default instance's none" \
    eval '[ "$(jmatch MESSAGE_ID=$ID_PING FIFO_PINGD_INSTANCE=green)" = 2 ] &&
          [ "$(jmatch MESSAGE_ID=$ID_PING FIFO_PINGD_INSTANCE=default)" = 0 ]'
check "every ping entry of blue names blue's FIFO and unit" \
    eval '[ "$(jfield FIFO_PINGD_FIFO MESSAGE_ID=$ID_PING FIFO_PINGD_INSTANCE=blue | sort -u)" = "$(ifile blue)" ] &&
          [ "$(jfield _SYSTEMD_UNIT MESSAGE_ID=$ID_PING FIFO_PINGD_INSTANCE=blue | sort -u)" = fifo-pingd@blue.service ]'
check "the journal holds no syslog-style or stderr copy of them (one entry per ping)" \
    eval '[ "$(jmatch _SYSTEMD_UNIT=fifo-pingd@blue.service MESSAGE="received ping")" = 3 ]'
check "journalctl --list-catalog lists the 10 fifo-pingd events" \
    eval '[ "$(in_ct journalctl --list-catalog 2>/dev/null | grep -c " fifo-pingd ")" = 10 ]'
check "journalctl -x explains blue's start, with its name and FIFO filled in" \
    eval 'in_ct journalctl --no-pager -x MESSAGE_ID=$ID_STARTED FIFO_PINGD_INSTANCE=blue |
          grep -qF "Subject: fifo-pingd blue is listening on $(ifile blue)"'

# ================================================================= 3
section 4 "end stops one instance; the other keeps running"
check "fifo-pingctl --instance blue end" ctl pinger --instance blue -q end
check "fifo-pingd@blue stops (inactive, clean exit)" wait_for 10 state_is fifo-pingd@blue.service inactive
check "its FIFO and directory are gone" absent "/run/fifo-pingd/instance/blue"
check "blue's stop entry: FIFO_PINGD_STOP_REASON=end received, FIFO_PINGD_PINGS=4" \
    wait_for 10 eval '[ "$(jfield FIFO_PINGD_STOP_REASON MESSAGE_ID=$ID_STOPPING FIFO_PINGD_INSTANCE=blue)" = "end received" ] &&
          [ "$(jfield FIFO_PINGD_PINGS MESSAGE_ID=$ID_STOPPING FIFO_PINGD_INSTANCE=blue)" = 4 ]'
check "fifo-pingd@green is still active" state_is fifo-pingd@green.service active
check "green still answers a round trip" ctl pinger --instance green -q ping --wait
check "status of a stopped instance: exit 69" \
    eval 'ctl pinger --instance blue status >/dev/null 2>&1; [ $? = 69 ]'
check "systemctl stop fifo-pingd@green: FIFO gone" \
    eval 'in_ct systemctl stop fifo-pingd@green && absent "$(ifile green)"'

# ================================================================= 4
section 5 "a socket-activated instance"
check "systemctl start fifo-pingd@red.socket" in_ct systemctl start fifo-pingd@red.socket
check "$(ifile red) made by systemd, prw--w---- fifo-pingd fifo-ping" \
    eval '[ "$(perm_of "$(ifile red)")" = "prw--w---- fifo-pingd fifo-ping" ]'
check "a round trip starts fifo-pingd-socket@red and gets its pong" \
    ctl pinger --instance red -q ping --wait
check "fifo-pingd-socket@red is active" state_is fifo-pingd-socket@red.service active
check "status of red counts its round trip" counts_are red pings 1
check "stopping the socket removes its FIFO" \
    eval 'in_ct systemctl stop fifo-pingd@red.socket fifo-pingd-socket@red.service && absent "$(ifile red)"'

# ================================================================= 5
section 6 "names refused; the default instance untouched"
for bad in default fifo-pingd; do
    check "systemctl start fifo-pingd@$bad fails" eval '! in_ct systemctl start fifo-pingd@'$bad'.service 2>/dev/null'
    check "its journal says why" \
        wait_for 10 eval '[ "$(jcount fifo-pingd@'$bad'.service "instance name .*collide with the default instance")" -ge 1 ]'
    check "systemctl start fifo-pingd@$bad.socket fails before making a FIFO" \
        eval '! in_ct systemctl start fifo-pingd@'$bad'.socket 2>/dev/null && absent /run/fifo-pingd/instance/'$bad'/fifo'
done
check "the default instance kept running, its FIFO in place" \
    eval 'state_is "$SVC" active && [ "$(perm_of "$REAL_FIFO")" = "prw--w---- fifo-pingd fifo-ping" ]'
check "and still answers" ctl pinger -q ping --wait
check "fifo-pingctl status (default instance) says instance default" \
    eval 'ctl pinger status | grep -qx "instance: default"'
check "systemctl stop $SVC: the link dangles, nothing left" \
    eval 'in_ct systemctl stop "$SVC" && fifo_absent'

TIMES[checks]=$(elapsed "$T_CHECKS")
