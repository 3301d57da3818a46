#!/usr/bin/env bash
# Build mosquitto-matrix/musl:<version>: Debian bookworm's Mosquitto, built
# with musl (Debian's musl-tools, musl-gcc) and dynamically linked against
# musl -- a stand-in for the official Alpine-based eclipse-mosquitto images,
# which cannot be pulled here. Dynamic, not static, so that LD_PRELOAD (e.g.
# the musl libfaketime from docker/faketime.sh) works.
#
# Usage: docker/build-musl-image.sh [--force] [VERSION]
#   VERSION: Mosquitto's upstream version, default 2.0.11 (bookworm's).
#   Without --force an existing image is kept (`found`) unless its
#   org.mosquitto-matrix.recipe-hash label (this script, mosquitto.conf, passwd, the
#   version) no longer matches: then it is rebuilt (stale); --force rebuilds
#   everything, sources unpacked again included.
#
# Built on this machine (not in a container), under target/musl-mosquitto/
# (sources in src/, builds in build/, install prefix in prefix/, image
# rootfs in rootfs/, logs in logs/), from Debian's own source packages
# (apt-get source via docker/debian-source.sh, deb-src enabled if needed):
#   openssl        static libcrypto/libssl (no-shared), musl-gcc. Mosquitto
#                  needs it even without TLS listeners: without WITH_TLS it
#                  compares passwords in clear text, so the "$6$" entries of
#                  docker/passwd would never match.
#   libwebsockets  cmake, CC=musl-gcc, static, LWS_WITH_EXTERNAL_POLL=ON like
#                  the official images, IPv6 on, no client/extensions/
#                  zlib/HTTP2/test apps; built with SSL (against the openssl
#                  above) because Mosquitto's websockets.c, built WITH_TLS,
#                  sets lws's TLS fields -- as the official images do.
#   mosquitto      make -C src mosquitto with WITH_WEBSOCKETS=yes WITH_TLS=yes
#                  WITH_CJSON=no WITH_DOCS=no WITH_SRV=no WITH_ADNS=no
#                  WITH_SYSTEMD=no: the broker only, openssl and lws linked in
#                  statically, musl dynamically (interpreter
#                  /lib/ld-musl-x86_64.so.1), stripped. The version is the one
#                  in mosquitto-matrix/debian:bookworm when that image exists
#                  (its org.mosquitto-matrix.mosquitto-package label), so both
#                  run the same code.
# musl-gcc sees only musl's headers; openssl and lws also need the kernel's
# (linux/*.h, asm/*.h: Debian's linux-libc-dev), given through a directory of
# three symlinks (build/kernel-headers).
#
# The image (docker import of a tarball, no registry) holds only:
#   /lib/ld-musl-x86_64.so.1   musl's loader + libc (Debian's musl package)
#   /usr/sbin/mosquitto
#   /bin/busybox + /bin/sh     Debian's busybox-static, for `docker exec sh`
#   /etc/passwd, /etc/group    root and mosquitto (uid/gid 1883, like the
#                              official Alpine images)
#   /mosquitto/{config,data,log} like the Debian images (config and passwd
#                              from docker/, passwd 0600 owned by mosquitto)
#   /tmp
# with ENV VERSION / LWS_VERSION, EXPOSE 1883 9001 and
# CMD ["/usr/sbin/mosquitto","-c","/mosquitto/config/mosquitto.conf"].
# Needs root only to install missing build tools (apt-get, said first: docker/host.sh);
# the image's file owners (mosquitto 1883) are set in the tarball, not on disk, so the
# build runs as the invoking user. Non-interactive; builds run under nice.
# MOSQUITTO_MATRIX_DRY_RUN=1: say what would be built, do nothing.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/host.sh"
ROOT=$(cd "$HERE/.." && pwd)
REPO=${MOSQUITTO_MATRIX_MUSL_REPO:-mosquitto-matrix/musl}
WORK=${MOSQUITTO_MATRIX_MUSL_DIR:-$ROOT/target/musl-mosquitto}
DEBIAN_IMAGE=${MOSQUITTO_MATRIX_MUSL_PIN_FROM:-mosquitto-matrix/debian:bookworm}
MOSQ_UID=1883
MOSQ_GID=1883

die() { echo "build-musl-image.sh: error: $*" >&2; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", b-a}'; }

force=""
version=""
for arg in "$@"; do
    case "$arg" in
        --force) force=1 ;;
        -h|--help) sed -n '2,/^set -euo/{/^#/p}' "$0"; exit 0 ;;
        -*) die "unknown option: $arg" ;;
        *) [ -z "$version" ] || die "only one VERSION"; version=$arg ;;
    esac
done
version=${version:-2.0.11}
case "$version" in *[!0-9.]*|"") die "bad version: $version" ;; esac
tag="$REPO:$version"

command -v docker >/dev/null 2>&1 || die "docker client not found (run docker/engine.sh first)"
docker info >/dev/null 2>&1 || die "no docker engine answers (run docker/engine.sh first)"

start=$(now)
recipe=$({ cat "$0" "$HERE/mosquitto.conf" "$HERE/passwd"; echo "version $version"; } | sha256sum | cut -c1-16)
have=$(docker image inspect -f '{{index .Config.Labels "org.mosquitto-matrix.recipe-hash"}}' "$tag" 2>/dev/null || true)
if [ -z "$force" ] && [ -n "$have" ] && [ "$have" = "$recipe" ]; then
    echo "image $tag: found"
    exit 0
fi
if [ -z "$force" ] && docker image inspect "$tag" >/dev/null 2>&1; then
    echo "image $tag: stale (its recipe changed, or it has no recipe-hash label)"
fi
if host_dry_run; then
    host_apt_install "the musl image's build tools" musl-tools cmake make perl dpkg-dev binutils linux-libc-dev
    for s in mosquitto libwebsockets openssl; do bash "$HERE/debian-source.sh" "$WORK/src" "$s"; done
    host_would "build $tag under $WORK (as $(id -un): openssl, libwebsockets and mosquitto with musl-gcc), then docker import"
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
LOGS="$WORK/logs"
if [ -n "$force" ]; then
    rm -rf "$WORK/build" "$WORK/prefix" "$WORK/rootfs" "$WORK/src"
fi
mkdir -p "$LOGS" "$WORK/build" "$WORK/src"
PREFIX="$WORK/prefix"
KHDR="$WORK/build/kernel-headers"
JOBS=$(nproc 2>/dev/null || echo 2)

# step NAME CMD... : run CMD with output to logs/NAME.log; on failure show its tail and die.
# CMD runs in a background subshell and is waited for: inside `if ! CMD` bash
# would switch off set -e in the functions below.
step() {
    local name=$1 t log rc=0
    shift
    log="$LOGS/$name.log"
    t=$(now)
    ( "$@" ) </dev/null >"$log" 2>&1 &
    wait $! || rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "image $tag: step $name FAILED after $(elapsed "$t" "$(now)") s; last lines of $log:" >&2
        tail -n 30 "$log" | sed 's/^/    /' >&2
        die "$name failed (log: $log)"
    fi
    echo "  $name: $(elapsed "$t" "$(now)") s"
}

# ------------------------------------------------------------ host tools ---
need=()
command -v musl-gcc >/dev/null 2>&1 || need+=(musl-tools)
command -v cmake >/dev/null 2>&1 || need+=(cmake)
command -v make >/dev/null 2>&1 || need+=(make)
command -v perl >/dev/null 2>&1 || need+=(perl)
command -v dpkg-source >/dev/null 2>&1 || need+=(dpkg-dev)
command -v readelf >/dev/null 2>&1 || need+=(binutils)
[ -f /usr/include/linux/mman.h ] || need+=(linux-libc-dev)
if [ ${#need[@]} -gt 0 ]; then
    echo "image $tag: installing build tools: ${need[*]}"
    host_apt_install "the musl image's build tools" "${need[@]}" || die "apt-get install ${need[*]} failed (log: $(host_log_dir)/apt-get.log)"
fi
MUSL_LOADER=$(readlink -f /lib/ld-musl-x86_64.so.1 2>/dev/null || true)
[ -n "$MUSL_LOADER" ] && [ -f "$MUSL_LOADER" ] || die "musl's loader /lib/ld-musl-x86_64.so.1 missing (Debian package musl)"
musl_pkg=$(dpkg-query -W -f='${Version}' musl 2>/dev/null || echo unknown)

mkdir -p "$KHDR"
ln -sfn /usr/include/linux "$KHDR/linux"
ln -sfn /usr/include/asm-generic "$KHDR/asm-generic"
ln -sfn "/usr/include/$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)/asm" "$KHDR/asm"
[ -f "$KHDR/asm/types.h" ] || die "kernel headers: no asm/types.h under $(readlink -f "$KHDR/asm")"

# --------------------------------------------------------------- sources ---
# source SPEC : unpack a Debian source package under src/, print its directory.
source_dir() { bash "$HERE/debian-source.sh" "$WORK/src" "$1" | tail -n1; }
# source_version NAME : the Debian version recorded by debian-source.sh.
source_version() { awk '{print $1}' "$WORK/src/.unpacked-$1"; }

mosq_spec=mosquitto
pin=$(docker image inspect -f '{{index .Config.Labels "org.mosquitto-matrix.mosquitto-package"}}' "$DEBIAN_IMAGE" 2>/dev/null || true)
if [ -n "$pin" ] && [ "${pin%%-*}" = "$version" ]; then
    mosq_spec="mosquitto=$pin"
fi
mosq_src=$(source_dir "$mosq_spec") || die "could not fetch Debian's mosquitto source ($mosq_spec)"
lws_src=$(source_dir libwebsockets) || die "could not fetch Debian's libwebsockets source"
ssl_src=$(source_dir openssl) || die "could not fetch Debian's openssl source"
mosq_pkg=$(source_version mosquitto)
lws_pkg=$(source_version libwebsockets)
ssl_pkg=$(source_version openssl)
mosq_upstream=${mosq_pkg#*:}; mosq_upstream=${mosq_upstream%-*}
[ "$mosq_upstream" = "$version" ] ||
    die "Debian's mosquitto source is $mosq_pkg, not $version (ask for $mosq_upstream, or pass --force after changing apt sources)"
lws_upstream=${lws_pkg#*:}; lws_upstream=${lws_upstream%-*}
echo "image $tag: sources mosquitto $mosq_pkg, libwebsockets $lws_pkg, openssl $ssl_pkg; musl $musl_pkg"

# ----------------------------------------------------------------- build ---
# Each step leaves a stamp naming what it built; a stamp that matches skips it.
build_openssl() {
    rm -rf "$WORK/build/openssl"
    cp -a "$ssl_src" "$WORK/build/openssl"
    cd "$WORK/build/openssl"
    # no-afalgeng/no-dso/no-async: the Linux crypto-socket engine, dlopen'ed
    # modules and ucontext-based async jobs are of no use here (musl has no
    # makecontext).
    CC=musl-gcc nice ./Configure linux-x86_64 no-shared no-tests no-afalgeng no-dso no-async \
        "-isystem" "$KHDR" -Os \
        --prefix="$PREFIX" --libdir=lib --openssldir=/etc/ssl
    nice make -j"$JOBS" build_libs
    make install_dev
}
build_lws() {
    rm -rf "$WORK/build/lws"
    mkdir -p "$WORK/build/lws"
    cd "$WORK/build/lws"
    # GIT_CEILING_DIRECTORIES: lws's cmake names its build after `git describe`
    # in its source dir, which would find this repository (target/ is inside it).
    GIT_CEILING_DIRECTORIES="$WORK" CC=musl-gcc CFLAGS="-isystem $KHDR -Os" nice cmake "$lws_src" \
        -DCMAKE_BUILD_TYPE=MinSizeRel \
        -DCMAKE_INSTALL_PREFIX="$PREFIX" \
        -DDISABLE_WERROR=ON \
        -DLWS_WITH_SSL=ON \
        -DLWS_OPENSSL_INCLUDE_DIRS="$PREFIX/include" \
        -DLWS_OPENSSL_LIBRARIES="$PREFIX/lib/libssl.a;$PREFIX/lib/libcrypto.a" \
        -DLWS_WITH_SHARED=OFF -DLWS_WITH_STATIC=ON \
        -DLWS_WITH_EXTERNAL_POLL=ON \
        -DLWS_IPV6=ON \
        -DLWS_WITHOUT_BUILTIN_GETIFADDRS=ON \
        -DLWS_WITHOUT_CLIENT=ON \
        -DLWS_WITHOUT_EXTENSIONS=ON \
        -DLWS_WITHOUT_TESTAPPS=ON \
        -DLWS_WITH_MINIMAL_EXAMPLES=OFF \
        -DLWS_WITH_HTTP2=OFF \
        -DLWS_WITH_ZIP_FOPS=OFF -DLWS_WITH_ZLIB=OFF \
        -DLWS_WITH_LIBEV=OFF -DLWS_WITH_LIBUV=OFF -DLWS_WITH_LIBEVENT=OFF -DLWS_WITH_GLIB=OFF
    nice make -j"$JOBS"
    make install
    grep -q '^#define LWS_WITH_EXTERNAL_POLL' "$PREFIX/include/lws_config.h"
}
build_mosquitto() {
    rm -rf "$WORK/build/mosquitto"
    cp -a "$mosq_src" "$WORK/build/mosquitto"
    nice make -C "$WORK/build/mosquitto/src" -j"$JOBS" \
        CC=musl-gcc \
        CFLAGS="-Wall -O2 -isystem $KHDR -I$PREFIX/include" \
        LDFLAGS="-L$PREFIX/lib" \
        WITH_WEBSOCKETS=yes WITH_TLS=yes WITH_CJSON=no WITH_DOCS=no \
        WITH_SRV=no WITH_ADNS=no WITH_SYSTEMD=no WITH_STRIP=no \
        WITH_SHARED_LIBRARIES=no WITH_BUNDLED_DEPS=yes \
        mosquitto
}
# stamp_ok FILE WANT
stamp_ok() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }

if stamp_ok "$PREFIX/.openssl" "$ssl_pkg"; then echo "  openssl $ssl_pkg: found"; else
    rm -f "$PREFIX/.openssl" "$PREFIX/.lws"
    step openssl build_openssl; echo "$ssl_pkg" >"$PREFIX/.openssl"; fi
if stamp_ok "$PREFIX/.lws" "$lws_pkg"; then echo "  libwebsockets $lws_pkg: found"; else
    step libwebsockets build_lws; echo "$lws_pkg" >"$PREFIX/.lws"; fi
mosq_stamp="$WORK/build/.mosquitto"
mosq_want="$mosq_pkg lws=$lws_pkg openssl=$ssl_pkg"
if stamp_ok "$mosq_stamp" "$mosq_want" && [ -x "$WORK/build/mosquitto/src/mosquitto" ]; then
    echo "  mosquitto $mosq_pkg: found"
else
    rm -f "$mosq_stamp"
    step mosquitto build_mosquitto; echo "$mosq_want" >"$mosq_stamp"
fi
bin="$WORK/build/mosquitto/src/mosquitto"
interp=$(readelf -l "$bin" | sed -n 's/.*Requesting program interpreter: \(.*\)\]/\1/p')
[ "$interp" = /lib/ld-musl-x86_64.so.1 ] || die "$bin: interpreter is '${interp:-none (static?)}', want /lib/ld-musl-x86_64.so.1"
needed=$(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
[ "$needed" = "libc.so " ] || die "$bin needs '$needed', want only musl's libc.so"

# ---------------------------------------------------------------- rootfs ---
# busybox-static from Debian, unpacked (not installed on this machine)
bb_dir="$WORK/build/busybox"
if [ ! -x "$bb_dir/bin/busybox" ]; then
    rm -rf "$bb_dir"
    mkdir -p "$bb_dir"
    dl() {
        cd "$bb_dir"
        apt-get download busybox-static
        dpkg-deb -x busybox-static_*.deb .
    }
    if ! ( dl ) </dev/null >"$LOGS/busybox.log" 2>&1; then
        host_need_root "apt-get update" "apt's lists have no busybox-static to download" || die "apt-get download busybox-static failed (log: $LOGS/busybox.log)"
        host_root apt-get update -q </dev/null >>"$LOGS/busybox.log" 2>&1 || die "apt-get update failed (log: $LOGS/busybox.log)"
        step busybox dl
    fi
fi
bb_pkg=$(dpkg-deb -f "$bb_dir"/busybox-static_*.deb Version)

rootfs="$WORK/rootfs"
rm -rf "$rootfs"
mkdir -p "$rootfs"/{lib,bin,usr/sbin,etc,tmp,mosquitto/config,mosquitto/data,mosquitto/log}
install -m 0755 "$MUSL_LOADER" "$rootfs/lib/ld-musl-x86_64.so.1"
install -m 0755 -s "$bin" "$rootfs/usr/sbin/mosquitto"
install -m 0755 "$bb_dir/bin/busybox" "$rootfs/bin/busybox"
ln -s busybox "$rootfs/bin/sh"
chmod 1777 "$rootfs/tmp"
cat >"$rootfs/etc/passwd" <<EOF
root:x:0:0:root:/root:/bin/sh
mosquitto:x:$MOSQ_UID:$MOSQ_GID:mosquitto:/var/empty:/sbin/nologin
EOF
cat >"$rootfs/etc/group" <<EOF
root:x:0:
mosquitto:x:$MOSQ_GID:
EOF
install -m 0644 "$HERE/mosquitto.conf" "$rootfs/mosquitto/config/mosquitto.conf"
# read by the broker after it drops to the mosquitto user (see build-debian-images.sh);
# owned by mosquitto in the image: the tarball says so (import below), not the disk.
install -m 0600 "$HERE/passwd" "$rootfs/mosquitto/config/passwd"
chmod 0755 "$rootfs/mosquitto/config" "$rootfs/mosquitto/data" "$rootfs/mosquitto/log"

# ----------------------------------------------------------------- image ---
old_id=$(docker image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)
# The image's tarball, owners set here and not on disk (no root): everything root's but
# the mosquitto user's three folders and password file, appended with its uid/gid, then the
# config file, root's again (docker import refuses a path twice, so the folders are left
# out of the first pass).
import() {
    local tarball="$WORK/build/image.tar"
    tar --numeric-owner --owner=0 --group=0 -C "$rootfs" -cf "$tarball" \
        --exclude=./mosquitto/config --exclude=./mosquitto/data --exclude=./mosquitto/log .
    tar --numeric-owner --owner="$MOSQ_UID" --group="$MOSQ_GID" --no-recursion -C "$rootfs" -rf "$tarball" \
        ./mosquitto/config ./mosquitto/data ./mosquitto/log ./mosquitto/config/passwd
    tar --numeric-owner --owner=0 --group=0 -C "$rootfs" -rf "$tarball" ./mosquitto/config/mosquitto.conf
    docker import \
            --change "ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin" \
            --change "ENV VERSION=$version" \
            --change "ENV LWS_VERSION=$lws_upstream" \
            --change "LABEL org.mosquitto-matrix.libc=musl" \
            --change "LABEL org.mosquitto-matrix.musl-package=$musl_pkg" \
            --change "LABEL org.mosquitto-matrix.mosquitto-package=$mosq_pkg" \
            --change "LABEL org.mosquitto-matrix.mosquitto-build=musl-gcc" \
            --change "LABEL org.mosquitto-matrix.libwebsockets-package=$lws_pkg" \
            --change "LABEL org.mosquitto-matrix.libwebsockets-linkage=static" \
            --change "LABEL org.mosquitto-matrix.openssl-package=$ssl_pkg" \
            --change "LABEL org.mosquitto-matrix.busybox-package=$bb_pkg" \
            --change "LABEL org.mosquitto-matrix.mosquitto-uid=$MOSQ_UID" \
            --change "LABEL org.mosquitto-matrix.mosquitto-gid=$MOSQ_GID" \
            --change "EXPOSE 1883 9001" \
            --change 'CMD ["/usr/sbin/mosquitto","-c","/mosquitto/config/mosquitto.conf"]' \
            --change "LABEL org.mosquitto-matrix.recipe-hash=$recipe" \
            -m "Debian $mosq_pkg built with musl-gcc (lws $lws_pkg, openssl $ssl_pkg, static)" \
            - "$tag" <"$tarball"
    rm -f "$tarball"
}
step import import
if [ -n "$old_id" ] && [ "$old_id" != "$(docker image inspect -f '{{.Id}}' "$tag")" ]; then
    docker rmi "$old_id" >/dev/null 2>&1 || true
fi

# smoke test: the loader and binary run in the image
# (mosquitto -h prints its usage and exits 3)
got=$(docker run --rm --network none "$tag" /usr/sbin/mosquitto -h 2>&1 | head -n1 || true)
case "$got" in
    "mosquitto version $version"*) ;;
    *) die "smoke test: \`docker run $tag mosquitto -h\` printed '$got', want 'mosquitto version $version'" ;;
esac
size=$(docker image inspect -f '{{.Size}}' "$tag")
echo "image $tag: built in $(elapsed "$start" "$(now)") s ($((size / 1024)) KiB; VERSION=$version LWS_VERSION=$lws_upstream, interpreter $interp)"
