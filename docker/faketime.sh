#!/usr/bin/env bash
# Make sure libfaketime exists for both C libraries a broker image may use,
# for preloading into real brokers (LD_PRELOAD=<lib> FAKETIME="+0 x10", the
# library bind-mounted read-only into the container) to run their clocks
# faster:
#
#   glibc  Debian's libfaketime package (installed when missing):
#          /usr/lib/<multiarch>/faketime/libfaketime.so.1
#   musl   the same libfaketime version, built from Debian's own source
#          package (apt-get source, deb-src enabled if needed, see
#          debian-source.sh) with Debian's musl-tools (musl-gcc):
#          target/faketime/musl/libfaketime.so.1 (+ libfaketimeMT.so.1)
#
# Usage: docker/faketime.sh [--force]
#   --force rebuilds the musl library even when it is up to date.
# The last two lines of output are always
#   glibc=<path>
#   musl=<path>
#
# The musl build uses libfaketime's own Makefile (src/Makefile) with
# CC=musl-gcc and Debian's extra defines (-DFAKE_RANDOM -DFAKE_PID, see
# debian/rules); on non-glibc C libraries the code already skips its
# glibc-only parts (dlvsym, versioned symbols) by itself, so nothing else is
# needed. Flags go through FAKETIME_COMPILE_CFLAGS: a CFLAGS=... on the make
# command line would replace the Makefile's own -fPIC and -D flags.
# Each library is smoke-tested: a tiny program of the same C library must see
# time() == 946684800 under FAKETIME="@2000-01-01 00:00:00".
# Build directory and logs: target/faketime/ (src/, build-musl/, *.log).
# Needs root (apt-get). Non-interactive.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
WORK=${MOSQUITTO_MATRIX_FAKETIME_DIR:-$ROOT/target/faketime}
OUT="$WORK/musl"

die() { echo "faketime.sh: error: $*" >&2; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", b-a}'; }

force=""
for arg in "$@"; do
    case "$arg" in
        --force) force=1 ;;
        -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
        *) die "unknown argument: $arg" ;;
    esac
done
[ "$(id -u)" -eq 0 ] || die "must run as root (apt-get)"
export DEBIAN_FRONTEND=noninteractive
start=$(now)

apt_updated=""
# apt_install PKG... : install Debian packages (apt-get update once, first).
apt_install() {
    if [ -z "$apt_updated" ]; then
        apt-get update -q </dev/null >"$WORK/apt-get-update.log" 2>&1 ||
            { tail -n 20 "$WORK/apt-get-update.log" >&2; die "apt-get update failed (log: $WORK/apt-get-update.log)"; }
        apt_updated=1
    fi
    apt-get install -y -q --no-install-recommends "$@" </dev/null >"$WORK/apt-get-install.log" 2>&1 ||
        { tail -n 20 "$WORK/apt-get-install.log" >&2; die "apt-get install $* failed (log: $WORK/apt-get-install.log)"; }
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

mkdir -p "$WORK"

# ------------------------------------------------------------------ glibc ---
pkg_version() { dpkg-query -W -f='${db:Status-Abbrev} ${Version}' libfaketime 2>/dev/null | awk '$1=="ii"{print $2}'; }
glibc_path() { dpkg -L libfaketime 2>/dev/null | grep -E '/faketime/libfaketime\.so\.1$' | head -n1; }
glibc_lib=$(glibc_path || true)
if [ -n "$(pkg_version)" ] && [ -n "$glibc_lib" ] && [ -r "$glibc_lib" ]; then
    echo "libfaketime (glibc) $(pkg_version): found"
else
    echo "libfaketime (glibc): missing, installing Debian's libfaketime"
    apt_install libfaketime
    glibc_lib=$(glibc_path || true)
    [ -n "$glibc_lib" ] && [ -r "$glibc_lib" ] || die "libfaketime installed but no .../faketime/libfaketime.so.1 in dpkg -L libfaketime"
    echo "libfaketime (glibc) $(pkg_version): installed"
fi
version=$(pkg_version)
command -v gcc >/dev/null 2>&1 || apt_install gcc libc6-dev
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
    need=()
    command -v musl-gcc >/dev/null 2>&1 || need+=(musl-tools)
    command -v make >/dev/null 2>&1 || need+=(make)
    command -v dpkg-source >/dev/null 2>&1 || need+=(dpkg-dev)
    if [ ${#need[@]} -gt 0 ]; then
        echo "libfaketime (musl): installing ${need[*]}"
        apt_install "${need[@]}"
    fi
    # the very version installed above, so both libraries are the same code
    src=$(bash "$HERE/debian-source.sh" "$WORK/src" "libfaketime=$version" | tail -n1) ||
        die "could not fetch the source of libfaketime $version"
    [ -f "$src/src/Makefile" ] || die "no src/Makefile in $src"
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
