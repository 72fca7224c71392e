# shellcheck shell=bash
# Helper functions defined inside functions are called through wait_for:
# shellcheck disable=SC2317
# Sourced by tests/e2e/run.sh: a throw-away Debian 12 container whose PID 1 is a real
# systemd 252, booted with systemd-nspawn on a host whose own PID 1 need not be systemd.
#
#   ct_host_tools    install systemd-container, debootstrap, zstd (idempotent)
#   ct_rootfs        unpack the cached rootfs tarball (building it first if missing)
#   ct_boot          boot it, wait until `systemctl is-system-running` is running/degraded
#   ct_teardown      power it off (SIGKILL as a last resort) and delete the unpacked rootfs
#   in_ct CMD...     run CMD inside the container (all of its namespaces)
#
# Why each workaround exists is written next to it; the background is in the team's
# research note on systemd-in-nspawn (the recipe and its pitfalls were measured there).

E2E_CACHE_DIR=${E2E_CACHE_DIR:-/var/cache/fifo-pingd-e2e}
E2E_SUITE=bookworm
CT_DIR=          # per-run directory: rootfs + logs, deleted by ct_teardown
CT_ROOT=         # $CT_DIR/rootfs
CT_NAME=         # machine name (unique per run, so parallel runs do not collide)
NSPAWN_PID=
LEADER=          # host PID of the container's PID 1 (systemd)

ct_log() { printf '=== %s\n' "$*"; }
ct_die() { printf 'FAIL: e2e environment: %s\n' "$*"; exit 1; }

# Seconds since $1 (an $EPOCHREALTIME value), two decimals.
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; }

# Poll "$@" every 0.1 s until it succeeds or $1 seconds have passed.
wait_for() {
    local limit=$1; shift
    local end=$((SECONDS + limit))
    until "$@"; do
        [ "$SECONDS" -lt "$end" ] || return 1
        sleep 0.1
    done
}

# Enter every namespace of the container's PID 1. machinectl, systemctl -M and
# systemd-run -M would need systemd + machined on the host, which we cannot assume.
# Bounded: a stuck systemctl or FIFO open must not hang the test.
in_ct() { timeout "${CT_TIMEOUT:-30}" nsenter -t "$LEADER" -a "$@"; }

ct_host_tools() {
    [ "$(id -u)" = 0 ] || ct_die "must run as root (debootstrap, systemd-nspawn, unshare)"
    local pkgs=(systemd-container debootstrap zstd)
    # Lines not ending in " installed" = missing packages (unknown ones are reported on stderr).
    local status
    status=$(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "${pkgs[@]}" 2>&1 || true)
    grep -qv ' installed$' <<<"$status" || return 0
    ct_log "installing host tools: ${pkgs[*]}"
    local apt=(env DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=600)
    # `apt-get update` only when the package lists are missing or stale enough to fail.
    if ! "${apt[@]}" install "${pkgs[@]}" </dev/null >/dev/null; then
        "${apt[@]}" update </dev/null >/dev/null || ct_die "apt-get update failed"
        "${apt[@]}" install "${pkgs[@]}" </dev/null >/dev/null || ct_die "cannot install ${pkgs[*]}"
    fi
}

# Everything that goes into the cached image. The cache file name carries a hash of this
# function, so editing it rebuilds the cache automatically.
ct_build_rootfs() {
    local root=$1 mirror=$2
    # minbase + systemd as PID 1 (systemd-sysv provides /sbin/init) + dbus, as on a real
    # Debian server; procps for /bin/kill (ExecReload=). passwd (useradd/usermod) and
    # util-linux (setpriv) are in minbase.
    debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,procps \
        "$E2E_SUITE" "$root" "$mirror" >"$root.debootstrap.log" 2>&1 \
        || { tail -20 "$root.debootstrap.log"; return 1; }
    # systemd-firstboot would wait for console input forever on a half-configured /etc.
    ln -sf /dev/null "$root/etc/systemd/system/systemd-firstboot.service"
    # Empty machine-id: every boot gets a fresh one.
    : >"$root/etc/machine-id"
    echo fifo-pingd-e2e >"$root/etc/hostname"
    # Test users. The group fifo-ping is NOT created here: it must come from our
    # sysusers.d file; the test adds `pinger` to it after installing the package files.
    chroot "$root" useradd --no-create-home --shell /bin/sh pinger
    chroot "$root" useradd --no-create-home --shell /bin/sh outsider
}

ct_rootfs() {
    mkdir -p "$E2E_CACHE_DIR"
    # Remove directories of earlier runs that died without tearing down (SIGKILL, power loss).
    local d
    for d in "$E2E_CACHE_DIR"/run.*; do
        [ -d "$d" ] || continue
        if [ -f "$d/owner.pid" ] && kill -0 "$(cat "$d/owner.pid")" 2>/dev/null; then continue; fi
        grep -q " $d/" /proc/mounts || rm -rf --one-file-system "$d"
    done

    local hash cache
    hash=$({ echo "$E2E_SUITE"; declare -f ct_build_rootfs; } | sha256sum | cut -c1-12)
    cache=$E2E_CACHE_DIR/rootfs-$E2E_SUITE-$hash.tar.zst
    (
        # One builder at a time; concurrent runs wait here and then reuse the result.
        flock -w 900 9 || ct_die "timed out waiting for $E2E_CACHE_DIR/.lock"
        [ -s "$cache" ] && exit 0
        local mirror t build
        mirror=${E2E_MIRROR:-$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)}
        [ -n "$mirror" ] || mirror=$(awk '$1 == "deb" { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)
        mirror=${mirror:-http://deb.debian.org/debian}
        ct_log "building the container image with debootstrap from $mirror (once; takes 1-2 min)"
        t=$EPOCHREALTIME
        build=$E2E_CACHE_DIR/build.$$
        rm -rf --one-file-system "$build"
        ct_build_rootfs "$build" "$mirror" || ct_die "debootstrap failed (log: $build.debootstrap.log)"
        # Trimmed for size (apt lists and .debs, docs, locales, man pages): ~30 MB.
        # Keep apt lists if a later test needs `apt-get install ./x.deb` to resolve dependencies.
        tar -C "$build" --numeric-owner --xattrs --xattrs-include='*' \
            --exclude='./var/lib/apt/lists/*' --exclude='./var/cache/apt/*' \
            --exclude='./usr/share/doc/*' --exclude='./usr/share/locale/*' \
            --exclude='./usr/share/man/*' \
            -I 'zstd -T0 -10' -cf "$cache.tmp" . || ct_die "cannot write $cache"
        mv "$cache.tmp" "$cache"
        rm -rf --one-file-system "$build" "$build.debootstrap.log"
        # Older images (built from an older recipe) are dead weight now.
        find "$E2E_CACHE_DIR" -maxdepth 1 -name "rootfs-$E2E_SUITE-*.tar.zst" ! -path "$cache" -delete
        echo "image built in $(elapsed "$t")s: $cache ($(du -h "$cache" | cut -f1))"
    ) 9>"$E2E_CACHE_DIR/.lock" || exit 1

    CT_DIR=$(mktemp -d "$E2E_CACHE_DIR/run.XXXXXX")
    echo $$ >"$CT_DIR/owner.pid"
    CT_ROOT=$CT_DIR/rootfs
    CT_NAME=fifo-pingd-e2e-${CT_DIR##*.}
    mkdir "$CT_ROOT"
    tar -C "$CT_ROOT" -I zstd -xf "$cache" --numeric-owner --xattrs --xattrs-include='*' \
        || ct_die "cannot unpack $cache"
}

ct_boot() {
    # Host-specific workarounds (all needed on the Debian 12 VMs this runs on):
    #  * --register=no --keep-unit: nspawn must not ask a host systemd/machined over D-Bus
    #    for a scope ("Failed to open system bus").
    #  * a private mount namespace with a tmpfs on /run/systemd/nspawn: the host's /run is
    #    not a tmpfs and nspawn refuses to clean up its propagation directory on disk.
    #  * --private-network: the container's systemd must not touch the host's interfaces.
    #  * setsid: a Ctrl-C on the terminal reaches this script (which tears down in order),
    #    not nspawn directly. setsid/unshare/sh all exec, so $! is systemd-nspawn's PID.
    # shellcheck disable=SC2016 # $1 and $2 are the inner shell's arguments
    setsid unshare --mount --propagation private sh -c '
        mkdir -p /run/systemd/nspawn && mount -t tmpfs -o mode=0755 tmpfs /run/systemd/nspawn || exit 1
        exec systemd-nspawn --boot --directory="$1" --machine="$2" --register=no --keep-unit \
            --private-network --console=passive' sh "$CT_ROOT" "$CT_NAME" \
        </dev/null >"$CT_DIR/nspawn.log" 2>&1 &
    NSPAWN_PID=$!

    local child
    find_leader() {
        kill -0 "$NSPAWN_PID" 2>/dev/null || return 0   # died: reported below
        # shellcheck disable=SC2013 # a list of PIDs separated by spaces
        for child in $(cat "/proc/$NSPAWN_PID/task/$NSPAWN_PID/children" 2>/dev/null); do
            if [ "$(cat "/proc/$child/comm" 2>/dev/null)" = systemd ]; then LEADER=$child; return 0; fi
        done
        return 1
    }
    wait_for 30 find_leader || true
    if [ -z "$LEADER" ]; then
        sed 's/^/    nspawn: /' "$CT_DIR/nspawn.log"
        ct_die "systemd-nspawn could not start a container (see the nspawn lines above)"
    fi

    local state=
    booted() {
        kill -0 "$NSPAWN_PID" 2>/dev/null || return 0   # died: reported below
        state=$(timeout 5 nsenter -t "$LEADER" -a systemctl is-system-running 2>/dev/null || true)
        case $state in running | degraded) return 0 ;; *) return 1 ;; esac
    }
    wait_for 90 booted || true
    if ! kill -0 "$NSPAWN_PID" 2>/dev/null; then
        sed 's/^/    nspawn: /' "$CT_DIR/nspawn.log"
        ct_die "the container died while booting"
    fi
    case $state in
    running) ;;
    degraded) in_ct systemctl --failed --no-pager --plain | sed 's/^/    /' ;;
    *)
        in_ct systemctl list-jobs --no-pager | sed 's/^/    /' || true
        ct_die "boot did not finish within 90 s (state '$state')"
        ;;
    esac
    echo "container $CT_NAME: $state, $(in_ct systemctl --version | head -1)"
}

ct_teardown() {
    if [ -n "$NSPAWN_PID" ] && kill -0 "$NSPAWN_PID" 2>/dev/null; then
        # nspawn turns SIGTERM into SIGRTMIN+3 for the container's systemd: a clean poweroff.
        kill -TERM "$NSPAWN_PID" 2>/dev/null || true
        if ! wait_for 20 bash -c "! kill -0 $NSPAWN_PID 2>/dev/null"; then
            echo "teardown: container did not power off within 20 s, killing it"
            kill -KILL "$NSPAWN_PID" 2>/dev/null || true
            # Killing the init of a PID namespace kills everything in it.
            [ -z "$LEADER" ] || kill -KILL "$LEADER" 2>/dev/null || true
            wait_for 10 bash -c "! kill -0 $NSPAWN_PID 2>/dev/null" || true
        fi
        wait "$NSPAWN_PID" 2>/dev/null || true
    fi
    NSPAWN_PID=
    if [ -n "$CT_DIR" ] && [ -d "$CT_DIR" ] && [ "${E2E_KEEP:-0}" != 1 ]; then
        if grep -q " $CT_DIR/" /proc/mounts; then
            echo "teardown: mounts left under $CT_DIR, not deleting it"
        else
            rm -rf --one-file-system "$CT_DIR"
        fi
    fi
}
