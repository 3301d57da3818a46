#!/usr/bin/env bash
# Make sure libfaketime exists for both C libraries a broker image may use,
# for preloading into real brokers (LD_PRELOAD=<lib> FAKETIME="+0 x10", the
# library bind-mounted read-only into the container) to run their clocks
# faster. Both are built from Debian's own source package of the libfaketime
# version Debian bookworm ships (apt-get source, deb-src enabled if needed,
# see debian-source.sh), so both are the same code:
#
#   glibc  built inside a throwaway container of mosquitto-matrix/debian:bullseye
#          (glibc 2.31, the oldest glibc image we run) with bullseye's gcc and
#          Debian's own build flags, so that every newer glibc loads it:
#          target/faketime/glibc/libfaketime.so.1 (+ libfaketimeMT.so.1)
#          (Debian bookworm's own package needs GLIBC_2.34, which bullseye's
#          2.31 lacks: the broker exits 1.)
#   musl   built on this machine with Debian's musl-tools (musl-gcc):
#          target/faketime/musl/libfaketime.so.1 (+ libfaketimeMT.so.1)
#
# Debian's libfaketime package is still installed on this machine (when
# missing): its version picks the source version, and its library is the
# reference the glibc build is checked against (same exported symbols).
#
# Usage: docker/faketime.sh [--force]
#   --force rebuilds both libraries even when they are up to date.
# The last two lines of output are always
#   glibc=<path>
#   musl=<path>
#
# glibc build (docker/faketime-glibc-build.sh runs inside the container):
#   flags  what Debian's package build uses: DEB_CFLAGS_MAINT_APPEND and
#          DEB_BUILD_MAINT_OPTIONS read from the source's debian/rules
#          (-DMULTI_ARCH -DFAKE_RANDOM -DFAKE_PID, hardening=+all), turned
#          into CFLAGS/CPPFLAGS/LDFLAGS by this machine's dpkg-buildflags;
#          src/Makefile adds its defaults (-DFAKE_SLEEP -DFAKE_TIMERS ...),
#          PREFIX=/usr as dh passes it; stripped as dh_strip does.
#   apt    the container installs gcc make libc6-dev with the image's own apt
#          sources (the mirror debootstrap was given); if those fail, the
#          host's Debian mirror (apt sources, as build-debian-images.sh reads
#          them) is tried. MOSQUITTO_MATRIX_DEBIAN_MIRROR overrides both.
#   checks the highest GLIBC_ version the library needs is <= the builder's
#          glibc; its exported symbols (objdump -T) equal those of Debian's
#          package library; smoke tests in the container (glibc 2.31) and
#          on this machine.
#   The container (copy in, run, copy out: no bind mounts) is removed
#   afterwards, also on failure. Stamp: target/faketime/glibc/.built-from.
#
# The musl build uses libfaketime's own Makefile (src/Makefile) with
# CC=musl-gcc and Debian's extra defines (-DFAKE_RANDOM -DFAKE_PID, see
# debian/rules); on non-glibc C libraries the code already skips its
# glibc-only parts (dlvsym, versioned symbols) by itself, so nothing else is
# needed. Flags go through FAKETIME_COMPILE_CFLAGS: a CFLAGS=... on the make
# command line would replace the Makefile's own -fPIC and -D flags.
# Each library is smoke-tested: a tiny program of the same C library must see
# time() == 946684800 under FAKETIME="@2000-01-01 00:00:00".
# Build directory and logs: target/faketime/ (src/, build-*/, *.log).
# Needs root only to install missing Debian packages (said first, docker/host.sh) and, to
# build the glibc library, a Docker engine with mosquitto-matrix/debian:bullseye
# (docker/build-debian-images.sh bullseye). Non-interactive.
# MOSQUITTO_MATRIX_DRY_RUN=1: say what would be built or installed, do nothing.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/host.sh"
ROOT=$(cd "$HERE/.." && pwd)
WORK=${MOSQUITTO_MATRIX_FAKETIME_DIR:-$ROOT/target/faketime}
OUT="$WORK/musl"
GLIBC_OUT="$WORK/glibc"
BUILDER_SUITE=bullseye
BUILDER_IMAGE="mosquitto-matrix/debian:$BUILDER_SUITE"
# Bump when the glibc recipe changes (flags, steps): forces a rebuild.
GLIBC_RECIPE=1

die() { echo "faketime.sh: error: $*" >&2; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", b-a}'; }

force=""
for arg in "$@"; do
    case "$arg" in
        --force) force=1 ;;
        -h|--help) sed -n '2,/^set -euo/{/^#/p}' "$0"; exit 0 ;;
        *) die "unknown argument: $arg" ;;
    esac
done
export DEBIAN_FRONTEND=noninteractive
start=$(now)

# apt_install PKG... : install the missing Debian packages (as root, said first).
apt_install() {
    host_apt_install "libfaketime's builds" "$@" || die "apt-get install $* failed (log: $(host_log_dir)/apt-get.log)"
}

if host_dry_run; then
    for f in "$WORK/glibc/libfaketime.so.1" "$WORK/musl/libfaketime.so.1"; do
        if [ -z "$force" ] && [ -f "$f" ]; then echo "libfaketime: $f found"; else host_would "build $f (as $(id -un))"; fi
    done
    if [ -n "$force" ] || [ ! -f "$WORK/glibc/libfaketime.so.1" ] || [ ! -f "$WORK/musl/libfaketime.so.1" ]; then
        host_apt_install "libfaketime's builds" libfaketime gcc libc6-dev binutils dpkg-dev make musl-tools
        bash "$HERE/debian-source.sh" "$WORK/src" libfaketime
    fi
    exit 0
fi

# need_tools CMD:PKG... : install the packages of the commands that are missing.
need_tools() {
    local spec need=()
    for spec in "$@"; do
        command -v "${spec%%:*}" >/dev/null 2>&1 || need+=("${spec#*:}")
    done
    if [ ${#need[@]} -gt 0 ]; then
        echo "libfaketime: installing ${need[*]}"
        apt_install "${need[@]}"
    fi
}

# smoke_test CC LIB : a program built by CC must see the year 2000 with LIB preloaded.
smoke_test() {
    local cc=$1 lib=$2 bin got
    bin="$WORK/smoke-$(basename "$cc")"
    printf '#include <stdio.h>\n#include <time.h>\nint main(void){printf("%%ld\\n",(long)time(NULL));return 0;}\n' >"$bin.c"
    "$cc" -O2 -o "$bin" "$bin.c" || die "smoke test: $cc cannot compile a test program"
    got=$(LD_PRELOAD=$lib FAKETIME="@2000-01-01 00:00:00" "$bin" 2>&1) || true
    [ "$got" = 946684800 ] ||
        die "smoke test: $lib preloaded into a $cc program gives time()=$got, want 946684800 (2000-01-01)"
}

# Debian's source of libfaketime $version, unpacked (once per run).
src=""
get_source() {
    [ -z "$src" ] || return 0
    need_tools dpkg-source:dpkg-dev
    # the very version installed below, so all libraries are the same code
    src=$(bash "$HERE/debian-source.sh" "$WORK/src" "libfaketime=$version" | tail -n1) ||
        die "could not fetch the source of libfaketime $version"
    [ -f "$src/src/Makefile" ] || die "no src/Makefile in $src"
    [ -f "$src/debian/rules" ] || die "no debian/rules in $src"
}

mkdir -p "$WORK"

# --------------------------------------------------------- Debian package ---
pkg_version() { dpkg-query -W -f='${db:Status-Abbrev} ${Version}' libfaketime 2>/dev/null | awk '$1=="ii"{print $2}'; }
deb_path() { dpkg -L libfaketime 2>/dev/null | grep -E '/faketime/libfaketime\.so\.1$' | head -n1; }
deb_lib=$(deb_path || true)
if [ -n "$(pkg_version)" ] && [ -n "$deb_lib" ] && [ -r "$deb_lib" ]; then
    echo "libfaketime (Debian package) $(pkg_version): found"
else
    echo "libfaketime (Debian package): missing, installing Debian's libfaketime"
    apt_install libfaketime
    deb_lib=$(deb_path || true)
    [ -n "$deb_lib" ] && [ -r "$deb_lib" ] || die "libfaketime installed but no .../faketime/libfaketime.so.1 in dpkg -L libfaketime"
    echo "libfaketime (Debian package) $(pkg_version): installed"
fi
version=$(pkg_version)
command -v gcc >/dev/null 2>&1 || apt_install gcc libc6-dev

# ------------------------------------------------------------------ glibc ---
# apt source URIs of TYPE (deb), one per line.
. "$HERE/apt-sources.sh"
# The host's main Debian archive (a deb URI whose path ends in /debian), or nothing.
host_mirror() {
    local uri
    while read -r uri; do
        uri=${uri%/}
        case "$uri" in
            http://*/debian|https://*/debian|file:/*/debian) echo "$uri"; return 0 ;;
        esac
    done < <(apt_source_uris deb)
    return 0
}
# shq STRING : STRING single-quoted for sh.
shq() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
# Highest GLIBC_x.y version LIB needs (its version references), or nothing.
glibc_needed() {
    objdump -p "$1" | sed -n '/^Version References:/,/^$/p' | grep -o 'GLIBC_[0-9][0-9.]*' |
        sed 's/^GLIBC_//' | sort -V | tail -n1
}
# Exported (defined) dynamic symbols of LIB with their versions, sorted.
exported_symbols() {
    objdump -T "$1" | awk '/^[0-9a-f]+ / && $0 !~ /\*UND\*/ { print $(NF-1), $NF }' | sort
}

glibc_lib="$GLIBC_OUT/libfaketime.so.1"
glibc_stamp="$GLIBC_OUT/.built-from"
glibc_want="libfaketime $version gcc in $BUILDER_IMAGE recipe $GLIBC_RECIPE"
if [ -z "$force" ] && [ -f "$glibc_lib" ] && [ "$(cat "$glibc_stamp" 2>/dev/null)" = "$glibc_want" ]; then
    echo "libfaketime (glibc) $version: found (built with glibc $(cat "$GLIBC_OUT/builder-glibc" 2>/dev/null || echo '?'))"
else
    [ -z "$force" ] || echo "libfaketime (glibc): --force, rebuilding"
    t=$(now)
    command -v docker >/dev/null 2>&1 || die "glibc build: docker client not found (run docker/engine.sh first)"
    docker info >/dev/null 2>&1 || die "glibc build: no docker engine answers (run docker/engine.sh first)"
    docker image inspect "$BUILDER_IMAGE" >/dev/null 2>&1 ||
        die "glibc build: image $BUILDER_IMAGE missing (run docker/build-debian-images.sh $BUILDER_SUITE)"
    need_tools objdump:binutils dpkg-buildflags:dpkg-dev make:make
    get_source
    srcdir=$(basename "$src")

    # Debian's build flags: debian/rules' settings, through dpkg-buildflags,
    # for a build in /build/$srcdir (the container's path, for -ffile-prefix-map).
    arch=$(dpkg --print-architecture)
    rules_vars=$(printf 'mosquitto-matrix-print-vars:\n\t@echo "$(DEB_CFLAGS_MAINT_APPEND)|$(DEB_BUILD_MAINT_OPTIONS)"\n' |
        DEB_HOST_ARCH=$arch make -s -C "$src" -f debian/rules -f - mosquitto-matrix-print-vars 2>&1) ||
        die "glibc build: cannot read DEB_CFLAGS_MAINT_APPEND / DEB_BUILD_MAINT_OPTIONS from $src/debian/rules: $rules_vars"
    cflags_append=${rules_vars%%|*}
    maint_options=${rules_vars#*|}
    case "$cflags_append" in *-DFAKE_*) ;; *) die "glibc build: debian/rules gives DEB_CFLAGS_MAINT_APPEND='$cflags_append' (want Debian's -DFAKE_RANDOM -DFAKE_PID ...)" ;; esac
    flags() {
        DEB_BUILD_PATH="/build/$srcdir" DEB_HOST_ARCH=$arch \
            DEB_CFLAGS_MAINT_APPEND="$cflags_append" DEB_BUILD_MAINT_OPTIONS="$maint_options" \
            dpkg-buildflags --get "$1"
    }
    cflags=$(flags CFLAGS) && cppflags=$(flags CPPFLAGS) && ldflags=$(flags LDFLAGS) ||
        die "glibc build: dpkg-buildflags failed"

    build="$WORK/build-glibc"
    log="$WORK/build-glibc.log"
    rm -rf "$build"
    mkdir -p "$build/$srcdir"
    cp -a "$src/src" "$build/$srcdir/src"
    install -m 0755 "$HERE/faketime-glibc-build.sh" "$build/faketime-glibc-build.sh"
    {
        echo "SRCDIR=$(shq "$srcdir")"
        echo "SUITE=$(shq "$BUILDER_SUITE")"
        echo "PREFIX=/usr"
        echo "CFLAGS=$(shq "$cflags")"
        echo "CPPFLAGS=$(shq "$cppflags")"
        echo "LDFLAGS=$(shq "$ldflags")"
        echo "MIRROR=$(shq "${MOSQUITTO_MATRIX_DEBIAN_MIRROR:-}")"
        echo "HOST_MIRROR=$(shq "$(host_mirror)")"
    } >"$build/build.env"

    echo "libfaketime (glibc) $version: building in a $BUILDER_IMAGE container (log: $log)"
    : >"$log"
    ctr=""
    remove_container() {
        [ -n "$ctr" ] || return 0
        docker rm -f "$ctr" >/dev/null 2>&1 || echo "faketime.sh: warning: could not remove build container $ctr" >&2
        ctr=""
    }
    trap remove_container EXIT
    # container_step WHAT CMD... : run a docker command, log it, die naming WHAT.
    container_step() {
        local what=$1; shift
        echo "== host: $what" >>"$log"
        "$@" </dev/null >>"$log" 2>&1 || {
            tail -n 20 "$log" >&2
            die "glibc build: $what failed (log: $log)"
        }
    }
    echo "== host: docker create $BUILDER_IMAGE" >>"$log"
    ctr=$(docker create --label org.mosquitto-matrix.role=faketime-build \
        --entrypoint /bin/sh "$BUILDER_IMAGE" /build/faketime-glibc-build.sh 2>>"$log") || {
        ctr=""; tail -n 20 "$log" >&2; die "glibc build: docker create $BUILDER_IMAGE failed (log: $log)"; }
    container_step "copying the source into the container" docker cp "$build" "$ctr:/build"
    echo "== host: docker start -a" >>"$log"
    if ! docker start -a "$ctr" </dev/null >>"$log" 2>&1; then
        failed=$(grep -E '^== ' "$log" | tail -n1 | sed 's/^== //')
        tail -n 20 "$log" >&2
        die "glibc build: step '${failed:-container start}' failed in the $BUILDER_IMAGE container (log: $log)"
    fi
    container_step "copying the libraries out of the container" docker cp "$ctr:/build/out" "$build/out"
    remove_container
    trap - EXIT

    # checks on the result, before it replaces anything
    builder_glibc=$(cat "$build/out/builder-glibc")
    needs=$(glibc_needed "$build/out/libfaketime.so.1")
    [ -n "$needs" ] || die "glibc build: $build/out/libfaketime.so.1 references no GLIBC_ version (objdump -p): not a glibc library?"
    [ "$(printf '%s\n%s\n' "$needs" "$builder_glibc" | sort -V | tail -n1)" = "$builder_glibc" ] ||
        die "glibc build: the library needs GLIBC_$needs, newer than the builder's glibc $builder_glibc"
    if ! diff <(exported_symbols "$deb_lib") <(exported_symbols "$build/out/libfaketime.so.1") >"$WORK/glibc-symbols.diff"; then
        sed 's/^/    /' "$WORK/glibc-symbols.diff" | tail -n 20 >&2
        die "glibc build: exported symbols differ from Debian's $deb_lib ('<' Debian only, '>' ours; $WORK/glibc-symbols.diff)"
    fi
    mkdir -p "$GLIBC_OUT"
    install -m 0644 "$build/out/libfaketime.so.1" "$build/out/libfaketimeMT.so.1" "$GLIBC_OUT/"
    install -m 0644 "$build/out/builder-glibc" "$build/out/builder-gcc" "$GLIBC_OUT/"
    { echo "CFLAGS=$cflags"; echo "CPPFLAGS=$cppflags"; echo "LDFLAGS=$ldflags"; } >"$GLIBC_OUT/build-flags"
    echo "$glibc_want" >"$glibc_stamp"
    echo "libfaketime (glibc) $version: built in $(elapsed "$t" "$(now)") s (glibc $builder_glibc, needs GLIBC_$needs; exports the same $(exported_symbols "$glibc_lib" | wc -l) symbols as Debian's)"
fi
# also on warm runs: this machine's glibc loads it
smoke_test gcc "$glibc_lib"

# ------------------------------------------------------------------- musl ---
musl_lib="$OUT/libfaketime.so.1"
stamp="$OUT/.built-from"
want="libfaketime $version musl-gcc"
if [ -z "$force" ] && [ -f "$musl_lib" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    echo "libfaketime (musl) $version: found"
else
    [ -z "$force" ] || echo "libfaketime (musl): --force, rebuilding"
    t=$(now)
    need_tools musl-gcc:musl-tools make:make
    get_source
    build="$WORK/build-musl"
    log="$WORK/build-musl.log"
    rm -rf "$build"
    cp -a "$src/src" "$build"
    echo "libfaketime (musl) $version: building with musl-gcc (log: $log)"
    if ! nice make -C "$build" CC=musl-gcc \
        FAKETIME_COMPILE_CFLAGS="-O2 -DFAKE_RANDOM -DFAKE_PID" \
        libfaketime.so.1 libfaketimeMT.so.1 </dev/null >"$log" 2>&1; then
        tail -n 20 "$log" >&2
        die "make CC=musl-gcc in $build failed (log: $log)"
    fi
    readelf -d "$build/libfaketime.so.1" | grep -q 'NEEDED.*\[libc\.so\]' ||
        die "$build/libfaketime.so.1 is not linked against musl's libc.so: $(readelf -d "$build/libfaketime.so.1" | grep NEEDED | tr -s ' ' | tr '\n' ';')"
    mkdir -p "$OUT"
    install -m 0644 "$build/libfaketime.so.1" "$build/libfaketimeMT.so.1" "$OUT/"
    smoke_test musl-gcc "$musl_lib"
    echo "$want" >"$stamp"
    echo "libfaketime (musl) $version: built in $(elapsed "$t" "$(now)") s"
fi

echo "libfaketime: ready in $(elapsed "$start" "$(now)") s"
echo "glibc=$glibc_lib"
echo "musl=$musl_lib"
