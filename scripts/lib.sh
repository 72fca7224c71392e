# shellcheck shell=bash
# The preamble the project's scripts share (scripts/test, scripts/bench, scripts/fuzz).
# Sourced, not run, after the script has cd'ed to the top of the tree:
#   . scripts/lib.sh
# It only sets variables; it changes no shell options.

# rustup installs cargo in ~/.cargo/bin, which a non-login shell (CI) may not have on PATH.
if ! command -v cargo >/dev/null && [ -x "$HOME/.cargo/bin/cargo" ]; then
    PATH=$HOME/.cargo/bin:$PATH
fi
