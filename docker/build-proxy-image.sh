#!/usr/bin/env bash
# Build mosquitto-matrix/proxy:<suite> (default bookworm): the reverse proxies people put in
# front of a WebSocket broker, each from Debian's own package, in one image, without any
# container registry (the way build-debian-images.sh builds the broker images):
#
#   debootstrap --variant=minbase --include=nginx,haproxy,caddy,apache2 SUITE ROOTFS MIRROR
#   tar -C ROOTFS -c . | docker import --change ... - mosquitto-matrix/proxy:SUITE
#
# Usage: docker/build-proxy-image.sh [--force] [SUITE]
#   --force rebuilds an image that exists. Without it the image is kept (`found`) unless its
#   org.mosquitto-matrix.recipe-hash label (this script, apt-sources.sh, the suite) no longer
#   matches: then it is rebuilt (stale).
#
# The image is the packages as Debian installs them: their stock configuration files stay
# (/etc/nginx/nginx.conf, /etc/haproxy/haproxy.cfg, /etc/caddy/Caddyfile,
# /etc/apache2/apache2.conf) and the harness (src/engine/proxy.rs) copies the WebSocket site
# of docker/proxies/ in beside them before it starts one proxy per container. No service is
# started while the packages install: a policy-rc.d that says no is in place for the
# debootstrap (its chroot shares this machine's network) and removed afterwards.
# Labels: org.mosquitto-matrix.<proxy>-package = each package's Debian version.
# Log: target/logs/<run>/proxy-<suite>.log.
#
# Root: only to build (debootstrap), said before it starts; run as another user the build
# alone runs again through `sudo -n`. The root fs is built in a `mktemp -d` folder (0700),
# removed at the end, also when the build fails. MOSQUITTO_MATRIX_DRY_RUN=1: say, do nothing.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/host.sh"
REPO=${MOSQUITTO_MATRIX_PROXY_REPO:-mosquitto-matrix/proxy}
PACKAGES=(nginx haproxy caddy apache2)

die() { echo "build-proxy-image.sh: error: $*" >&2; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", b-a}'; }

force=""
suite=bookworm
for arg in "$@"; do
    case "$arg" in
        --force) force=1 ;;
        -h|--help) sed -n '2,/^set -euo/{/^#/p}' "$0"; exit 0 ;;
        -*) die "unknown option: $arg" ;;
        *[!a-z0-9-]*) die "bad suite name: $arg" ;;
        *) suite=$arg ;;
    esac
done

start=$(now)
command -v docker >/dev/null 2>&1 || die "docker client not found (run docker/engine.sh first)"
docker info >/dev/null 2>&1 || die "no docker engine answers (run docker/engine.sh first)"
hash=$({ cat "$0" "$HERE/apt-sources.sh"; echo "suite $suite"; } | sha256sum | cut -c1-16)
have=$(docker image inspect -f '{{index .Config.Labels "org.mosquitto-matrix.recipe-hash"}}' "$REPO:$suite" 2>/dev/null || true)
if [ -z "$force" ] && [ -n "$have" ] && [ "$have" = "$hash" ]; then
    echo "image $REPO:$suite: found ($(elapsed "$start" "$(now)") s)"
    exit 0
fi
if [ -z "$force" ] && docker image inspect "$REPO:$suite" >/dev/null 2>&1; then
    echo "image $REPO:$suite: stale (its recipe changed, or it has no recipe-hash label)"
fi
if host_dry_run; then
    command -v debootstrap >/dev/null 2>&1 || host_apt_install "debootstrap builds the proxies' image" debootstrap
    host_would "build $REPO:$suite as root (debootstrap of Debian's ${PACKAGES[*]} into a mktemp -d folder, then docker import); log in target/logs/<run>/"
    exit 0
fi
LOG_DIR=$(host_log_dir)
log="$LOG_DIR/proxy-$suite.log"
if [ "$(id -u)" -ne 0 ]; then
    host_need_root "building $REPO:$suite" "debootstrap makes device nodes, chroots and sets file owners" ||
        die "cannot build without root"
    touch "$log"
    exec sudo -n env MOSQUITTO_MATRIX_LOG_DIR="$LOG_DIR" MOSQUITTO_MATRIX_PROXY_REPO="$REPO" \
        ${MOSQUITTO_MATRIX_DEBIAN_MIRROR:+MOSQUITTO_MATRIX_DEBIAN_MIRROR="$MOSQUITTO_MATRIX_DEBIAN_MIRROR"} \
        bash "$0" ${force:+--force} "$suite"
fi
echo "root: building $REPO:$suite (debootstrap makes device nodes, chroots and sets file owners)" >&2
host_apt_install "debootstrap builds the proxies' image" debootstrap || die "apt-get install debootstrap failed"

. "$HERE/apt-sources.sh"
mirror=${MOSQUITTO_MATRIX_DEBIAN_MIRROR:-}
if [ -z "$mirror" ]; then
    while read -r uri; do
        uri=${uri%/}
        case "$uri" in
            http://*/debian|https://*/debian|file:/*/debian) mirror=$uri; break ;;
        esac
    done < <(apt_source_uris)
fi
[ -n "$mirror" ] || die "no Debian archive found in the apt sources; set MOSQUITTO_MATRIX_DEBIAN_MIRROR"

# Remove a rootfs, first unmounting anything a failed debootstrap left mounted under it.
cleanup_rootfs() {
    local root=$1 m
    [ -e "$root" ] || return 0
    awk -v r="$root/" 'index($2, r)==1 {print $2}' /proc/mounts | sort -r |
        while read -r m; do umount -l "$m" || true; done
    rm -rf --one-file-system "$root"
}

build() {
    local root="$BUILD_DIR/proxy-$suite/rootfs"
    set -x
    cleanup_rootfs "$root"
    mkdir -p "$root/etc/dpkg/dpkg.cfg.d" "$root/usr/sbin"
    echo force-unsafe-io >"$root/etc/dpkg/dpkg.cfg.d/mosquitto-matrix-unsafe-io"
    # No service may start inside the chroot: it shares this machine's network (nginx and
    # apache2 would bind port 80 here).
    printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
    chmod 0755 "$root/usr/sbin/policy-rc.d"

    debootstrap --variant=minbase --include="$(IFS=,; echo "${PACKAGES[*]}")" --components=main \
        "$suite" "$root" "$mirror"
    ! grep -q " $root/" /proc/mounts || { echo "unexpected mounts under $root"; return 1; }

    local changes=() p v
    for p in "${PACKAGES[@]}"; do
        v=$(dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Version}' "$p")
        [ -n "$v" ] || { echo "$p not installed in $root"; return 1; }
        changes+=(--change "LABEL org.mosquitto-matrix.$p-package=$v")
        echo "$p $v" >>"$BUILD_DIR/proxy-$suite/versions"
    done
    # The stock haproxy.cfg names a stats socket under /run/haproxy, which its init script
    # would create; apache2ctl creates its own run directory.
    mkdir -p "$root/run/haproxy"

    { set +x; } 2>/dev/null
    echo "+ slimming $root"
    rm -f "$root/etc/dpkg/dpkg.cfg.d/mosquitto-matrix-unsafe-io" "$root/usr/sbin/policy-rc.d"
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin \
        "$root"/var/lib/apt/lists/* "$root"/var/log/apt/* \
        "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
        "$root"/usr/share/locale/* "$root"/tmp/* "$root"/var/tmp/*
    set -x

    tar --numeric-owner -C "$root" -c . |
        docker import \
            --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
            --change "LABEL org.mosquitto-matrix.suite=$suite" \
            --change "LABEL org.mosquitto-matrix.recipe-hash=$hash" \
            "${changes[@]}" \
            --change "EXPOSE 8080 8443" \
            --change 'CMD ["/bin/sh","-c","echo the harness chooses the proxy; exit 2"]' \
            -m "debootstrap --variant=minbase --include=$(IFS=,; echo "${PACKAGES[*]}") $suite" \
            - "$REPO:$suite"
    cleanup_rootfs "$root"
    set +x
}

BUILD_DIR=$(mktemp -d "${TMPDIR:-/tmp}/mosquitto-matrix-proxy.XXXXXXXX")
trap 'cleanup_rootfs "$BUILD_DIR/proxy-$suite/rootfs"; rm -rf --one-file-system "$BUILD_DIR"; host_give_back "$LOG_DIR"' EXIT
mkdir -p "$BUILD_DIR/proxy-$suite"
echo "image $REPO:$suite: building (log: $log)"
old_id=$(docker image inspect -f '{{.Id}}' "$REPO:$suite" 2>/dev/null || true)
if ! ( build ) </dev/null >"$log" 2>&1; then
    echo "image $REPO:$suite: FAILED after $(elapsed "$start" "$(now)") s; last lines of $log:" >&2
    tail -n 30 "$log" | sed 's/^/    /' >&2
    exit 1
fi
if [ -n "$old_id" ] && [ "$old_id" != "$(docker image inspect -f '{{.Id}}' "$REPO:$suite")" ]; then
    docker rmi "$old_id" >/dev/null 2>&1 || true
fi
echo "image $REPO:$suite: built in $(elapsed "$start" "$(now)") s ($(tr '\n' ' ' <"$BUILD_DIR/proxy-$suite/versions"))"
