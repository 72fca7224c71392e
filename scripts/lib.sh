# shellcheck shell=bash
# The preamble the project's scripts share (scripts/test, scripts/bench, scripts/fuzz).
# Sourced, not run, after the script has cd'ed to the top of the tree:
#   . scripts/lib.sh
# It sets variables and defines functions; it changes no shell options.

# rustup installs cargo in ~/.cargo/bin, which a non-login shell (CI) may not have on PATH.
if ! command -v cargo >/dev/null && [ -x "$HOME/.cargo/bin/cargo" ]; then
    PATH=$HOME/.cargo/bin:$PATH
fi

# ensure_apt PKG...: install the Debian packages that are missing (quietly; `apt-get
# update` only when an install fails, as on a fresh machine with no lists). Idempotent
# and quick when everything is there (one dpkg-query).
ensure_apt() {
    local missing apt
    missing=$({ dpkg-query -W -f='${Package} ${db:Status-Status}\n' "$@" 2>&1 || true; } |
        awk '/no packages found/ { print $NF; next } $2 != "installed" { print $1 }' | sort -u | tr '\n' ' ')
    [ -n "${missing// /}" ] || return 0
    echo "apt-get install $missing"
    apt=(env DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=600)
    # shellcheck disable=SC2086
    if ! "${apt[@]}" install --no-install-recommends $missing </dev/null >/dev/null; then
        "${apt[@]}" update </dev/null >/dev/null || return 1
        # shellcheck disable=SC2086
        "${apt[@]}" install --no-install-recommends $missing </dev/null >/dev/null || return 1
    fi
}
