#!/bin/sh
# Runs INSIDE a throwaway container of mosquitto-matrix/debian:bullseye
# (glibc 2.31), started by docker/faketime.sh, which copies /build in first:
#
#   /build/faketime-glibc-build.sh   this script
#   /build/build.env                 the settings below (sh assignments)
#   /build/SRCDIR/src/               libfaketime's src/ from Debian's source
#
# build.env sets SRCDIR, SUITE, PREFIX, CFLAGS, CPPFLAGS, LDFLAGS (Debian's
# build flags: debian/rules + dpkg-buildflags, worked out by faketime.sh),
# MIRROR (MOSQUITTO_MATRIX_DEBIAN_MIRROR, may be empty) and HOST_MIRROR (the
# host's Debian mirror, may be empty).
#
# Steps, each announced on a line "== STEP" (faketime.sh names the last one
# when this script fails):
#   apt-get update      with the image's own sources (debootstrap wrote the
#                       mirror it used); MIRROR, when set, replaces them; if
#                       the image's own sources fail, HOST_MIRROR is tried
#   apt-get install     gcc make libc6-dev binutils (no recommends)
#   make                src/Makefile's libfaketime.so.1 and libfaketimeMT.so.1,
#                       CFLAGS/CPPFLAGS/LDFLAGS in the environment as dh passes
#                       them (the Makefile appends its own -D flags and -fPIC)
#   strip               as dh_strip does for shared libraries
#   smoke test          time() is 2000-01-01 under FAKETIME="@2000-01-01 00:00:00";
#                       `sleep 1` under FAKETIME="+0 x10" takes < 0.6 s real
#   collect             /build/out/: the two libraries, builder-glibc (e.g.
#                       2.31), builder-gcc
set -eu

step() { echo "== $*"; }
. /build/build.env
export DEBIAN_FRONTEND=noninteractive

use_mirror() {
    echo "deb $1 $SUITE main" >/etc/apt/sources.list
    rm -f /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources
}
# apt-get update, and the index it fetched must know libc6-dev (apt-get update
# only warns about a mirror it cannot reach)
apt_update() {
    apt-get update -q </dev/null || return 1
    apt-cache show libc6-dev >/dev/null 2>&1 || { echo "apt-get update fetched no index that has libc6-dev"; return 1; }
}

if [ -n "$MIRROR" ]; then
    use_mirror "$MIRROR"
    step "apt-get update (MOSQUITTO_MATRIX_DEBIAN_MIRROR: $MIRROR $SUITE)"
    apt_update
else
    step "apt-get update (the image's own sources: $(grep -h '^deb ' /etc/apt/sources.list 2>/dev/null | tr '\n' ';'))"
    if ! apt_update; then
        [ -n "$HOST_MIRROR" ] || { echo "the image's apt sources do not work and the host has no Debian mirror in its apt sources"; exit 1; }
        use_mirror "$HOST_MIRROR"
        step "apt-get update (the image's sources failed; the host's mirror: $HOST_MIRROR $SUITE)"
        apt_update
    fi
fi

step "apt-get install gcc make libc6-dev binutils"
apt-get install -y -q --no-install-recommends gcc make libc6-dev binutils </dev/null

glibc=$(getconf GNU_LIBC_VERSION | awk '{print $2}')
step "make (glibc $glibc, $(gcc --version | head -n1))"
echo "CFLAGS=$CFLAGS"
echo "CPPFLAGS=$CPPFLAGS"
echo "LDFLAGS=$LDFLAGS"
cd "/build/$SRCDIR"
CFLAGS=$CFLAGS CPPFLAGS=$CPPFLAGS LDFLAGS=$LDFLAGS PREFIX=$PREFIX \
    nice make -C src -j2 libfaketime.so.1 libfaketimeMT.so.1 </dev/null

step "strip"
strip --remove-section=.comment --remove-section=.note --strip-unneeded \
    src/libfaketime.so.1 src/libfaketimeMT.so.1

step "smoke test"
printf '#include <stdio.h>\n#include <time.h>\nint main(void){printf("%%ld\\n",(long)time(NULL));return 0;}\n' >/tmp/smoke.c
gcc -O2 -o /tmp/smoke /tmp/smoke.c
for lib in src/libfaketime.so.1 src/libfaketimeMT.so.1; do
    got=$(LD_PRELOAD=$PWD/$lib FAKETIME="@2000-01-01 00:00:00" /tmp/smoke 2>&1) || true
    [ "$got" = 946684800 ] || { echo "$lib: time()=$got under FAKETIME=@2000-01-01, want 946684800"; exit 1; }
    t0=$(date +%s%N)
    LD_PRELOAD=$PWD/$lib FAKETIME="+0 x10" sleep 1
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    [ "$ms" -lt 600 ] || { echo "$lib: sleep 1 under FAKETIME=\"+0 x10\" took $ms ms real, want ~100"; exit 1; }
    echo "$lib: time() 946684800 at @2000-01-01; sleep 1 at x10: $ms ms real"
done

step "collect"
mkdir -p /build/out
cp src/libfaketime.so.1 src/libfaketimeMT.so.1 /build/out/
echo "$glibc" >/build/out/builder-glibc
gcc --version | head -n1 >/build/out/builder-gcc
step "done"
