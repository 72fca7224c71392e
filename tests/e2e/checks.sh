# shellcheck shell=bash
# shellcheck disable=SC2034,SC2016  # constants are used by the sourcing scripts; the quotes are for the inner sh
# Checks and container probes shared by tests/e2e/run.sh, security.sh, fleet.sh and
# packages.sh.
# Sourced after container.sh (uses in_ct). Sets the PASS/FAIL counters both report.

PASSED=0
FAILED=0
SECTION=

pass() { PASSED=$((PASSED + 1)); echo "PASS [$SECTION] $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL [$SECTION] $*"; }
# check DESCRIPTION CMD...: PASS if CMD succeeds.
check() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }
section() { SECTION=$1; shift; printf '\n--- %s. %s\n' "$SECTION" "$*"; }

# The path users write to (a tmpfiles.d link) and the FIFO it points to, in the
# service's runtime directory (removed at the stop, so the link then dangles).
FIFO=/run/fifo-ping
REAL_FIFO=/run/fifo-pingd/default/fifo
SVC=fifo-pingd.service
SOCK=fifo-pingd.socket
SOCK_SVC=fifo-pingd-socket.service
MOUNT='run-fifo\x2dpingd-reply.mount'
# The named instances' round-trip areas (fifo-pingd@NAME).
INSTANCE_MOUNT='run-fifo\x2dpingd-instance.mount'
CONF=/etc/fifo-pingd/fifo-pingd.toml
REPLY_DIR=/run/fifo-pingd/reply

prop() { in_ct systemctl show -P "$2" "$1" 2>/dev/null || true; }
state_is() { [ "$(prop "$1" ActiveState)" = "$2" ]; }
main_pid() { prop "$1" MainPID; }
fifo_perm() { in_ct stat -L -c '%A %U %G' "$FIFO" 2>/dev/null || echo absent; }
# The FIFO is gone, and so is anything else at its path.
fifo_absent() { [ "$(in_ct sh -c "if [ -e $REAL_FIFO ] || [ -L $REAL_FIFO ]; then echo present; else echo absent; fi")" = absent ]; }
# /run/fifo-ping is the packaged link (present or dangling), never anything else.
link_ok() { [ "$(in_ct readlink "$FIFO" 2>/dev/null)" = fifo-pingd/default/fifo ]; }
# jcount UNIT REGEX: journal lines of UNIT matching REGEX.
jcount() { in_ct journalctl --no-pager -o cat -u "$1" 2>/dev/null | grep -cE -- "$2" || true; }
# jgrew UNIT REGEX N: more than N such lines now.
jgrew() { [ "$(jcount "$1" "$2")" -gt "$3" ]; }
# as_user USER CMD...: run CMD in the container as USER with USER's groups.
as_user() { local u=$1; shift; in_ct setpriv --reuid="$u" --regid="$u" --init-groups -- "$@"; }
# write_fifo USER TEXT: echo TEXT into the FIFO as USER, bounded (a FIFO nobody reads blocks).
write_fifo() { as_user "$1" timeout 5 sh -c 'printf "%s\n" "$1" > '"$FIFO" sh "$2"; }

# ---------------------------------------------------------------- binaries and files
# e2e_binaries: BINARY, CLIENT and CONFIG from E2E_BINARY / E2E_CLIENT / E2E_CONFIG, or
# the tree's (building target/release first). Needs REPO.
e2e_binaries() {
    if [ -n "${E2E_BINARY:-}" ]; then
        BINARY=$E2E_BINARY
    else
        echo "=== cargo build --release"
        (cd "$REPO" && cargo build --release --quiet) || ct_die "cargo build --release failed"
        BINARY=$REPO/target/release/fifo-pingd
    fi
    [ -x "$BINARY" ] || ct_die "no executable at $BINARY"
    # `cargo build --release` builds both binaries of the crate.
    CLIENT=${E2E_CLIENT:-$(dirname "$BINARY")/fifo-pingctl}
    [ -x "$CLIENT" ] || ct_die "no executable at $CLIENT (set E2E_CLIENT=PATH)"
    CONFIG=${E2E_CONFIG:-$REPO/etc/fifo-pingd/fifo-pingd.toml}
    [ -f "$CONFIG" ] || ct_die "no config file at $CONFIG"
}

# install_project_files: the binaries, config, units, catalog, sysusers and tmpfiles files into
# the container, then what the package's postinst does: create the user and group,
# mount the round-trip area, then tmpfiles (owner and group of the area, the link
# /run/fifo-ping: after sysusers and the mount).
install_project_files() {
    install -D -m 0755 "$BINARY" "$CT_ROOT/usr/sbin/fifo-pingd"
    install -D -m 0755 "$CLIENT" "$CT_ROOT/usr/bin/fifo-pingctl"
    install -D -m 0644 "$CONFIG" "$CT_ROOT$CONF"
    install -D -m 0644 -t "$CT_ROOT/usr/lib/systemd/system" \
        "$REPO/systemd/$SVC" "$REPO/systemd/$SOCK" "$REPO/systemd/$SOCK_SVC" "$REPO/systemd/$MOUNT" \
        "$REPO/systemd/fifo-pingd@.service" "$REPO/systemd/fifo-pingd@.socket" \
        "$REPO/systemd/fifo-pingd-socket@.service" "$REPO/systemd/$INSTANCE_MOUNT"
    install -D -m 0644 "$REPO/systemd/tmpfiles-setup-dropin.conf" \
        "$CT_ROOT/usr/lib/systemd/system/systemd-tmpfiles-setup.service.d/fifo-pingd.conf"
    install -D -m 0644 "$REPO/systemd/fifo-pingd.catalog" "$CT_ROOT/usr/lib/systemd/catalog/fifo-pingd.catalog"
    install -D -m 0644 "$REPO/systemd/fifo-pingd.sysusers" "$CT_ROOT/usr/lib/sysusers.d/fifo-pingd.conf"
    install -D -m 0644 "$REPO/systemd/fifo-pingd.tmpfiles" "$CT_ROOT/usr/lib/tmpfiles.d/fifo-pingd.conf"
    in_ct systemd-sysusers fifo-pingd.conf >/dev/null
    in_ct systemctl daemon-reload
    in_ct systemctl start "$MOUNT" "$INSTANCE_MOUNT"
    in_ct systemd-tmpfiles --create fifo-pingd.conf
    # What systemd's dpkg trigger on /usr/lib/systemd/catalog does.
    in_ct journalctl --update-catalog
}

# ---------------------------------------------------------------- the end of a run
# e2e_finish RC KEY...: what run.sh's and security.sh's EXIT traps share: an exit with
# RC != 0 and no failed check counts as a failure (the environment's, reported above);
# on any failure the units' journal; the container torn down; the timings of KEY...
# (from TIMES, "teardown" measured here) and the total. The caller then prints what is
# its own and ends with e2e_exit.
e2e_finish() {
    local rc=$1 t k
    shift
    trap - EXIT INT TERM
    set +e
    if [ "$rc" != 0 ] && [ "$FAILED" = 0 ]; then FAILED=1; fi
    if [ "$FAILED" != 0 ] && [ -n "$NSPAWN_PID" ] && [ -n "$LEADER" ]; then
        echo
        echo "=== journal of the fifo-pingd units (last 120 lines), for the failures above"
        in_ct journalctl --no-pager -o short-monotonic -n 120 \
            -u "$SVC" -u "$SOCK" -u "$SOCK_SVC" 2>/dev/null | sed 's/^/    /'
    fi
    t=$EPOCHREALTIME
    ct_teardown
    # TIMES: the caller's associative array.
    # shellcheck disable=SC2154
    TIMES[teardown]=$(elapsed "$t")
    echo
    echo "=== summary"
    for k in "$@"; do
        [ -z "${TIMES[$k]:-}" ] || printf '  %-9s %7ss\n' "$k" "${TIMES[$k]}"
    done
    printf '  %-9s %7ss\n' total "$(elapsed "$T_START")"
}

# e2e_exit: the closing "N passed, N failed" line, and the exit status.
e2e_exit() {
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" = 0 ] || exit 1
    exit 0
}
