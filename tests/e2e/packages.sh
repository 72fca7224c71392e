#!/usr/bin/env bash
# Life-cycle test of the fifo-pingd .deb and .rpm under a real systemd 252: PID 1 of a
# systemd-nspawn container running Debian 12 (the harness in tests/e2e/container.sh).
#
#   .deb: apt-get install ./fifo-pingd_V1.deb -> user and group created, enabled + started
#         (Debian policy) -> user story (echo ping as a member of fifo-ping, journal, stop,
#         FIFO gone, link dangles) -> edit the conffile -> apt-get install
#         ./fifo-pingd_V2.deb (a rebuild with a bumped version and a changed packaged
#         config): edit kept, .dpkg-dist written, daemon restarted on the new binary ->
#         remove (stopped, FIFO, link, mount gone, config kept) -> purge (nothing left but
#         the sysusers user and group, on purpose).
#   .deb from 0.1.0 (the landed release, built from git commit 7298901, cached): in a
#         fresh container, 0.1.0 running as root with its FIFO at /run/fifo-ping and an
#         admin's edit of the conffile -> apt-get install V1 --force-confold: restarted as
#         fifo-pingd, FIFO in its new place, /run/fifo-ping the link, the kept
#         `owner = "root"` ignored with a notice; purge; 0.1.0's mask on remove is undone;
#         the socket mode survives the upgrade too.
#   .deb in a chroot: the image not booted, no systemd running: dpkg -i creates the user,
#         the group and the /run entries, starts nothing; dpkg -P cleans up.
#   .rpm: in a fresh container with Fedora's preset policy, Debian's rpm installs the
#         package and runs its scriptlets for real against the container's systemd:
#         installed, not enabled, not started (Fedora policy) -> systemctl start, ping,
#         stop -> erase -> nothing left; install V1, edit, start, rpm -U V2 (.rpmnew,
#         restarted on the new binary), erase (.rpmsave); rpm -i --excludedocs keeps the
#         licence texts.
#   .rpm from 0.1.0: rpm -U from 0.1.0 to V1 in a fresh container, service and socket mode.
#
# Usage (as root):  tests/e2e/packages.sh
# Prints PASS/FAIL lines and a final "N passed, N failed"; exits non-zero on any failure,
# including a host where the container cannot boot. Containers are always torn down.
#
# Environment:
#   E2E_PKG_DIR=DIR     use DIR/fifo-pingd_*.deb and DIR/fifo-pingd-*.rpm instead of running
#                       packaging/build.sh (the bumped V2 packages are always rebuilt)
#   E2E_CACHE_DIR=DIR   as for run.sh; this test keeps its own image (the base image plus
#                       rpm and man-db) in DIR/packages (default /var/cache/fifo-pingd-e2e),
#                       and the 0.1.0 packages in DIR/packages/packages-0.1.0/COMMIT
#   E2E_KEEP=1          keep the unpacked rootfs of the last container
#
# Needs what run.sh needs (root, systemd-container, debootstrap, zstd: installed if
# missing) and what packaging/build.sh installs. The first run builds the image (~2 min),
# the 0.1.0 packages (~2 min) and installs the packaging tools; later runs take about
# three minutes (most of it the V2 rebuild).

# Checks are written as `check "what" eval '...'`: single-quoted on purpose, expanded when
# the check runs (inside wait_for, possibly many times).
# shellcheck disable=SC2016,SC2001
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
# shellcheck source=tests/e2e/container.sh
. "$HERE/container.sh"

# ---------------------------------------------------------------- own image
# The base image (ct_build_rootfs in container.sh) plus Debian's rpm (to install the .rpm
# inside the container, so that its scriptlets talk to the container's systemd) and man-db
# (so that `systemd-analyze verify` checks the units' Documentation=man: pages, which the
# packages install). Kept in a subdirectory: container.sh deletes images of other recipes
# in its own directory. The recipe hash covers both functions, so a change to either
# rebuilds this image.
E2E_CACHE_DIR=${E2E_CACHE_DIR%/}/packages
eval "_base_$(declare -f ct_build_rootfs)"
_packages_extra_rootfs() {
    local root=$1 rc=0
    mount -t proc proc "$root/proc" || return 1
    chroot "$root" sh -c 'apt-get -q update &&
        DEBIAN_FRONTEND=noninteractive apt-get -q -y install --no-install-recommends rpm man-db' \
        >"$root.extra.log" 2>&1 || { rc=$?; tail -20 "$root.extra.log"; }
    umount "$root/proc"
    rm -f "$root.extra.log"
    return "$rc"
}
eval "ct_build_rootfs() {
    : recipe $({ declare -f _base_ct_build_rootfs; declare -f _packages_extra_rootfs; } | sha256sum | cut -c1-16)
    _base_ct_build_rootfs \"\$@\" && _packages_extra_rootfs \"\$1\"
}"

T_START=$EPOCHREALTIME
declare -A TIMES=()
WORK=
# The landed 0.1.0 release: the real upgrade path (FIFO at /run/fifo-ping itself, owned by
# root, daemon as root; no user fifo-pingd; its postrm still masked on remove).
V0_REV=7298901

# ---------------------------------------------------------------- helpers (shared with run.sh)
# shellcheck source=tests/e2e/checks.sh
. "$HERE/checks.sh"
enabled_state() { in_ct systemctl is-enabled "$1" 2>/dev/null || true; }
reply_perm() { in_ct stat -c '%A %U %G' "$REPLY_DIR" 2>/dev/null || echo absent; }
# The round-trip area: its own tmpfs, drwx-ws--T fifo-pingd fifo-ping.
reply_ok() { in_ct mountpoint -q "$REPLY_DIR" && [ "$(reply_perm)" = "drwx-ws--T fifo-pingd fifo-ping" ]; }
# The binary the main process runs; " (deleted)" when it was replaced underneath it.
exe_of() { in_ct readlink "/proc/$1/exe" 2>/dev/null || echo "?"; }
uid_of() { in_ct awk '/^Uid:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo "?"; }
user_of() { local u; u=$(uid_of "$1"); in_ct getent passwd "$u" 2>/dev/null | cut -d: -f1 || echo "uid $u"; }
# The FIFO (through the link) is prw--w---- fifo-pingd fifo-ping and the link is the packaged one.
new_fifo_ok() { link_ok && [ "$(fifo_perm)" = "prw--w---- fifo-pingd fifo-ping" ]; }
# Nothing at /run/fifo-ping any more, not even a dangling link.
no_link() { ! in_ct test -e "$FIFO" && ! in_ct test -L "$FIFO"; }
# systemd-tmpfiles-setup.service pulls in and waits for the round-trip area's mount (the
# package's drop-in). systemctl show quotes the name: "run-fifo\\x2dpingd-reply.mount".
dropin_ok() {
    local p
    for p in Wants After; do
        in_ct systemctl show -P "$p" systemd-tmpfiles-setup.service | grep -qF "\"${MOUNT//\\/\\\\}\"" || return 1
    done
}
# Mounts of the round-trip area and units of the package that systemd still has (systemctl's
# patterns are fnmatch(3): the backslash of the mount's name is escaped). Not counted: a
# name left as "not-found inactive dead" (no file, nothing runs). In these containers
# systemd (hybrid cgroups on the host's cgroup v1) misses the empty-cgroup notification of
# a stopped service ("Failed to kill control group ... Input/output error"), so the empty
# cgroup keeps the name in memory; on a normal host it is dropped at once.
units_left() {
    { in_ct findmnt -rn -o TARGET 2>/dev/null | grep fifo-ping
      in_ct systemctl list-units --all --no-legend --plain 'fifo-pingd*' 'run-fifo\\x2dpingd*' 2>/dev/null |
          grep -vE '^[^ ]+ +not-found +inactive +dead( |$)'; } |
        tr '\n' ';' || true
}

# Every path in the container's file systems (including the tmpfs /run), minus what
# changes by itself (journal, systemd and package-manager state, logs, caches) and the
# copied package files. Compared before installation and after purge/erase. Paths only:
# the contents of the account databases are compared by accounts() below.
snapshot() {
    in_ct sh -c 'find / \( -path /proc -o -path /sys -o -path /dev -o -path /tmp \
        -o -path /var/log -o -path /var/cache -o -path /var/lib/apt -o -path /run/systemd \
        -o -path /run/log -o -path /run/user -o -path /run/udev -o -path /run/mount \
        -o -path /root/.rpmdb -o -path /var/tmp/packages \) -prune -o -print' 2>/dev/null |
        grep -vxE '/var/lib/dpkg/(status|status-old|available|lock|lock-frontend|triggers/.*|diversions-old|statoverride-old)|/var/lib/systemd/(random-seed|catalog/database|timers/.*)|/etc/(group|gshadow|passwd|shadow|subuid|subgid)-|/etc/ld\.so\.cache|/run/(utmp|dbus/.*|nologin|agetty\.reload|.*\.lock|lock/.*)' |
        sort
}
# The account databases line by line ("FILE:entry"), to compare their contents: the
# snapshot above only sees that /etc/passwd exists (its backup passwd- is left out).
accounts() {
    in_ct sh -c 'for f in /etc/passwd /etc/group /etc/shadow /etc/gshadow; do sed "s|^|$f:|" "$f"; done' 2>/dev/null | LC_ALL=C sort
}
# accounts_kept BEFORE: since BEFORE (taken before the first installation) exactly the
# sysusers entries were added, and they are still there: the user fifo-pingd (with its
# group fifo-pingd) and the group fifo-ping (with the test's member pinger). Kept on
# purpose: files outside the package may still carry these ids, and a reused id would
# hand them to someone else (Debian and Fedora keep sysusers.d entries on removal).
# Nothing else may have changed, nothing removed.
accounts_kept() {
    local now added removed
    now=$(accounts)
    added=$(LC_ALL=C comm -13 <(echo "$1") <(echo "$now") | cut -d: -f1,2 | tr '\n' ' ')
    removed=$(LC_ALL=C comm -23 <(echo "$1") <(echo "$now"))
    ACCOUNTS_ADDED=$added
    [ -z "$removed" ] &&
        [ "$added" = "/etc/group:fifo-ping /etc/group:fifo-pingd /etc/gshadow:fifo-ping /etc/gshadow:fifo-pingd /etc/passwd:fifo-pingd /etc/shadow:fifo-pingd " ]
}
# Paths anywhere (except /proc and /sys) whose name contains fifo-ping or, escaped as in
# the mount unit's name, fifo\x2dping.
named_paths() {
    in_ct sh -c 'find / \( -path /proc -o -path /sys -o -path /var/tmp/packages -o -path /root/.rpmdb \) -prune \
        -o -print' 2>/dev/null | grep -E '[^/]*fifo(-|\\x2d)ping[^/]*$' | sort || true
}
# check_clean BEFORE ACCOUNTS_BEFORE: after purge/erase, nothing of the package is left.
check_clean() {
    in_ct systemctl daemon-reload
    local units
    units=$(units_left)
    check "no mount of $REPLY_DIR, systemd has no fifo-pingd unit (nor $MOUNT) loaded or running (found: ${units:-none})" test -z "$units"
    [ -z "$units" ] || show_journal "$MOUNT" 10
    local left diff
    left=$(named_paths)
    check "no path named *fifo-ping* or *fifo\\x2dping* left (found: ${left:-none})" test -z "$left"
    diff=$(diff <(echo "$1") <(snapshot) || true)
    check "file systems as before the installation (diff: ${diff:-none})" test -z "$diff"
    check "accounts: only the sysusers entries were added, and are kept on purpose (added: $(accounts_kept "$2"; echo "$ACCOUNTS_ADDED"))" \
        accounts_kept "$2"
}
show_journal() { in_ct journalctl --no-pager -o short-monotonic -n "${2:-30}" -u "$1" 2>/dev/null | sed 's/^/    /' || true; }
# Run fifo-pingctl as USER: sets OUT and RC.
pingctl() { local u=$1; shift; OUT=$(as_user "$u" timeout 10 fifo-pingctl "$@" 2>&1) && RC=0 || RC=$?; }
# A member's ping arrives in the journal of UNIT.
member_ping() {
    local n
    n=$(jcount "$1" '^received ping$')
    write_fifo pinger ping && wait_for 10 jgrew "$1" '^received ping$' "$n"
}

add_time() { TIMES[$1]=$(awk -v a="${TIMES[$1]:-0}" -v b="$(elapsed "$2")" 'BEGIN { printf "%.2f", a + b }'); }
boot_container() {
    CT_DIR='' CT_ROOT='' LEADER='' NSPAWN_PID=''
    local t=$EPOCHREALTIME
    ct_rootfs
    add_time image "$t"
    t=$EPOCHREALTIME
    ct_boot
    add_time boot "$t"
    mkdir -p "$CT_ROOT/var/tmp/packages"
    cp "$@" "$CT_ROOT/var/tmp/packages/"
}

# ---------------------------------------------------------------- teardown / summary
on_exit() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    if [ "$rc" != 0 ] && [ "$FAILED" = 0 ]; then FAILED=1; fi
    if [ "$FAILED" != 0 ] && [ -n "$NSPAWN_PID" ] && [ -n "$LEADER" ]; then
        echo
        echo "=== journal of the fifo-pingd units (last 80 lines), for the failures above"
        in_ct journalctl --no-pager -o short-monotonic -n 80 -u "$SVC" -u "$SOCK" -u "$SOCK_SVC" -u "$MOUNT" 2>/dev/null | sed 's/^/    /'
    fi
    ct_teardown
    [ -z "$WORK" ] || rm -rf --one-file-system "$WORK"
    echo
    echo "=== summary"
    local k
    for k in tools packages image boot deb deb-0.1 chroot rpm rpm-0.1; do
        [ -z "${TIMES[$k]:-}" ] || printf '  %-9s %7ss\n' "$k" "${TIMES[$k]}"
    done
    printf '  %-9s %7ss\n' total "$(elapsed "$T_START")"
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" = 0 ] || exit 1
    exit 0
}
trap on_exit EXIT
trap 'echo "interrupted"; exit 130' INT
trap 'echo "terminated"; exit 143' TERM

# ================================================================= setup
SECTION=setup
t=$EPOCHREALTIME
ct_host_tools
TIMES[tools]=$(elapsed "$t")

t=$EPOCHREALTIME
WORK=$(mktemp -d /var/tmp/fifo-pingd-packages.XXXXXX)
if [ -n "${E2E_PKG_DIR:-}" ]; then
    V1_DIR=$E2E_PKG_DIR
else
    echo "=== packaging/build.sh --quick --no-lint (version 1)"
    V1_DIR=$WORK/v1
    "$REPO/packaging/build.sh" --quick --no-lint --out "$V1_DIR" >"$WORK/build-v1.log" 2>&1 ||
        { tail -30 "$WORK/build-v1.log"; ct_die "packaging/build.sh failed"; }
fi
DEB1=$(ls "$V1_DIR"/fifo-pingd_*.deb) || ct_die "no .deb in $V1_DIR"
RPM1=$(ls "$V1_DIR"/fifo-pingd-*.rpm) || ct_die "no .rpm in $V1_DIR"
V1=$(dpkg-deb -f "$DEB1" Version)
V1_UP=${V1%-*}
# Shared by every rebuild below (V2, 0.1.0), so compiled dependencies are reused.
BUILD_TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target/packaging/cargo}

# Version 2: the same tree with the version bumped (Cargo.toml, Cargo.lock, a new
# changelog entry) and a changed packaged config, rebuilt by packaging/build.sh in a copy.
# It shares build.sh's target directory, so only the fifo-pingd crate is recompiled.
V2_UP=$(awk -F. -v OFS=. '{ $NF = $NF + 1; print }' <<<"$V1_UP")
V2=$V2_UP-1
echo "=== rebuilding as version $V2 (copy of the tree in $WORK/src)"
mkdir -p "$WORK/src"
# The files git would see (tracked and untracked, not ignored): fuzz/target alone is huge.
git -C "$REPO" ls-files -z -c -o --exclude-standard |
    tar -C "$REPO" --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -C "$WORK/src" -xf -
sed -i "0,/^version = \"$V1_UP\"/s//version = \"$V2_UP\"/" "$WORK/src/Cargo.toml"
sed -i "/^name = \"fifo-pingd\"$/{n;s/^version = \"$V1_UP\"$/version = \"$V2_UP\"/}" "$WORK/src/Cargo.lock"
{
    printf 'fifo-pingd (%s) unstable; urgency=medium\n\n  * Test rebuild for the package life-cycle test.\n\n' "$V2"
    printf ' -- %s  %s\n\n' "$(dpkg-parsechangelog -l "$REPO/packaging/deb/changelog" -SMaintainer)" \
        "$(date -u -R -d "@$(($(dpkg-parsechangelog -l "$REPO/packaging/deb/changelog" -STimestamp) + 86400))")"
    cat "$REPO/packaging/deb/changelog"
} >"$WORK/src/packaging/deb/changelog"
echo "# (changed in $V2: a new line in the packaged configuration)" >>"$WORK/src/etc/fifo-pingd/fifo-pingd.toml"
CARGO_TARGET_DIR=$BUILD_TARGET_DIR "$WORK/src/packaging/build.sh" --quick --no-lint \
    --out "$WORK/v2" >"$WORK/build-v2.log" 2>&1 ||
    { tail -30 "$WORK/build-v2.log"; ct_die "packaging/build.sh for $V2 failed"; }
DEB2=$(ls "$WORK/v2"/fifo-pingd_*.deb)
RPM2=$(ls "$WORK/v2"/fifo-pingd-*.rpm)

# Version 0.1.0: the landed release, built once from its commit by its own build.sh and
# cached (keyed by the full commit id: the packages never change).
V0_COMMIT=$(git -C "$REPO" rev-parse --verify -q "$V0_REV^{commit}") || ct_die "commit $V0_REV (0.1.0) not found in $REPO"
V0_DIR=$E2E_CACHE_DIR/packages-0.1.0/$V0_COMMIT
mkdir -p "${V0_DIR%/*}"
(
    # One builder at a time; concurrent runs wait here and then reuse the result.
    flock -w 900 9 || ct_die "timed out waiting for ${V0_DIR%/*}/.lock"
    if ls "$V0_DIR"/fifo-pingd_0.1.0-*.deb "$V0_DIR"/fifo-pingd-0.1.0-*.rpm >/dev/null 2>&1; then exit 0; fi
    echo "=== building 0.1.0 from $V0_COMMIT (once; cached in $V0_DIR)"
    mkdir -p "$WORK/v0src"
    git -C "$REPO" archive "$V0_COMMIT" | tar -x -C "$WORK/v0src" || ct_die "git archive $V0_COMMIT failed"
    rm -rf "$V0_DIR.tmp"
    CARGO_TARGET_DIR=$BUILD_TARGET_DIR "$WORK/v0src/packaging/build.sh" --quick --no-lint \
        --out "$V0_DIR.tmp" >"$WORK/build-v0.log" 2>&1 ||
        { tail -30 "$WORK/build-v0.log"; ct_die "packaging/build.sh of 0.1.0 failed"; }
    rm -rf "$V0_DIR" && mv "$V0_DIR.tmp" "$V0_DIR"
) 9>"${V0_DIR%/*}/.lock" || exit 1
DEB0=$(ls "$V0_DIR"/fifo-pingd_0.1.0-*.deb)
RPM0=$(ls "$V0_DIR"/fifo-pingd-0.1.0-*.rpm)
V0=$(dpkg-deb -f "$DEB0" Version)
TIMES[packages]=$(elapsed "$t")
echo "packages: ${DEB1##*/} ${RPM1##*/} ${DEB2##*/} ${RPM2##*/}; 0.1.0: ${DEB0##*/} ${RPM0##*/}"

APT=(env DEBIAN_FRONTEND=noninteractive apt-get -q -y)
# Unattended upgrade: dpkg would ask about a changed conffile; --force-confold keeps the
# admin's file (and --force-confdef takes the default where there is one).
APT_CONFOLD=("${APT[@]}" -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
# apt_install FILE [APT...]: apt-get install ./FILE from /var/tmp/packages; sets OUT and RC.
apt_install() {
    local f=$1; shift
    local apt=("${@:-${APT[@]}}")
    OUT=$(in_ct sh -c "cd /var/tmp/packages && ${apt[*]} install ./${f##*/}" 2>&1) && RC=0 || RC=$?
}
apt_do() { OUT=$(in_ct "${APT[@]}" "$@" 2>&1) && RC=0 || RC=$?; }
show_out() { [ "$RC" = 0 ] || sed 's/^/    /' <<<"$OUT"; }
dpkg_status() { in_ct dpkg-query -W -f='${Status} ${Version}' fifo-pingd 2>/dev/null || true; }

# ================================================================= .deb
t_deb=$EPOCHREALTIME
boot_container "$DEB1" "$DEB2"
BEFORE=$(snapshot)
BEFORE_ACCOUNTS=$(accounts)

section deb-install "apt-get install ./${DEB1##*/}: user and group created, service enabled and started"
apt_install "$DEB1"
check "apt-get install ./${DEB1##*/} (rc $RC)" test "$RC" = 0
show_out
check "dpkg: $V1 installed" test "$(dpkg_status)" = "install ok installed $V1"
check "user fifo-pingd and group fifo-ping exist (systemd-sysusers)" \
    eval 'in_ct getent passwd fifo-pingd >/dev/null && in_ct getent group fifo-ping >/dev/null'
check "$SVC is enabled" test "$(enabled_state "$SVC")" = enabled
check "$SVC is active" state_is "$SVC" active
check "$SOCK is not enabled (opt-in) and inactive" eval '[ "$(enabled_state "$SOCK")" = disabled ] && state_is "$SOCK" inactive'
check "$FIFO is the link to fifo-pingd/default/fifo, which is prw--w---- fifo-pingd fifo-ping (got '$(fifo_perm)')" new_fifo_ok
pid=$(main_pid "$SVC")
check "the daemon (PID $pid) runs as fifo-pingd (got $(user_of "$pid"))" test "$(user_of "$pid")" = fifo-pingd
check "round-trip area $REPLY_DIR: a mountpoint ($MOUNT), drwx-ws--T fifo-pingd fifo-ping (got '$(reply_perm)')" reply_ok
check "conffile registered: $CONF" eval 'in_ct dpkg-query -W -f="\${Conffiles}" fifo-pingd | grep -q "^ $CONF [0-9a-f]\{32\}$"'
check "man -w fifo-pingd fifo-pingd.toml finds both pages" \
    eval '[ "$(in_ct man -w fifo-pingd.8 fifo-pingd.toml.5 2>/dev/null | wc -l)" = 2 ]'
for unit in "$SVC" "$SOCK" "$SOCK_SVC" "$MOUNT"; do
    out=$(in_ct systemd-analyze verify "/usr/lib/systemd/system/$unit" 2>&1) && rc=0 || rc=$?
    check "systemd-analyze verify $unit (man pages checked too): no output" test "$rc/$out" = "0/"
    [ -z "$out" ] || sed 's/^/    /' <<<"$out"
done
check "systemd-tmpfiles-setup.service has the drop-in: Wants= and After= $MOUNT" dropin_ok
check "/usr/sbin/fifo-pingd --version = fifo-pingd $V1_UP" test "$(in_ct fifo-pingd --version)" = "fifo-pingd $V1_UP"
check "man -w fifo-pingctl finds fifo-pingctl(1)" eval 'in_ct man -w fifo-pingctl.1 >/dev/null 2>&1'

section deb-story "the user story: a member of fifo-ping pings, journal, stop"
check "usermod -aG fifo-ping pinger" in_ct usermod -aG fifo-ping pinger
check "pinger: echo ping > $FIFO, journalctl -u fifo-pingd: received ping" member_ping "$SVC"
out=$(write_fifo outsider ping 2>&1) && rc=0 || rc=$?
check "outsider: Permission denied" eval '[ "$rc" != 0 ] && grep -q "Permission denied" <<<"$out"'
pingctl pinger ping --wait
check "pinger: fifo-pingctl ping --wait gets the pong (rc $RC: $OUT)" test "$RC" = 0
check "systemctl stop $SVC" in_ct systemctl stop "$SVC"
check "inactive, FIFO gone, $FIFO dangles" eval 'state_is "$SVC" inactive && fifo_absent && link_ok'
pingctl pinger ping
check "stopped: fifo-pingctl ping exits 69 at once (rc $RC: $OUT)" test "$RC" = 69
check "systemctl start $SVC (for the upgrade)" in_ct systemctl start "$SVC"

section deb-upgrade "edit the conffile, upgrade to $V2: edit kept, .dpkg-dist, restarted on the new binary"
echo '# local edit by the admin' >>"$CT_ROOT$CONF"
pid=$(main_pid "$SVC")
apt_install "$DEB2" "${APT_CONFOLD[@]}"
check "apt-get install ./${DEB2##*/} (rc $RC)" test "$RC" = 0
show_out
check "dpkg: $V2 installed" test "$(dpkg_status)" = "install ok installed $V2"
check "the admin's edit is kept in $CONF" grep -qx '# local edit by the admin' "$CT_ROOT$CONF"
check "$CONF.dpkg-dist holds the new packaged file" grep -q "changed in $V2" "$CT_ROOT$CONF.dpkg-dist"
check "restarted: active with a new main PID (was $pid)" wait_for 10 \
    eval 'p=$(main_pid "$SVC"); [ "$p" != 0 ] && [ "$p" != "$pid" ] && state_is "$SVC" active'
pid=$(main_pid "$SVC")
check "the new process runs the new /usr/sbin/fifo-pingd (exe: $(exe_of "$pid")) as fifo-pingd" \
    eval '[ "$(exe_of "$pid")" = /usr/sbin/fifo-pingd ] && [ "$(user_of "$pid")" = fifo-pingd ]'
check "/usr/sbin/fifo-pingd --version = fifo-pingd $V2_UP" test "$(in_ct fifo-pingd --version)" = "fifo-pingd $V2_UP"
check "still enabled, socket still not" eval '[ "$(enabled_state "$SVC")/$(enabled_state "$SOCK")" = enabled/disabled ]'
check "FIFO and link as before (got '$(fifo_perm)'), round-trip area still mounted" eval 'new_fifo_ok && reply_ok'
check "a ping after the upgrade is logged" member_ping "$SVC"
check "fifo-pingctl ping --wait after the upgrade" eval 'as_user pinger fifo-pingctl -q ping --wait'

section deb-remove "apt-get remove: service stopped, FIFO, link and mount gone, config kept"
apt_do remove fifo-pingd
check "apt-get remove fifo-pingd (rc $RC)" test "$RC" = 0
show_out
check "dpkg: config-files only" test "$(in_ct dpkg-query -W -f='${Status}' fifo-pingd 2>/dev/null)" = "deinstall ok config-files"
check "service inactive, no process" eval 'state_is "$SVC" inactive && [ "$(in_ct pgrep -c -x fifo-pingd || true)" = 0 ]'
check "FIFO gone, link $FIFO removed" eval 'fifo_absent && no_link'
check "binaries and units gone" \
    eval '! in_ct test -e /usr/sbin/fifo-pingd && ! in_ct test -e /usr/bin/fifo-pingctl && ! in_ct test -e /usr/lib/systemd/system/$SVC'
failed_before=$FAILED
check "round-trip area unmounted, /run/fifo-pingd gone" eval '! in_ct findmnt -rn "$REPLY_DIR" >/dev/null && ! in_ct test -e /run/fifo-pingd'
[ "$FAILED" = "$failed_before" ] || show_journal "$MOUNT" 10
check "not masked (debhelper 13.11: no mask on remove)" eval '! in_ct test -L /etc/systemd/system/$SVC && ! in_ct test -L /etc/systemd/system/$SOCK'
check "$CONF kept (with the edit)" grep -qx '# local edit by the admin' "$CT_ROOT$CONF"

section deb-purge "apt-get purge: config removed, nothing left but the user and group"
apt_do purge fifo-pingd
check "apt-get purge fifo-pingd (rc $RC)" test "$RC" = 0
show_out
check "dpkg: not installed" eval '! in_ct dpkg-query -W -f="\${Status}" fifo-pingd 2>/dev/null | grep -q installed'
check "/etc/fifo-pingd is gone (with .dpkg-dist)" eval '! in_ct test -e /etc/fifo-pingd'
check_clean "$BEFORE" "$BEFORE_ACCOUNTS"
TIMES[deb]=$(elapsed "$t_deb")
ct_teardown

# ================================================================= .deb from 0.1.0
t_deb0=$EPOCHREALTIME
boot_container "$DEB0" "$DEB1"
BEFORE=$(snapshot)
BEFORE_ACCOUNTS=$(accounts)

section deb-0.1 "0.1.0 as it runs today: root daemon, FIFO at $FIFO itself, an admin's edit"
apt_install "$DEB0"
check "apt-get install ./${DEB0##*/} (rc $RC)" test "$RC" = 0
show_out
check "dpkg: $V0 installed, $SVC active" eval '[ "$(dpkg_status)" = "install ok installed $V0" ] && state_is "$SVC" active'
check "0.1.0: $FIFO is the FIFO itself, prw--w---- root fifo-ping; no user fifo-pingd" \
    eval 'in_ct test -p "$FIFO" && ! in_ct test -L "$FIFO" && [ "$(fifo_perm)" = "prw--w---- root fifo-ping" ] && ! in_ct getent passwd fifo-pingd >/dev/null'
check "0.1.0: the daemon runs as root" test "$(user_of "$(main_pid "$SVC")")" = root
check "usermod -aG fifo-ping pinger" in_ct usermod -aG fifo-ping pinger
check "pinger's ping reaches the 0.1.0 daemon" member_ping "$SVC"
# The admin of 0.1.0 appends a comment and keeps the packaged `owner = "root"`.
echo '# local edit by the admin of 0.1.0' >>"$CT_ROOT$CONF"
check "the edited conffile still says owner = \"root\"" grep -qx 'owner = "root"' "$CT_ROOT$CONF"

section deb-0.1-upgrade "apt-get install ./${DEB1##*/} --force-confold over 0.1.0: restarted as fifo-pingd, new FIFO path, link"
pid=$(main_pid "$SVC")
n_notice=$(jcount "$SVC" '\[fifo\] owner = root is not applied')
apt_install "$DEB1" "${APT_CONFOLD[@]}"
check "apt-get install ./${DEB1##*/} (rc $RC)" test "$RC" = 0
show_out
check "dpkg: $V1 installed" test "$(dpkg_status)" = "install ok installed $V1"
check "the admin's file is kept (edit and owner = \"root\"), the new one is $CONF.dpkg-dist" \
    eval 'grep -qx "# local edit by the admin of 0.1.0" "$CT_ROOT$CONF" && grep -qx "owner = \"root\"" "$CT_ROOT$CONF" && cmp -s "$CT_ROOT$CONF.dpkg-dist" <(dpkg-deb --fsys-tarfile "$DEB1" | tar -xOf - ".$CONF")'
check "restarted: active with a new main PID (was $pid)" wait_for 10 \
    eval 'p=$(main_pid "$SVC"); [ "$p" != 0 ] && [ "$p" != "$pid" ] && state_is "$SVC" active'
pid=$(main_pid "$SVC")
check "the new daemon runs as fifo-pingd, not root (got $(user_of "$pid")), exe /usr/sbin/fifo-pingd" \
    eval '[ "$(user_of "$pid")" = fifo-pingd ] && [ "$(exe_of "$pid")" = /usr/sbin/fifo-pingd ]'
check "the FIFO is $REAL_FIFO, prw--w---- fifo-pingd fifo-ping (got '$(in_ct stat -c '%A %U %G' "$REAL_FIFO" 2>&1)')" \
    eval 'in_ct test -p "$REAL_FIFO" && [ "$(in_ct stat -c "%A %U %G" "$REAL_FIFO")" = "prw--w---- fifo-pingd fifo-ping" ]'
check "$FIFO is now the link to fifo-pingd/default/fifo (got '$(in_ct stat -c %F "$FIFO" 2>&1)')" eval 'in_ct test -L "$FIFO" && new_fifo_ok'
check "round-trip area: its own tmpfs, drwx-ws--T fifo-pingd fifo-ping (got '$(reply_perm)')" reply_ok
check "journal: '[fifo] owner = root is not applied' (the kept 0.1 line, ignored by design)" \
    wait_for 5 jgrew "$SVC" '\[fifo\] owner = root is not applied' "$n_notice"
check "still enabled, not masked; socket disabled" \
    eval '[ "$(enabled_state "$SVC")/$(enabled_state "$SOCK")" = enabled/disabled ]'
check "pinger: echo ping > $FIFO is logged" member_ping "$SVC"
pingctl pinger ping --wait
check "pinger: fifo-pingctl ping --wait gets the pong (rc $RC: $OUT)" eval '[ "$RC" = 0 ] && [[ $OUT == "pong from fifo-pingd in "* ]]'
check "nothing left in $REPLY_DIR" test -z "$(in_ct ls -A "$REPLY_DIR" 2>&1)"
apt_do purge fifo-pingd
check "apt-get purge fifo-pingd (rc $RC)" test "$RC" = 0
show_out
check_clean "$BEFORE" "$BEFORE_ACCOUNTS"

section deb-0.1-mask "0.1.0's postrm masked on remove: installing $V1 over config-files undoes it"
apt_install "$DEB0"
check "apt-get install ./${DEB0##*/} (rc $RC)" test "$RC" = 0
apt_do remove fifo-pingd
check "apt-get remove (0.1.0): $SVC and $SOCK masked (-> /dev/null)" \
    eval '[ "$RC" = 0 ] && [ "$(in_ct readlink /etc/systemd/system/$SVC)" = /dev/null ] && [ "$(in_ct readlink /etc/systemd/system/$SOCK)" = /dev/null ]'
apt_install "$DEB1" "${APT_CONFOLD[@]}"
check "apt-get install ./${DEB1##*/} (rc $RC)" test "$RC" = 0
show_out
check "unmasked, enabled and active, running as fifo-pingd" \
    eval '! in_ct test -L /etc/systemd/system/$SVC && [ "$(enabled_state "$SVC")" = enabled ] && state_is "$SVC" active && [ "$(user_of "$(main_pid "$SVC")")" = fifo-pingd ]'
check "$SOCK unmasked too (disabled)" eval '! in_ct test -L /etc/systemd/system/$SOCK && [ "$(enabled_state "$SOCK")" = disabled ]'
check "FIFO and link (got '$(fifo_perm)'), a ping arrives" eval 'new_fifo_ok && member_ping "$SVC"'
apt_do purge fifo-pingd
check "apt-get purge fifo-pingd (rc $RC)" test "$RC" = 0
show_out

section deb-0.1-socket "0.1.0 in socket mode, upgraded: the socket listens at the new path"
failed_before=$FAILED
apt_install "$DEB0"
check "apt-get install ./${DEB0##*/} (rc $RC)" test "$RC" = 0
check "0.1.0: systemctl disable --now $SVC; systemctl enable --now $SOCK" \
    eval 'in_ct systemctl disable --quiet --now "$SVC" && in_ct systemctl enable --quiet --now "$SOCK"'
check "0.1.0: $FIFO is the socket's FIFO; a ping starts $SOCK_SVC" \
    eval 'in_ct test -p "$FIFO" && member_ping "$SOCK_SVC" && state_is "$SOCK_SVC" active'
apt_install "$DEB1" "${APT_CONFOLD[@]}"
check "apt-get install ./${DEB1##*/} (rc $RC)" test "$RC" = 0
show_out
check "$SOCK still enabled and active, $SVC still disabled and inactive" \
    eval '[ "$(enabled_state "$SOCK")/$(enabled_state "$SVC")" = enabled/disabled ] && state_is "$SOCK" active && state_is "$SVC" inactive'
check "$SOCK listens on $REAL_FIFO (got '$(prop "$SOCK" Listen)')" test "$(prop "$SOCK" Listen)" = "$REAL_FIFO (FIFO)"
check "$FIFO is the link, the FIFO prw--w---- fifo-pingd fifo-ping (got '$(fifo_perm)')" eval 'in_ct test -L "$FIFO" && new_fifo_ok'
check "round-trip area mounted, drwx-ws--T fifo-pingd fifo-ping (got '$(reply_perm)')" reply_ok
in_ct systemctl stop "$SOCK_SVC" 2>/dev/null || true
check "pinger: echo ping > $FIFO starts $SOCK_SVC, logged" eval 'member_ping "$SOCK_SVC" && state_is "$SOCK_SVC" active'
check "$SOCK_SVC runs as fifo-pingd (got $(user_of "$(main_pid "$SOCK_SVC")"))" test "$(user_of "$(main_pid "$SOCK_SVC")")" = fifo-pingd
pingctl pinger ping --wait
check "pinger: fifo-pingctl ping --wait gets the pong (rc $RC: $OUT)" test "$RC" = 0
[ "$FAILED" = "$failed_before" ] || { echo "    journal of $SOCK and $SOCK_SVC:"; in_ct journalctl --no-pager -o short-monotonic -n 40 -u "$SOCK" -u "$SOCK_SVC" | grep -v 'Failed to kill control group' | sed 's/^/    /'; }
apt_do purge fifo-pingd
check "apt-get purge fifo-pingd (rc $RC)" test "$RC" = 0
show_out
check "stopped, FIFO and link gone" eval 'state_is "$SOCK" inactive && state_is "$SOCK_SVC" inactive && fifo_absent && no_link'
check_clean "$BEFORE" "$BEFORE_ACCOUNTS"
TIMES[deb-0.1]=$(elapsed "$t_deb0")
ct_teardown

# ================================================================= .deb in a chroot
# An image build or a chroot: the rootfs is not booted, no systemd runs (no
# /run/systemd/system), dpkg runs the maintainer scripts inside the chroot. /proc is
# mounted (as debootstrap and mmdebstrap do) in a private mount namespace, gone with it.
# systemctl and deb-systemd-invoke are wrapped to log every call.
t_chroot=$EPOCHREALTIME
CT_DIR='' CT_ROOT='' LEADER='' NSPAWN_PID=''
t=$EPOCHREALTIME
ct_rootfs
add_time image "$t"
mkdir -p "$CT_ROOT/var/tmp/packages"
cp "$DEB1" "$CT_ROOT/var/tmp/packages/"
for tool in systemctl:/usr/bin/systemctl deb-systemd-invoke:/usr/bin/deb-systemd-invoke; do
    printf '#!/bin/sh\necho "%s $*" >>/var/tmp/calls.log\nexec %s "$@"\n' "${tool%%:*}" "${tool#*:}" \
        >"$CT_ROOT/usr/local/sbin/${tool%%:*}"
    chmod 755 "$CT_ROOT/usr/local/sbin/${tool%%:*}"
done
: >"$CT_ROOT/var/tmp/calls.log"
in_root() {
    # shellcheck disable=SC2016 # $1 is the inner shell's
    unshare --mount --propagation private sh -c 'mount -t proc proc "$1/proc" && shift && exec chroot "$@"' \
        sh "$CT_ROOT" "$CT_ROOT" env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        DEBIAN_FRONTEND=noninteractive "$@"
}
calls() { grep -v '^systemctl --root=/ --system --preset-mode=enable-only preset ' "$CT_ROOT/var/tmp/calls.log" | tr '\n' ';' || true; }

section deb-chroot "dpkg -i in a chroot without a running systemd: user, group, /run entries; nothing started"
check "no systemd runs here: no $CT_ROOT/run/systemd/system" test ! -e "$CT_ROOT/run/systemd/system"
OUT=$(in_root dpkg -i "/var/tmp/packages/${DEB1##*/}" 2>&1) && RC=0 || RC=$?
check "dpkg -i ${DEB1##*/} in the chroot (rc $RC): the postinst does not fail" test "$RC" = 0
show_out
check "dpkg: $V1 installed" test "$(in_root dpkg-query -W -f='${Status} ${Version}' fifo-pingd 2>/dev/null)" = "install ok installed $V1"
check "sysusers made the user fifo-pingd and the group fifo-ping in the chroot" \
    eval 'in_root getent passwd fifo-pingd >/dev/null && in_root getent group fifo-ping >/dev/null'
check "tmpfiles made /run/fifo-pingd (drwxr-xr-x root root), got '$(in_root stat -c '%A %U %G' /run/fifo-pingd 2>&1)'" \
    test "$(in_root stat -c '%A %U %G' /run/fifo-pingd 2>&1)" = "drwxr-xr-x root root"
check "... $REPLY_DIR, a plain directory here: drwx-ws--T fifo-pingd fifo-ping (got '$(in_root stat -c '%A %U %G' "$REPLY_DIR" 2>&1)')" \
    test "$(in_root stat -c '%A %U %G' "$REPLY_DIR" 2>&1)" = "drwx-ws--T fifo-pingd fifo-ping"
check "... and the link $FIFO -> fifo-pingd/default/fifo" test "$(readlink "$CT_ROOT$FIFO")" = fifo-pingd/default/fifo
check "$SVC enabled offline (the multi-user.target.wants link, Debian policy)" \
    eval 'in_root test -L "/etc/systemd/system/multi-user.target.wants/$SVC" && in_root test -f "/etc/systemd/system/multi-user.target.wants/$SVC"'
check "the wrappers saw deb-systemd-helper's offline 'systemctl --root=/ ... preset $SVC'" \
    grep -qx "systemctl --root=/ --system --preset-mode=enable-only preset $SVC" "$CT_ROOT/var/tmp/calls.log"
check "no unit started, stopped or reloaded: no systemctl call but the offline preset, no deb-systemd-invoke (other calls: $(calls))" \
    test -z "$(calls)"
OUT=$(in_root dpkg -P fifo-pingd 2>&1) && RC=0 || RC=$?
check "dpkg -P fifo-pingd in the chroot (rc $RC)" test "$RC" = 0
show_out
left=$(find "$CT_ROOT" \( -path "$CT_ROOT/proc" -o -path "$CT_ROOT/var/tmp/packages" \) -prune -o -print |
    sed "s|^$CT_ROOT||" | grep -E '[^/]*fifo(-|\\x2d)ping[^/]*$' || true)
check "nothing named *fifo-ping* left in the chroot (found: ${left:-none}), user and group kept" \
    eval '[ -z "$left" ] && in_root getent passwd fifo-pingd >/dev/null && in_root getent group fifo-ping >/dev/null'
check "still no unit started or stopped (other calls: $(calls))" test -z "$(calls)"
TIMES[chroot]=$(elapsed "$t_chroot")
ct_teardown

# ================================================================= .rpm
t_rpm=$EPOCHREALTIME
# Debian's rpm, run inside the container so the scriptlets reach its systemd:
#   --nodeps        Debian's rpm database is empty: glibc, /bin/sh and systemd are
#                   installed by dpkg, so every Requires (libc.so.6(GLIBC_2.34)(64bit),
#                   libgcc_s.so.1, /bin/sh, systemd, rtld(GNU_HASH)) would count as missing
#   --force-debian  Debian's rpm refuses to install into a dpkg-managed system without it
#   (no --noscripts: %post, %preun, %postun and %posttrans run for real)
RPM=(rpm --nodeps --force-debian)
# What the scriptlets print besides errors: systemd-sysusers saying it made the user
# fifo-pingd (with its group) and the group fifo-ping.
quiet_rpm() {
    grep -vE "^Creating (group '?fifo-pingd?'? with GID [0-9]+|user '?fifo-pingd'? \(fifo-pingd daemon\) with UID [0-9]+ and GID [0-9]+)\.?$" <<<"$1" || true
}
# rpm_boot FILES...: a fresh container prepared for rpm.
rpm_boot() {
    boot_container "$@"
    # Fedora's preset policy (fedora-release ships /usr/lib/systemd/system-preset/
    # 99-default-disable.preset with "disable *"); Debian has none, so without this the
    # rpm's `systemctl preset` would enable the service as Debian's enable-all default does.
    in_ct sh -c 'mkdir -p /etc/systemd/system-preset && echo "disable *" >/etc/systemd/system-preset/99-default-disable.preset'
    # Directories that Fedora's `filesystem` package owns, so an rpm never creates or
    # removes them; Debian has no /usr/share/licenses, and the image has no man page directories.
    in_ct mkdir -p /usr/share/licenses /usr/share/man/man1 /usr/share/man/man5 /usr/share/man/man8
}
rpm_do() { OUT=$(in_ct "${RPM[@]}" "$@" 2>&1) && RC=0 || RC=$?; }
rpm_boot "$RPM1" "$RPM2"
R1=/var/tmp/packages/${RPM1##*/}
R2=/var/tmp/packages/${RPM2##*/}
BEFORE=$(snapshot)
BEFORE_ACCOUNTS=$(accounts)

section rpm-install "${RPM[*]} -i ${RPM1##*/}: installed, not enabled, not started"
rpm_do -i "$R1"
out=$(quiet_rpm "$OUT")
check "rpm -i (rc $RC, other output: ${out:-none})" test "$RC/$out" = "0/"
check "rpm -q fifo-pingd = fifo-pingd-$V1_UP-1" test "$(in_ct rpm -q fifo-pingd 2>/dev/null)" = "fifo-pingd-$V1_UP-1.x86_64"
# --nodeps: verify the files only (the dependencies are unknown to this rpm database, see above).
out=$(in_ct rpm -V --nodeps fifo-pingd 2>&1) && rc=0 || rc=$?
check "rpm -V --nodeps fifo-pingd: files as packaged (rc $rc, output: ${out:-none})" test "$rc/$out" = "0/"
check "%post created the user fifo-pingd and the group fifo-ping" \
    eval 'in_ct getent passwd fifo-pingd >/dev/null && in_ct getent group fifo-ping >/dev/null'
check "$SVC is disabled (preset) and not running" eval '[ "$(enabled_state "$SVC")" = disabled ] && state_is "$SVC" inactive'
check "$SOCK is disabled and not running" eval '[ "$(enabled_state "$SOCK")" = disabled ] && state_is "$SOCK" inactive'
check "no FIFO yet, $FIFO is the (dangling) link" eval 'fifo_absent && link_ok'
check "systemd sees the units (LoadState=loaded)" eval '[ "$(prop "$SVC" LoadState)/$(prop "$MOUNT" LoadState)" = loaded/loaded ]'
check "%post mounted $REPLY_DIR: drwx-ws--T fifo-pingd fifo-ping (got '$(reply_perm)')" reply_ok

section rpm-story "systemctl start, ping, stop"
check "usermod -aG fifo-ping pinger" in_ct usermod -aG fifo-ping pinger
check "systemctl start $SVC" in_ct systemctl start "$SVC"
check "active, FIFO prw--w---- fifo-pingd fifo-ping (got '$(fifo_perm)'), daemon as fifo-pingd" \
    eval 'state_is "$SVC" active && new_fifo_ok && [ "$(user_of "$(main_pid "$SVC")")" = fifo-pingd ]'
check "pinger: echo ping > $FIFO, journalctl -u fifo-pingd: received ping" member_ping "$SVC"
pingctl pinger ping --wait
check "pinger: fifo-pingctl ping --wait gets the pong (rc $RC: $OUT)" test "$RC" = 0
check "systemctl stop $SVC" in_ct systemctl stop "$SVC"
check "inactive, FIFO gone, $FIFO dangles" eval 'state_is "$SVC" inactive && fifo_absent && link_ok'

section rpm-erase "rpm -e: nothing left but the user and group"
check "systemctl start $SVC (erase must stop it)" in_ct systemctl start "$SVC"
rpm_do -e fifo-pingd
out=$(quiet_rpm "$OUT")
check "rpm -e fifo-pingd (rc $RC, output: ${out:-none})" test "$RC/$out" = "0/"
check "%preun stopped the service, FIFO and link gone" \
    eval 'state_is "$SVC" inactive && fifo_absent && no_link && [ "$(in_ct pgrep -c -x fifo-pingd || true)" = 0 ]'
check "rpm -q: not installed" eval '! in_ct rpm -q fifo-pingd >/dev/null 2>&1'
check_clean "$BEFORE" "$BEFORE_ACCOUNTS"

section rpm-upgrade "edit the config, rpm -U to $V2: .rpmnew, restarted on the new binary; erase keeps .rpmsave"
check "rpm -i ${RPM1##*/}" in_ct "${RPM[@]}" -i "$R1"
echo '# local edit by the admin' >>"$CT_ROOT$CONF"
check "systemctl start $SVC" in_ct systemctl start "$SVC"
pid=$(main_pid "$SVC")
rpm_do -U "$R2"
check "rpm -U ${RPM2##*/} (rc $RC): 'warning: $CONF created as $CONF.rpmnew'" \
    eval '[ "$RC" = 0 ] && grep -qF "$CONF created as $CONF.rpmnew" <<<"$OUT"'
check "rpm -q fifo-pingd = fifo-pingd-$V2_UP-1" test "$(in_ct rpm -q fifo-pingd 2>/dev/null)" = "fifo-pingd-$V2_UP-1.x86_64"
check "the admin's edit is kept, $CONF.rpmnew holds the new file" \
    eval 'grep -qx "# local edit by the admin" "$CT_ROOT$CONF" && grep -q "changed in $V2" "$CT_ROOT$CONF.rpmnew"'
check "%postun restarted it: new main PID (was $pid), active" wait_for 10 \
    eval 'p=$(main_pid "$SVC"); [ "$p" != 0 ] && [ "$p" != "$pid" ] && state_is "$SVC" active'
check "the new process runs the new /usr/sbin/fifo-pingd" test "$(exe_of "$(main_pid "$SVC")")" = /usr/sbin/fifo-pingd
check "/usr/sbin/fifo-pingd --version = fifo-pingd $V2_UP" test "$(in_ct fifo-pingd --version)" = "fifo-pingd $V2_UP"
check "still disabled (an upgrade does not apply presets)" test "$(enabled_state "$SVC")" = disabled
check "FIFO and link (got '$(fifo_perm)'), round-trip area mounted, a ping arrives" eval 'new_fifo_ok && reply_ok && member_ping "$SVC"'
rpm_do -e fifo-pingd
check "rpm -e (rc $RC): 'warning: $CONF saved as $CONF.rpmsave'" \
    eval '[ "$RC" = 0 ] && grep -qF "$CONF saved as $CONF.rpmsave" <<<"$OUT"'
check "stopped, FIFO and link gone" eval 'state_is "$SVC" inactive && fifo_absent && no_link'
left=$(in_ct ls -A /etc/fifo-pingd 2>/dev/null | tr '\n' ' ')
check "only the admin's files are left in /etc/fifo-pingd (rpm convention): $left" \
    test "$left" = "fifo-pingd.toml.rpmnew fifo-pingd.toml.rpmsave "
in_ct rm -rf /etc/fifo-pingd

section rpm-nodocs "rpm -i --excludedocs (tsflags=nodocs, as in container images): the licence texts stay"
rpm_do -i --excludedocs "$R1"
out=$(quiet_rpm "$OUT")
check "rpm -i --excludedocs (rc $RC, other output: ${out:-none})" test "$RC/$out" = "0/"
check "/usr/share/licenses/fifo-pingd/LICENSE-MIT and LICENSE-APACHE installed (got: $(in_ct ls /usr/share/licenses/fifo-pingd 2>&1 | tr '\n' ' '))" \
    eval 'grep -qx "MIT License" "$CT_ROOT/usr/share/licenses/fifo-pingd/LICENSE-MIT" && grep -q "Apache License" "$CT_ROOT/usr/share/licenses/fifo-pingd/LICENSE-APACHE"'
check "the documentation is left out: no README.md, no man pages" \
    eval '! in_ct test -e /usr/share/doc/fifo-pingd/README.md && ! in_ct test -e /usr/share/man/man8/fifo-pingd.8.gz'
out=$(in_ct rpm -V --nodeps fifo-pingd 2>&1) && rc=0 || rc=$?
check "rpm -V --nodeps: the installed files as packaged (rc $rc, output: ${out:-none})" test "$rc/$out" = "0/"
rpm_do -e fifo-pingd
out=$(quiet_rpm "$OUT")
check "rpm -e fifo-pingd (rc $RC, output: ${out:-none})" test "$RC/$out" = "0/"
check_clean "$BEFORE" "$BEFORE_ACCOUNTS"
TIMES[rpm]=$(elapsed "$t_rpm")
ct_teardown

# ================================================================= .rpm from 0.1.0
t_rpm0=$EPOCHREALTIME
rpm_boot "$RPM0" "$RPM1"
R0=/var/tmp/packages/${RPM0##*/}
BEFORE=$(snapshot)
BEFORE_ACCOUNTS=$(accounts)

section rpm-0.1 "0.1.0 started by the admin (root daemon, FIFO at $FIFO itself), config edited"
rpm_do -i "$R0"
out=$(quiet_rpm "$OUT")
check "rpm -i ${RPM0##*/} (rc $RC, other output: ${out:-none})" test "$RC/$out" = "0/"
check "usermod -aG fifo-ping pinger; systemctl start $SVC" eval 'in_ct usermod -aG fifo-ping pinger && in_ct systemctl start "$SVC"'
check "0.1.0: $FIFO is the FIFO itself, prw--w---- root fifo-ping, the daemon root" \
    eval 'in_ct test -p "$FIFO" && ! in_ct test -L "$FIFO" && [ "$(fifo_perm)" = "prw--w---- root fifo-ping" ] && [ "$(user_of "$(main_pid "$SVC")")" = root ]'
check "pinger's ping reaches the 0.1.0 daemon" member_ping "$SVC"
echo '# local edit by the admin of 0.1.0' >>"$CT_ROOT$CONF"

section rpm-0.1-upgrade "rpm -U ${RPM1##*/} over 0.1.0: restarted as fifo-pingd, new FIFO path, link"
pid=$(main_pid "$SVC")
n_notice=$(jcount "$SVC" '\[fifo\] owner = root is not applied')
rpm_do -U "$R1"
out=$(quiet_rpm "$OUT" | grep -vxF "warning: $CONF created as $CONF.rpmnew" || true)
check "rpm -U (rc $RC): '$CONF created as $CONF.rpmnew', nothing else (other output: ${out:-none})" \
    eval '[ "$RC/$out" = "0/" ] && grep -qF "$CONF created as $CONF.rpmnew" <<<"$OUT"'
check "rpm -q fifo-pingd = fifo-pingd-$V1_UP-1" test "$(in_ct rpm -q fifo-pingd 2>/dev/null)" = "fifo-pingd-$V1_UP-1.x86_64"
check "the admin's file kept (edit, owner = \"root\")" \
    eval 'grep -qx "# local edit by the admin of 0.1.0" "$CT_ROOT$CONF" && grep -qx "owner = \"root\"" "$CT_ROOT$CONF"'
check "restarted (0.1.0's %postun): new main PID (was $pid), active" wait_for 10 \
    eval 'p=$(main_pid "$SVC"); [ "$p" != 0 ] && [ "$p" != "$pid" ] && state_is "$SVC" active'
pid=$(main_pid "$SVC")
check "the new daemon runs as fifo-pingd, not root (got $(user_of "$pid"))" test "$(user_of "$pid")" = fifo-pingd
check "$FIFO is now the link (%posttrans), to a FIFO prw--w---- fifo-pingd fifo-ping (got '$(fifo_perm)')" \
    eval 'in_ct test -L "$FIFO" && in_ct test -p "$REAL_FIFO" && new_fifo_ok'
check "round-trip area: its own tmpfs, drwx-ws--T fifo-pingd fifo-ping (got '$(reply_perm)')" reply_ok
check "journal: '[fifo] owner = root is not applied'" wait_for 5 jgrew "$SVC" '\[fifo\] owner = root is not applied' "$n_notice"
check "still disabled (Fedora policy kept), socket too" eval '[ "$(enabled_state "$SVC")/$(enabled_state "$SOCK")" = disabled/disabled ]'
check "pinger: echo ping > $FIFO is logged" member_ping "$SVC"
pingctl pinger ping --wait
check "pinger: fifo-pingctl ping --wait gets the pong (rc $RC: $OUT)" test "$RC" = 0
rpm_do -e fifo-pingd
check "rpm -e fifo-pingd (rc $RC)" test "$RC" = 0
check "stopped, FIFO and link gone" eval 'state_is "$SVC" inactive && fifo_absent && no_link'
in_ct rm -rf /etc/fifo-pingd

section rpm-0.1-socket "0.1.0 in socket mode, rpm -U: the socket listens at the new path"
failed_before=$FAILED
rpm_do -i "$R0"
check "rpm -i ${RPM0##*/} (rc $RC)" test "$RC" = 0
check "0.1.0: systemctl enable --now $SOCK; a ping starts $SOCK_SVC" \
    eval 'in_ct systemctl enable --quiet --now "$SOCK" && in_ct test -p "$FIFO" && member_ping "$SOCK_SVC"'
rpm_do -U "$R1"
out=$(quiet_rpm "$OUT")
check "rpm -U ${RPM1##*/} (rc $RC, other output: ${out:-none})" test "$RC/$out" = "0/"
check "$SOCK still enabled and active" eval '[ "$(enabled_state "$SOCK")" = enabled ] && state_is "$SOCK" active'
check "$SOCK listens on $REAL_FIFO (got '$(prop "$SOCK" Listen)')" test "$(prop "$SOCK" Listen)" = "$REAL_FIFO (FIFO)"
check "$FIFO is the link, the FIFO prw--w---- fifo-pingd fifo-ping (got '$(fifo_perm)')" eval 'in_ct test -L "$FIFO" && new_fifo_ok'
in_ct systemctl stop "$SOCK_SVC" 2>/dev/null || true
check "pinger: echo ping > $FIFO starts $SOCK_SVC as fifo-pingd, logged" \
    eval 'member_ping "$SOCK_SVC" && [ "$(user_of "$(main_pid "$SOCK_SVC")")" = fifo-pingd ]'
pingctl pinger ping --wait
check "pinger: fifo-pingctl ping --wait gets the pong (rc $RC: $OUT)" test "$RC" = 0
[ "$FAILED" = "$failed_before" ] || { echo "    journal of $SOCK and $SOCK_SVC:"; in_ct journalctl --no-pager -o short-monotonic -n 40 -u "$SOCK" -u "$SOCK_SVC" | grep -v 'Failed to kill control group' | sed 's/^/    /'; }
rpm_do -e fifo-pingd
out=$(quiet_rpm "$OUT")
check "rpm -e fifo-pingd (rc $RC, output: ${out:-none})" test "$RC/$out" = "0/"
check "socket stopped, FIFO and link gone" eval 'state_is "$SOCK" inactive && fifo_absent && no_link'
check_clean "$BEFORE" "$BEFORE_ACCOUNTS"
TIMES[rpm-0.1]=$(elapsed "$t_rpm0")
