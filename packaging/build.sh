#!/usr/bin/env bash
# Builds the fifo-pingd .deb and .rpm from this Cargo project, checks and lints them.
#
# Usage: packaging/build.sh [--quick] [--no-lint] [--out DIR]
#   (default)   build, check versions, lint (man pages, lintian, rpmlint), then build a
#               second time from a clean `dist` profile and require byte-identical packages
#   --quick     skip the second build (no reproducibility check)
#   --no-lint   skip lintian and rpmlint (the life-cycle test uses this for its rebuilds)
#   --out DIR   where the packages go (default: target/packages)
#
# Environment:
#   SOURCE_DATE_EPOCH  timestamp for every file and header in the packages; default: the
#                      date of the newest entry in packaging/deb/changelog (as dpkg does)
#
# Installs what it needs when missing: apt packages (lintian, rpm, rpmlint, mandoc,
# dpkg-dev, binutils, ...) and, with `cargo install --locked`, cargo-deb 3.8.0 and
# cargo-generate-rpm 0.21.1 (first time: ~1 and ~4 minutes on 2 cores; then instant).
# Prints the package paths, sizes and sha256 sums, and the time taken. Exits non-zero on
# any failed check.
set -euo pipefail

CARGO_DEB_VERSION=3.8.0
CARGO_GENERATE_RPM_VERSION=0.21.1

T0=$SECONDS
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
# cargo on PATH (rustup's ~/.cargo/bin, which a non-login shell (CI) may not have); cargo
# itself finds cargo-installed subcommands (cargo deb, cargo generate-rpm) in ~/.cargo/bin.
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

QUICK=0 LINT=1 OUT=$ROOT/target/packages
while [ $# -gt 0 ]; do
    case $1 in
    --quick) QUICK=1 ;;
    --no-lint) LINT=0 ;;
    --out) OUT=$2; shift ;;
    --out=*) OUT=${1#--out=} ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "build.sh: unknown option $1 (see --help)" >&2; exit 64 ;;
    esac
    shift
done
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
cd "$ROOT"

step() { printf '\n### %s\n' "$*"; }
die() { printf 'build.sh: FAIL: %s\n' "$*" >&2; exit 1; }

# ------------------------------------------------------------------------- tools
step "tools"
APT_PKGS=(lintian rpm rpmlint rpm2cpio cpio mandoc man-db groff-base dpkg-dev binutils gzip)
ensure_apt "${APT_PKGS[@]}" || die "cannot install ${APT_PKGS[*]}"
# `cargo deb --version` prints "cargo-deb 3.8.0"; reinstall on any other version.
ensure_cargo_tool() {
    local crate=$1 sub=$2 want=$3 have
    have=$(cargo "$sub" --version 2>/dev/null | awk '{ print $NF }' || true)
    if [ "$have" != "$want" ]; then
        echo "cargo install --locked $crate@$want (found: ${have:-none})"
        cargo install --quiet --locked --version "$want" "$crate" || die "cargo install $crate failed"
    fi
    echo "$crate $(cargo "$sub" --version | awk '{ print $NF }')"
}
ensure_cargo_tool cargo-deb deb "$CARGO_DEB_VERSION"
ensure_cargo_tool cargo-generate-rpm generate-rpm "$CARGO_GENERATE_RPM_VERSION"

# ------------------------------------------------------------------------- snapshot
# Everything below works on a frozen copy of the tree (the files git would see: tracked
# and untracked, minus .gitignore'd ones), so the packages and the reproducibility rebuild
# come from one consistent state even while someone edits the checkout. Its path never
# changes, so the paths compiled into the binary are the same in every build; compiled
# dependencies are kept in target/packaging/cargo between runs.
step "snapshot of the tree"
SRC=$ROOT/target/packaging/src
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target/packaging/cargo}
rm -rf "$SRC" && mkdir -p "$SRC"
if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git -C "$ROOT" ls-files -z -c -o --exclude-standard |
        tar -C "$ROOT" --null -T - --ignore-failed-read -cf - 2>/dev/null
else
    tar -C "$ROOT" --exclude=./target --exclude=./.git -cf - .
fi | tar -C "$SRC" -xf -
cd "$SRC"
echo "$SRC ($(find . -type f | wc -l) files); CARGO_TARGET_DIR=$CARGO_TARGET_DIR"
# The binaries carry the source paths of the crates from crates.io (panic locations):
# write them as /cargo/... so the packages do not depend on the builder's $CARGO_HOME.
# (This crate's own paths are relative already.)
export RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }--remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=/cargo"

# ------------------------------------------------------------------------- versions
step "versions"
# `cargo pkgid` = path+file:///dir#fifo-pingd@0.1.0 (or ...#0.1.0 when the dir has the
# package's name).
CARGO_VERSION=$(cargo pkgid --offline 2>/dev/null || cargo pkgid)
CARGO_VERSION=${CARGO_VERSION##*[#@]}
DEB_VERSION=$(dpkg-parsechangelog -l packaging/deb/changelog -SVersion)
DEB_UPSTREAM=${DEB_VERSION#*:}          # without epoch
DEB_UPSTREAM=${DEB_UPSTREAM%-*}         # without Debian revision
# The rpm takes its version from Cargo.toml unless the metadata overrides it: it must not.
if grep -A200 '^\[package.metadata.generate-rpm\]' Cargo.toml | grep -qE '^version *='; then
    die "Cargo.toml [package.metadata.generate-rpm] sets its own version; the rpm must use the crate's"
fi
echo "Cargo.toml $CARGO_VERSION, debian/changelog $DEB_VERSION"
[ "$DEB_UPSTREAM" = "$CARGO_VERSION" ] ||
    die "packaging/deb/changelog is at $DEB_VERSION but Cargo.toml at $CARGO_VERSION: add a changelog entry (dch -c packaging/deb/changelog -v $CARGO_VERSION-1)"
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
    SOURCE_DATE_EPOCH=$(dpkg-parsechangelog -l packaging/deb/changelog -STimestamp)
fi
export SOURCE_DATE_EPOCH
echo "SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH ($(date -u -d "@$SOURCE_DATE_EPOCH" '+%F %T UTC'))"

# ------------------------------------------------------------------------- licences
step "licences of the statically linked crates"
# Every crate linked into the binary must offer MIT, and must be named in the Comment of
# packaging/deb/copyright (which says so); dev, build and proc-macro crates are not linked.
linked=$(cargo tree --offline --locked -e normal,no-proc-macro --prefix none -f '{p}|{l}' 2>/dev/null ||
    cargo tree --locked -e normal,no-proc-macro --prefix none -f '{p}|{l}')
linked=$(sort -u <<<"$linked" | grep -v '^fifo-pingd ')
bad=$(awk -F'|' '$2 !~ /(^|[ (])MIT([ )]|$)/' <<<"$linked")
[ -z "$bad" ] || die "crates without an MIT option are linked in (update packaging/deb/copyright): $bad"
listed=$(sed -n '/^Comment:/,/^$/p' packaging/deb/copyright | tr -s ' ,.:\n' '\n' | sort -u)
while IFS='|' read -r crate _; do
    crate=${crate%% *}
    grep -qxF "$crate" <<<"$listed" || die "crate $crate is linked in but not named in packaging/deb/copyright"
done <<<"$linked"
echo "$(wc -l <<<"$linked") crates, all MIT-compatible and listed in packaging/deb/copyright"

# ------------------------------------------------------------------------- man pages
step "man pages"
# Every page in man/ is checked and packaged (the contents check below insists).
MAN_PAGES=(man/*.[1-8])
for page in "${MAN_PAGES[@]}"; do
    out=$(mandoc -T lint -W warning "$page" 2>&1) || true
    [ -z "$out" ] || die "mandoc -T lint $page:"$'\n'"$out"
    # What lintian runs (groff via man-db); it prints nothing for a clean page.
    out=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z "$page" 2>&1 >/dev/null) || true
    [ -z "$out" ] || die "man --warnings $page:"$'\n'"$out"
    echo "$page: clean (mandoc -T lint, man --warnings)"
done

# ------------------------------------------------------------------------- build
STAGE=$SRC/target/packaging
# name:installed path of every packaged binary.
BINS=(fifo-pingd:/usr/sbin/fifo-pingd fifo-pingctl:/usr/bin/fifo-pingctl)
# One complete build into $1: binaries, staged inputs for the rpm, both packages.
build_once() {
    local dest=$1 bin
    rm -rf "$dest" && mkdir -p "$dest" "$STAGE/bin" "$STAGE/man"
    cargo build --profile dist --locked --bins --quiet
    # The rpm gets the binaries stripped exactly as `cargo deb --strip` strips them.
    for bin in "${BINS[@]}"; do
        bin=${bin%%:*}
        strip --strip-unneeded --remove-section=.comment --remove-section=.note \
            -o "$STAGE/bin/$bin" "$CARGO_TARGET_DIR/dist/$bin"
    done
    local page
    for page in "${MAN_PAGES[@]}"; do
        gzip -9 -n -c "$page" >"$STAGE/man/${page##*/}.gz"
    done
    # --deb-version: the changelog decides the Debian revision (cargo-deb would say -1).
    cargo deb --quiet --no-build --profile dist --strip --deb-version "$DEB_VERSION" -o "$dest/" >/dev/null
    cargo generate-rpm --profile dist -o "$dest/" >/dev/null
}

step "build (cargo build --profile dist, cargo deb, cargo generate-rpm)"
t=$SECONDS
build_once "$OUT.tmp"
for f in "$OUT"/fifo-pingd[_-]*.{deb,rpm}; do [ -e "$f" ] && rm -f "$f"; done
mv "$OUT.tmp"/* "$OUT/" && rmdir "$OUT.tmp"
DEB=$(ls "$OUT"/fifo-pingd_*.deb)
RPM=$(ls "$OUT"/fifo-pingd-*.rpm)
echo "built in $((SECONDS - t)) s"

# ------------------------------------------------------------------------- contents
step "contents"
deb_version=$(dpkg-deb -f "$DEB" Version)
rpm_version=$(rpm -qp --qf '%{VERSION}' "$RPM" 2>/dev/null)
[ "$deb_version" = "$DEB_VERSION" ] || die ".deb version $deb_version, changelog $DEB_VERSION"
[ "$rpm_version" = "$CARGO_VERSION" ] || die ".rpm version $rpm_version, Cargo.toml $CARGO_VERSION"
echo "versions agree: Cargo.toml $CARGO_VERSION, .deb $deb_version, .rpm $rpm_version-$(rpm -qp --qf '%{RELEASE}' "$RPM" 2>/dev/null)"

# Both packages carry the same files with the same modes (man pages: same names, .gz).
# (literal: tar would print the backslash of run-fifo\x2dpingd-reply.mount doubled.)
deb_files=$(dpkg-deb --fsys-tarfile "$DEB" | tar --quoting-style=literal -tvf - | awk '$1 !~ /^d/ { sub(/^\./, "", $6); print $1, $6 }' | sort)
rpm_files=$(rpm -qp --qf '[%{FILEMODES:perms} %{FILENAMES}\n]' "$RPM" 2>/dev/null | sort)
expect_common="-rw-r--r-- /etc/fifo-pingd/fifo-pingd.toml
-rw-r--r-- /usr/lib/sysusers.d/fifo-pingd.conf
-rw-r--r-- /usr/lib/tmpfiles.d/fifo-pingd.conf
-rw-r--r-- /usr/share/doc/fifo-pingd/README.md"
for bin in "${BINS[@]}"; do expect_common+=$'\n'"-rwxr-xr-x ${bin#*:}"; done
for page in "${MAN_PAGES[@]}"; do
    expect_common+=$'\n'"-rw-r--r-- /usr/share/man/man${page##*.}/${page##*/}.gz"
done
for unit in systemd/*.service systemd/*.socket systemd/*.mount; do
    expect_common+=$'\n'"-rw-r--r-- /usr/lib/systemd/system/${unit##*/}"
done
expect_common+=$'\n'"-rw-r--r-- /usr/lib/systemd/system/systemd-tmpfiles-setup.service.d/fifo-pingd.conf"
for bin in fifo-pingd fifo-pingctl; do
    expect_common+=$'\n'"-rw-r--r-- /usr/share/bash-completion/completions/$bin"
    expect_common+=$'\n'"-rw-r--r-- /usr/share/fish/vendor_completions.d/$bin.fish"
    # zsh: Debian's vendor directory, Fedora's site-functions.
    grep -qxF -- "-rw-r--r-- /usr/share/zsh/vendor-completions/_$bin" <<<"$deb_files" ||
        die ".deb lacks the zsh completion of $bin"
    grep -qxF -- "-rw-r--r-- /usr/share/zsh/site-functions/_$bin" <<<"$rpm_files" ||
        die ".rpm lacks the zsh completion of $bin"
done
while read -r line; do
    grep -qxF -- "$line" <<<"$deb_files" || die ".deb lacks: $line"$'\n'"$deb_files"
    grep -qxF -- "$line" <<<"$rpm_files" || die ".rpm lacks: $line"$'\n'"$rpm_files"
done <<<"$expect_common"
for line in "-rw-r--r-- /usr/share/doc/fifo-pingd/copyright" "-rw-r--r-- /usr/share/doc/fifo-pingd/changelog.Debian.gz"; do
    grep -qxF -- "$line" <<<"$deb_files" || die ".deb lacks: $line"
done
for line in "-rw-r--r-- /usr/share/licenses/fifo-pingd/LICENSE-MIT" "-rw-r--r-- /usr/share/licenses/fifo-pingd/LICENSE-APACHE"; do
    grep -qxF -- "$line" <<<"$rpm_files" || die ".rpm lacks: $line"
done
# The licence texts must survive `rpm --excludedocs` (tsflags=nodocs): not %doc, since
# cargo-generate-rpm cannot mark them %license (packaging/README.md, "Deviations").
rpm -qp --qf '[%{FILEFLAGS:fflags} %{FILENAMES}\n]' "$RPM" 2>/dev/null | grep -E ' /usr/share/licenses/' | grep -qE '^[^ ]*d' &&
    die ".rpm: the licence files are marked %doc (--excludedocs would drop them)"
[ "$(dpkg-deb --ctrl-tarfile "$DEB" | tar -xOf - ./conffiles)" = /etc/fifo-pingd/fifo-pingd.toml ] ||
    die ".deb: /etc/fifo-pingd/fifo-pingd.toml is not the (only) conffile"
rpm -qp --qf '[%{FILEFLAGS:fflags} %{FILENAMES}\n]' "$RPM" 2>/dev/null | grep -qx 'cn /etc/fifo-pingd/fifo-pingd.toml' ||
    die ".rpm: /etc/fifo-pingd/fifo-pingd.toml is not %config(noreplace)"
for s in postinst prerm postrm; do
    dpkg-deb --ctrl-tarfile "$DEB" | tar -tf - "./$s" >/dev/null 2>&1 || die ".deb has no $s"
done
[ "$(rpm -qp --scripts "$RPM" 2>/dev/null | grep -cE '^(postinstall|preuninstall|postuninstall|posttrans) scriptlet \(using /bin/sh\)')" = 4 ] ||
    die ".rpm should have %post, %preun, %postun and %posttrans"
# The same stripped binaries in both.
# (Debian's rpm2cpio exits 1 on zstd payloads even though it writes the whole archive.)
rpm2cpio "$RPM" >"$STAGE/payload.cpio" 2>/dev/null || true
sizes=
for bin in "${BINS[@]}"; do
    path=${bin#*:} bin=${bin%%:*}
    dpkg-deb --fsys-tarfile "$DEB" | tar -xOf - ".$path" >"$STAGE/bin/$bin.from-deb"
    cpio --quiet -i --to-stdout ".$path" <"$STAGE/payload.cpio" >"$STAGE/bin/$bin.from-rpm"
    cmp -s "$STAGE/bin/$bin.from-deb" "$STAGE/bin/$bin.from-rpm" || die "$path differs between the .deb and the .rpm"
    if readelf -S -W "$STAGE/bin/$bin.from-deb" | grep -qE ' \.(symtab|comment|debug_[a-z]+) '; then
        die "$path is not stripped"
    fi
    sizes+=" $bin $(stat -c %s "$STAGE/bin/$bin.from-deb") bytes"
done
rm -f "$STAGE/payload.cpio"
echo "same files and modes in both; conffile / %config(noreplace); maintainer scripts; identical stripped binaries:$sizes"

# ------------------------------------------------------------------------- lint
if [ "$LINT" = 1 ]; then
    step "lintian --fail-on error,warning"
    # -I --pedantic: show informational and pedantic tags too, so that new ones are seen;
    # only errors and warnings fail the build (every override in
    # packaging/deb/lintian-overrides says why).
    lintian --fail-on error,warning -I --pedantic --display-info "$DEB" ||
        die "lintian found errors or warnings (above)"
    echo "lintian: no errors, no warnings"

    step "rpmlint -c packaging/rpm/rpmlint.toml"
    out=$(rpmlint -c packaging/rpm/rpmlint.toml "$RPM" 2>&1) && rc=0 || rc=$?
    printf '%s\n' "$out" | grep -vE '^(=+ rpmlint session starts|rpmlint: |configuration:|    [^ ]+\.toml$|checks: |running with root)' || true
    [ "$rc" = 0 ] || die "rpmlint failed (rc $rc)"
    grep -q ' 0 errors, 0 warnings' <<<"$out" || die "rpmlint reported errors or warnings"
fi

# ------------------------------------------------------------------------- reproducibility
if [ "$QUICK" = 0 ]; then
    step "reproducibility: a second build from scratch must be byte-identical"
    # The rpm crate (cargo-generate-rpm) takes SOURCE_DATE_EPOCH only when it is in the
    # past; otherwise every build stamps the current time (header, file mtimes).
    [ "$SOURCE_DATE_EPOCH" -le "$(date +%s)" ] ||
        die "SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH ($(date -u -d "@$SOURCE_DATE_EPOCH" '+%F %T UTC')) is in the future: the .rpm gets the build time instead and cannot be reproducible; date the newest entry of packaging/deb/changelog no later than now, or set SOURCE_DATE_EPOCH"
    t=$SECONDS
    cargo clean --profile dist --quiet
    build_once "$OUT/.rebuild"
    for f in "$DEB" "$RPM"; do
        cmp "$f" "$OUT/.rebuild/${f##*/}" || die "${f##*/} differs between two builds (kept in $OUT/.rebuild)"
    done
    rm -rf "$OUT/.rebuild"
    echo "two builds from scratch, byte-identical .deb and .rpm (rebuild: $((SECONDS - t)) s)"
fi

step "packages"
for f in "$DEB" "$RPM"; do
    printf '%-60s %8s bytes  sha256 %s\n' "${f#"$ROOT"/}" "$(stat -c %s "$f")" "$(sha256sum "$f" | cut -c1-16)"
done
echo "build.sh: OK in $((SECONDS - T0)) s"
