#!/usr/bin/env bash
# Life-cycle test of the fifo-pingd .deb and .rpm under a real systemd 252: PID 1 of a
# systemd-nspawn container running Debian 12 (the harness in tests/e2e/container.sh).
#
#   .deb: apt-get install ./fifo-pingd_V1.deb -> enabled + started (Debian policy) -> user
#         story (echo ping as a member of fifo-ping, journal, stop, FIFO gone) -> edit the
#         conffile -> apt-get install ./fifo-pingd_V2.deb (a rebuild with a bumped version
#         and a changed packaged config): edit kept, .dpkg-dist written, daemon restarted on
#         the new binary -> remove (stopped, FIFO gone, config kept) -> purge (nothing left).
#   .rpm: in a fresh container with Fedora's preset policy, Debian's rpm installs the
#         package and runs its scriptlets for real against the container's systemd:
#         installed, not enabled, not started (Fedora policy) -> systemctl start, ping,
#         stop -> erase -> nothing left; then install V1, edit, start, rpm -U V2 (.rpmnew,
#         restarted on the new binary), erase (.rpmsave).
#
# Usage (as root):  tests/e2e/packages.sh
# Prints PASS/FAIL lines and a final "N passed, N failed"; exits non-zero on any failure,
# including a host where the container cannot boot. Containers are always torn down.
#
# Environment:
#   E2E_PKG_DIR=DIR     use DIR/fifo-pingd_*.deb and DIR/fifo-pingd-*.rpm instead of running
#                       packaging/build.sh (the bumped V2 packages are always rebuilt)
#   E2E_CACHE_DIR=DIR   as for run.sh; this test keeps its own image (the base image plus
#                       rpm and man-db) in DIR/packages (default /var/cache/fifo-pingd-e2e)
#   E2E_KEEP=1          keep the unpacked rootfs of the last container
#
# Needs what run.sh needs (root, systemd-container, debootstrap, zstd: installed if
# missing) and what packaging/build.sh installs. The first run builds the image (~2 min)
# and installs the packaging tools; later runs take about a minute.

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

# ---------------------------------------------------------------- helpers (shared with run.sh)
# shellcheck source=tests/e2e/checks.sh
. "$HERE/checks.sh"
enabled_state() { in_ct systemctl is-enabled "$1" 2>/dev/null || true; }
reply_perm() { in_ct stat -c '%A %U %G' /run/fifo-pingd/reply 2>/dev/null || echo absent; }
# The binary the main process runs; " (deleted)" when it was replaced underneath it.
exe_of() { in_ct readlink "/proc/$1/exe" 2>/dev/null || echo "?"; }

# Every path in the container's file systems (including the tmpfs /run), minus what
# changes by itself (journal, systemd and package-manager state, logs, caches) and the
# copied package files. Compared before installation and after purge/erase.
snapshot() {
    in_ct sh -c 'find / \( -path /proc -o -path /sys -o -path /dev -o -path /tmp \
        -o -path /var/log -o -path /var/cache -o -path /var/lib/apt -o -path /run/systemd \
        -o -path /run/log -o -path /run/user -o -path /run/udev -o -path /run/mount \
        -o -path /root/.rpmdb -o -path /var/tmp/packages \) -prune -o -print' 2>/dev/null |
        grep -vxE '/var/lib/dpkg/(status|status-old|available|lock|lock-frontend|triggers/.*|diversions-old|statoverride-old)|/var/lib/systemd/(random-seed|catalog/database|timers/.*)|/etc/(group|gshadow|passwd|shadow|subuid|subgid)-|/etc/ld\.so\.cache|/run/(utmp|dbus/.*|nologin|agetty\.reload|.*\.lock|lock/.*)' |
        sort
}
# Paths anywhere (except /proc and /sys) whose name contains fifo-ping.
named_paths() {
    in_ct sh -c 'find / \( -path /proc -o -path /sys -o -path /var/tmp/packages -o -path /root/.rpmdb \) -prune \
        -o -name "*fifo-ping*" -print' 2>/dev/null | sort || true
}
show_journal() { in_ct journalctl --no-pager -o short-monotonic -n "${2:-30}" -u "$1" 2>/dev/null | sed 's/^/    /' || true; }

boot_container() {
    CT_DIR='' CT_ROOT='' LEADER='' NSPAWN_PID=''
    local t=$EPOCHREALTIME
    ct_rootfs
    TIMES[image]=$(awk -v a="${TIMES[image]:-0}" -v b="$(elapsed "$t")" 'BEGIN { printf "%.2f", a + b }')
    t=$EPOCHREALTIME
    ct_boot
    TIMES[boot]=$(awk -v a="${TIMES[boot]:-0}" -v b="$(elapsed "$t")" 'BEGIN { printf "%.2f", a + b }')
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
        in_ct journalctl --no-pager -o short-monotonic -n 80 -u "$SVC" -u "$SOCK" -u "$SOCK_SVC" 2>/dev/null | sed 's/^/    /'
    fi
    ct_teardown
    [ -z "$WORK" ] || rm -rf --one-file-system "$WORK"
    echo
    echo "=== summary"
    local k
    for k in tools packages image boot deb rpm; do
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
CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target/packaging/cargo} "$WORK/src/packaging/build.sh" --quick --no-lint \
    --out "$WORK/v2" >"$WORK/build-v2.log" 2>&1 ||
    { tail -30 "$WORK/build-v2.log"; ct_die "packaging/build.sh for $V2 failed"; }
DEB2=$(ls "$WORK/v2"/fifo-pingd_*.deb)
RPM2=$(ls "$WORK/v2"/fifo-pingd-*.rpm)
TIMES[packages]=$(elapsed "$t")
echo "packages: ${DEB1##*/} ${RPM1##*/} ${DEB2##*/} ${RPM2##*/}"

# ================================================================= .deb
t_deb=$EPOCHREALTIME
boot_container "$DEB1" "$DEB2"
APT=(env DEBIAN_FRONTEND=noninteractive apt-get -q -y)
BEFORE=$(snapshot)

section deb-install "apt-get install ./${DEB1##*/}: group created, service enabled and started"
out=$(in_ct sh -c "cd /var/tmp/packages && ${APT[*]} install ./${DEB1##*/}" 2>&1) && rc=0 || rc=$?
check "apt-get install ./${DEB1##*/} (rc $rc)" test "$rc" = 0
[ "$rc" = 0 ] || sed 's/^/    /' <<<"$out"
check "dpkg: $V1 installed" test "$(in_ct dpkg-query -W -f='${Status} ${Version}' fifo-pingd 2>/dev/null)" = "install ok installed $V1"
check "group fifo-ping exists (systemd-sysusers)" eval 'in_ct getent group fifo-ping >/dev/null'
check "$SVC is enabled" test "$(enabled_state "$SVC")" = enabled
check "$SVC is active" state_is "$SVC" active
check "$SOCK is not enabled (opt-in) and inactive" eval '[ "$(enabled_state "$SOCK")" = disabled ] && state_is "$SOCK" inactive'
check "FIFO is prw--w---- root fifo-ping (got '$(fifo_perm)')" test "$(fifo_perm)" = "prw--w---- root fifo-ping"
check "conffile registered: $CONF" eval 'in_ct dpkg-query -W -f="\${Conffiles}" fifo-pingd | grep -q "^ $CONF [0-9a-f]\{32\}$"'
check "man -w fifo-pingd fifo-pingd.toml finds both pages" \
    eval '[ "$(in_ct man -w fifo-pingd.8 fifo-pingd.toml.5 2>/dev/null | wc -l)" = 2 ]'
for unit in "$SVC" "$SOCK" "$SOCK_SVC"; do
    out=$(in_ct systemd-analyze verify "/usr/lib/systemd/system/$unit" 2>&1) && rc=0 || rc=$?
    check "systemd-analyze verify $unit (man pages checked too): no output" test "$rc/$out" = "0/"
    [ -z "$out" ] || sed 's/^/    /' <<<"$out"
done
check "/usr/sbin/fifo-pingd --version = fifo-pingd $V1_UP" test "$(in_ct fifo-pingd --version)" = "fifo-pingd $V1_UP"
check "man -w fifo-pingctl finds fifo-pingctl(1)" eval 'in_ct man -w fifo-pingctl.1 >/dev/null 2>&1'
check "reply directory /run/fifo-pingd/reply is drwx-ws--T root fifo-ping (got '$(reply_perm)')" \
    test "$(reply_perm)" = "drwx-ws--T root fifo-ping"

section deb-story "the user story: a member of fifo-ping pings, journal, stop"
check "usermod -aG fifo-ping pinger" in_ct usermod -aG fifo-ping pinger
n=$(jcount "$SVC" '^received ping$')
check "pinger: echo ping > $FIFO" write_fifo pinger ping
check "journalctl -u fifo-pingd: received ping" wait_for 10 jgrew "$SVC" '^received ping$' "$n"
out=$(write_fifo outsider ping 2>&1) && rc=0 || rc=$?
check "outsider: Permission denied" eval '[ "$rc" != 0 ] && grep -q "Permission denied" <<<"$out"'
out=$(as_user pinger fifo-pingctl ping --wait 2>&1) && rc=0 || rc=$?
check "pinger: fifo-pingctl ping --wait gets the pong (rc $rc: $out)" test "$rc" = 0
check "systemctl stop $SVC" in_ct systemctl stop "$SVC"
check "inactive, FIFO gone" eval 'state_is "$SVC" inactive && fifo_absent'
out=$(as_user pinger fifo-pingctl ping 2>&1) && rc=0 || rc=$?
check "stopped: fifo-pingctl ping exits 69 at once (rc $rc: $out)" test "$rc" = 69
check "systemctl start $SVC (for the upgrade)" in_ct systemctl start "$SVC"

section deb-upgrade "edit the conffile, upgrade to $V2: edit kept, .dpkg-dist, restarted on the new binary"
echo '# local edit by the admin' >>"$CT_ROOT$CONF"
pid=$(main_pid "$SVC")
# Unattended upgrade: dpkg would ask about the changed conffile; --force-confold keeps
# the admin's file (and --force-confdef takes the default where there is one).
out=$(in_ct sh -c "cd /var/tmp/packages && ${APT[*]} -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold install ./${DEB2##*/}" 2>&1) && rc=0 || rc=$?
check "apt-get install ./${DEB2##*/} (rc $rc)" test "$rc" = 0
[ "$rc" = 0 ] || sed 's/^/    /' <<<"$out"
check "dpkg: $V2 installed" test "$(in_ct dpkg-query -W -f='${Status} ${Version}' fifo-pingd 2>/dev/null)" = "install ok installed $V2"
check "the admin's edit is kept in $CONF" grep -qx '# local edit by the admin' "$CT_ROOT$CONF"
check "$CONF.dpkg-dist holds the new packaged file" grep -q "changed in $V2" "$CT_ROOT$CONF.dpkg-dist"
check "restarted: active with a new main PID (was $pid)" wait_for 10 \
    eval 'p=$(main_pid "$SVC"); [ "$p" != 0 ] && [ "$p" != "$pid" ] && state_is "$SVC" active'
pid=$(main_pid "$SVC")
check "the new process runs the new /usr/sbin/fifo-pingd (exe: $(exe_of "$pid"))" test "$(exe_of "$pid")" = /usr/sbin/fifo-pingd
check "/usr/sbin/fifo-pingd --version = fifo-pingd $V2_UP" test "$(in_ct fifo-pingd --version)" = "fifo-pingd $V2_UP"
check "still enabled, socket still not" eval '[ "$(enabled_state "$SVC")/$(enabled_state "$SOCK")" = enabled/disabled ]'
n=$(jcount "$SVC" '^received ping$')
check "a ping after the upgrade is logged" eval 'write_fifo pinger ping && wait_for 10 jgrew "$SVC" "^received ping$" "$n"'
check "fifo-pingctl ping --wait after the upgrade" eval 'as_user pinger fifo-pingctl -q ping --wait'

section deb-remove "apt-get remove: service stopped, FIFO gone, config kept"
out=$(in_ct "${APT[@]}" remove fifo-pingd 2>&1) && rc=0 || rc=$?
check "apt-get remove fifo-pingd (rc $rc)" test "$rc" = 0
[ "$rc" = 0 ] || sed 's/^/    /' <<<"$out"
check "dpkg: config-files only" test "$(in_ct dpkg-query -W -f='${Status}' fifo-pingd 2>/dev/null)" = "deinstall ok config-files"
check "service inactive, no process" eval 'state_is "$SVC" inactive && [ "$(in_ct pgrep -c -x fifo-pingd || true)" = 0 ]'
check "FIFO gone" fifo_absent
check "binaries and units gone" \
    eval '! in_ct test -e /usr/sbin/fifo-pingd && ! in_ct test -e /usr/bin/fifo-pingctl && ! in_ct test -e /usr/lib/systemd/system/$SVC'
check "/run/fifo-pingd (reply directory) gone" eval '! in_ct test -e /run/fifo-pingd'
check "$CONF kept (with the edit)" grep -qx '# local edit by the admin' "$CT_ROOT$CONF"

section deb-purge "apt-get purge: config removed, nothing left"
out=$(in_ct "${APT[@]}" purge fifo-pingd 2>&1) && rc=0 || rc=$?
check "apt-get purge fifo-pingd (rc $rc)" test "$rc" = 0
[ "$rc" = 0 ] || sed 's/^/    /' <<<"$out"
check "dpkg: not installed" eval '! in_ct dpkg-query -W -f="\${Status}" fifo-pingd 2>/dev/null | grep -q installed'
check "/etc/fifo-pingd is gone (with .dpkg-dist)" eval '! in_ct test -e /etc/fifo-pingd'
in_ct systemctl daemon-reload
check "systemd knows no fifo-pingd unit any more" \
    eval '[ -z "$(in_ct systemctl list-units --all --no-legend --plain "fifo-pingd*" 2>/dev/null)" ]'
left=$(named_paths)
check "no path named *fifo-ping* left (found: ${left:-none})" test -z "$left"
diff=$(diff <(echo "$BEFORE") <(snapshot) || true)
check "file systems as before the installation (diff: ${diff:-none})" test -z "$diff"
check "group fifo-ping kept (Debian/sysusers convention)" eval 'in_ct getent group fifo-ping >/dev/null'
TIMES[deb]=$(elapsed "$t_deb")
ct_teardown

# ================================================================= .rpm
t_rpm=$EPOCHREALTIME
boot_container "$RPM1" "$RPM2"
R1=/var/tmp/packages/${RPM1##*/}
R2=/var/tmp/packages/${RPM2##*/}
# Fedora's preset policy (fedora-release ships /usr/lib/systemd/system-preset/
# 99-default-disable.preset with "disable *"); Debian has none, so without this the rpm's
# `systemctl preset` would enable the service as Debian's enable-all default does.
in_ct sh -c 'mkdir -p /etc/systemd/system-preset && echo "disable *" >/etc/systemd/system-preset/99-default-disable.preset'
# Debian's rpm, run inside the container so the scriptlets reach its systemd:
#   --nodeps        Debian's rpm database is empty: glibc, /bin/sh and systemd are
#                   installed by dpkg, so every Requires (libc.so.6(GLIBC_2.34)(64bit),
#                   libgcc_s.so.1, /bin/sh, systemd, rtld(GNU_HASH)) would count as missing
#   --force-debian  Debian's rpm refuses to install into a dpkg-managed system without it
#   (no --noscripts: %post, %preun and %postun run for real)
RPM=(rpm --nodeps --force-debian)
# Directories that Fedora's `filesystem` package owns, so an rpm never creates or removes
# them; Debian has no /usr/share/licenses, and the image has no man page directories.
in_ct mkdir -p /usr/share/licenses /usr/share/man/man1 /usr/share/man/man5 /usr/share/man/man8
BEFORE=$(snapshot)
# What the scriptlets print besides errors: systemd-sysusers saying it made the group.
quiet_rpm() { grep -vE "^Creating group '?fifo-ping'? with GID [0-9]+\.?$" <<<"$1" || true; }

section rpm-install "${RPM[*]} -i ${RPM1##*/}: installed, not enabled, not started"
out=$(in_ct "${RPM[@]}" -i "$R1" 2>&1) && rc=0 || rc=$?
out=$(quiet_rpm "$out")
check "rpm -i (rc $rc, other output: ${out:-none})" test "$rc/$out" = "0/"
check "rpm -q fifo-pingd = fifo-pingd-$V1_UP-1" test "$(in_ct rpm -q fifo-pingd 2>/dev/null)" = "fifo-pingd-$V1_UP-1.x86_64"
# --nodeps: verify the files only (the dependencies are unknown to this rpm database, see above).
out=$(in_ct rpm -V --nodeps fifo-pingd 2>&1) && rc=0 || rc=$?
check "rpm -V --nodeps fifo-pingd: files as packaged (rc $rc, output: ${out:-none})" test "$rc/$out" = "0/"
check "%post created the group fifo-ping" eval 'in_ct getent group fifo-ping >/dev/null'
check "$SVC is disabled (preset) and not running" eval '[ "$(enabled_state "$SVC")" = disabled ] && state_is "$SVC" inactive'
check "$SOCK is disabled and not running" eval '[ "$(enabled_state "$SOCK")" = disabled ] && state_is "$SOCK" inactive'
check "no FIFO yet" fifo_absent
check "systemd sees the units (LoadState=loaded)" test "$(prop "$SVC" LoadState)" = loaded
check "%post made /run/fifo-pingd/reply: drwx-ws--T root fifo-ping (got '$(reply_perm)')" \
    test "$(reply_perm)" = "drwx-ws--T root fifo-ping"

section rpm-story "systemctl start, ping, stop"
check "usermod -aG fifo-ping pinger" in_ct usermod -aG fifo-ping pinger
check "systemctl start $SVC" in_ct systemctl start "$SVC"
check "active, FIFO prw--w---- root fifo-ping (got '$(fifo_perm)')" \
    eval 'state_is "$SVC" active && [ "$(fifo_perm)" = "prw--w---- root fifo-ping" ]'
n=$(jcount "$SVC" '^received ping$')
check "pinger: echo ping > $FIFO" write_fifo pinger ping
check "journalctl -u fifo-pingd: received ping" wait_for 10 jgrew "$SVC" '^received ping$' "$n"
out=$(as_user pinger fifo-pingctl ping --wait 2>&1) && rc=0 || rc=$?
check "pinger: fifo-pingctl ping --wait gets the pong (rc $rc: $out)" test "$rc" = 0
check "systemctl stop $SVC" in_ct systemctl stop "$SVC"
check "inactive, FIFO gone" eval 'state_is "$SVC" inactive && fifo_absent'

section rpm-erase "rpm -e: nothing left"
check "systemctl start $SVC (erase must stop it)" in_ct systemctl start "$SVC"
out=$(in_ct "${RPM[@]}" -e fifo-pingd 2>&1) && rc=0 || rc=$?
out=$(quiet_rpm "$out")
check "rpm -e fifo-pingd (rc $rc, output: ${out:-none})" test "$rc/$out" = "0/"
check "%preun stopped the service, FIFO gone" eval 'state_is "$SVC" inactive && fifo_absent && [ "$(in_ct pgrep -c -x fifo-pingd || true)" = 0 ]'
check "rpm -q: not installed" eval '! in_ct rpm -q fifo-pingd >/dev/null 2>&1'
check "systemd knows no fifo-pingd unit any more" \
    eval '[ -z "$(in_ct systemctl list-units --all --no-legend --plain "fifo-pingd*" 2>/dev/null)" ]'
left=$(named_paths)
check "no path named *fifo-ping* left (found: ${left:-none})" test -z "$left"
diff=$(diff <(echo "$BEFORE") <(snapshot) || true)
check "file systems as before the installation (diff: ${diff:-none})" test -z "$diff"
check "group fifo-ping kept (sysusers convention)" eval 'in_ct getent group fifo-ping >/dev/null'

section rpm-upgrade "edit the config, rpm -U to $V2: .rpmnew, restarted on the new binary; erase keeps .rpmsave"
check "rpm -i ${RPM1##*/}" in_ct "${RPM[@]}" -i "$R1"
echo '# local edit by the admin' >>"$CT_ROOT$CONF"
check "systemctl start $SVC" in_ct systemctl start "$SVC"
pid=$(main_pid "$SVC")
out=$(in_ct "${RPM[@]}" -U "$R2" 2>&1) && rc=0 || rc=$?
check "rpm -U ${RPM2##*/} (rc $rc): 'warning: $CONF created as $CONF.rpmnew'" \
    eval '[ "$rc" = 0 ] && grep -qF "$CONF created as $CONF.rpmnew" <<<"$out"'
check "rpm -q fifo-pingd = fifo-pingd-$V2_UP-1" test "$(in_ct rpm -q fifo-pingd 2>/dev/null)" = "fifo-pingd-$V2_UP-1.x86_64"
check "the admin's edit is kept, $CONF.rpmnew holds the new file" \
    eval 'grep -qx "# local edit by the admin" "$CT_ROOT$CONF" && grep -q "changed in $V2" "$CT_ROOT$CONF.rpmnew"'
check "%postun restarted it: new main PID (was $pid), active" wait_for 10 \
    eval 'p=$(main_pid "$SVC"); [ "$p" != 0 ] && [ "$p" != "$pid" ] && state_is "$SVC" active'
check "the new process runs the new /usr/sbin/fifo-pingd" test "$(exe_of "$(main_pid "$SVC")")" = /usr/sbin/fifo-pingd
check "/usr/sbin/fifo-pingd --version = fifo-pingd $V2_UP" test "$(in_ct fifo-pingd --version)" = "fifo-pingd $V2_UP"
check "still disabled (an upgrade does not apply presets)" test "$(enabled_state "$SVC")" = disabled
out=$(in_ct "${RPM[@]}" -e fifo-pingd 2>&1) && rc=0 || rc=$?
check "rpm -e (rc $rc): 'warning: $CONF saved as $CONF.rpmsave'" \
    eval '[ "$rc" = 0 ] && grep -qF "$CONF saved as $CONF.rpmsave" <<<"$out"'
check "stopped, FIFO gone" eval 'state_is "$SVC" inactive && fifo_absent'
left=$(in_ct ls -A /etc/fifo-pingd 2>/dev/null | tr '\n' ' ')
check "only the admin's files are left in /etc/fifo-pingd (rpm convention): $left" \
    test "$left" = "fifo-pingd.toml.rpmnew fifo-pingd.toml.rpmsave "
TIMES[rpm]=$(elapsed "$t_rpm")
