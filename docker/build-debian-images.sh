#!/usr/bin/env bash
# Build mosquitto-matrix/debian:<suite> images from Debian's own mosquitto
# package, without any container registry:
#
#   debootstrap --variant=minbase --include=mosquitto SUITE ROOTFS MIRROR
#   tar -C ROOTFS -c . | docker import --change ... - mosquitto-matrix/debian:SUITE
#
# Usage: docker/build-debian-images.sh [--force] [SUITE...]
#   SUITE defaults to: bullseye bookworm trixie sid
#   --force rebuilds images that already exist. Without it an image is kept (`found`)
#   unless its org.mosquitto-matrix.recipe-hash label (this script, apt-sources.sh,
#   mosquitto.conf, passwd, the suite) no longer matches: then it is rebuilt (stale).
#
# The images follow the layout of the official eclipse-mosquitto images:
#   /mosquitto/config/mosquitto.conf (+ passwd), /mosquitto/data and
#   /mosquitto/log owned by the mosquitto user, ports 1883 and 9001,
#   CMD ["/usr/sbin/mosquitto","-c","/mosquitto/config/mosquitto.conf"].
# ENV VERSION / LWS_VERSION and the org.mosquitto-matrix.* labels are read
# from the packages installed in the rootfs.
#
# The Debian mirror is taken from this machine's apt sources
# (/etc/apt/sources.list, /etc/apt/sources.list.d/*.list and *.sources);
# set MOSQUITTO_MATRIX_DEBIAN_MIRROR to override it.
# Suites are built in parallel; logs go to target/logs/<run>/debian-<suite>.log.
#
# Root: only to build (debootstrap makes device nodes, chroots and owns files as other
# users), said before it starts; checking what exists needs only the engine. Run as
# another user, the build alone runs again through `sudo -n`. Root-fs builds happen in a
# `mktemp -d` folder (0700), removed at the end, also when a build fails.
# MOSQUITTO_MATRIX_DRY_RUN=1: print what would be built, build nothing.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/host.sh"
REPO=${MOSQUITTO_MATRIX_IMAGE_REPO:-mosquitto-matrix/debian}
DEFAULT_SUITES=(bullseye bookworm trixie sid)

die() { echo "build-debian-images.sh: error: $*" >&2; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", b-a}'; }

force=""
suites=()
for arg in "$@"; do
    case "$arg" in
        --force) force=1 ;;
        -h|--help) sed -n '2,/^set -euo/{/^#/p}' "$0"; exit 0 ;;
        -*) die "unknown option: $arg" ;;
        *) suites+=("$arg") ;;
    esac
done
[ ${#suites[@]} -gt 0 ] || suites=("${DEFAULT_SUITES[@]}")

command -v docker >/dev/null 2>&1 || die "docker client not found (run docker/engine.sh first)"
docker info >/dev/null 2>&1 || die "no docker engine answers (run docker/engine.sh first)"
[ -r "$HERE/mosquitto.conf" ] || die "missing $HERE/mosquitto.conf"
[ -r "$HERE/passwd" ] || die "missing $HERE/passwd"

# ---------------------------------------------------------------- mirror ---
# The URIs of enabled `deb` sources, one per line, in apt's file order.
. "$HERE/apt-sources.sh"

find_mirror() {
    local uri
    if [ -n "${MOSQUITTO_MATRIX_DEBIAN_MIRROR:-}" ]; then
        echo "$MOSQUITTO_MATRIX_DEBIAN_MIRROR"
        return 0
    fi
    # The main Debian archive: a URI whose path ends in /debian
    # (not debian-security, debian-ports, ...).
    while read -r uri; do
        uri=${uri%/}
        case "$uri" in
            http://*/debian|https://*/debian|file:/*/debian) echo "$uri"; return 0 ;;
        esac
    done < <(apt_source_uris)
    return 1
}

# ------------------------------------------------------------- build one ---
# build_suite SUITE MIRROR : runs with stdout/stderr going to the suite's log.
build_suite() {
    local suite=$1 mirror=$2
    local work="$BUILD_DIR/$suite" root
    root="$work/rootfs"
    set -x
    cleanup_rootfs "$root"
    mkdir -p "$root"

    # dpkg inside the chroot need not fsync every file: the rootfs is thrown
    # away if anything fails. (Same trick as the official Debian images.)
    # Created before debootstrap: no package owns this file.
    mkdir -p "$root/etc/dpkg/dpkg.cfg.d"
    echo force-unsafe-io >"$root/etc/dpkg/dpkg.cfg.d/mosquitto-matrix-unsafe-io"

    debootstrap --variant=minbase --include=mosquitto --components=main \
        "$suite" "$root" "$mirror"

    # Whatever debootstrap may have mounted must be gone before tar/rm.
    ! grep -q " $root/" /proc/mounts || { echo "unexpected mounts under $root"; return 1; }

    local admindir="$root/var/lib/dpkg"
    local mosq_pkg lws_pkg lws_dep upstream lws_env
    mosq_pkg=$(dpkg-query --admindir="$admindir" -W -f='${Version}' mosquitto)
    [ -n "$mosq_pkg" ] || { echo "mosquitto not installed in $root"; return 1; }
    # upstream version: drop epoch ("N:") and Debian revision ("-..."),
    # and a repack suffix such as +dfsg / +ds if any.
    upstream=${mosq_pkg#*:}
    upstream=${upstream%-*}
    upstream=${upstream%%+dfsg*}
    upstream=${upstream%%+ds*}
    # libwebsockets, three cases (all seen in Debian):
    # - shared: mosquitto Depends on a libwebsocketsN package (bullseye's
    #   libwebsockets16, trixie's libwebsockets19t64): LWS_VERSION is that
    #   package's version;
    # - static: no such dependency, but the binary embeds libwebsockets
    #   (bookworm's 2.0.11-1.2+deb12u2 links it statically and declares no
    #   Built-Using): LWS_VERSION is the version string lws embeds
    #   ("4.1.6-<build hash>", hash trimmed), the package label is none;
    # - builtin: neither (2.1.x has its own websockets code): LWS_VERSION=builtin.
    lws_dep=$(dpkg-query --admindir="$admindir" -W -f='${Depends}' mosquitto |
        tr ',|' '\n\n' | awk '{print $1}' | grep -E '^libwebsockets[0-9]' | head -n1 || true)
    if [ -n "$lws_dep" ]; then
        lws_pkg=$(dpkg-query --admindir="$admindir" -W -f='${Version}' "$lws_dep")
        [ -n "$lws_pkg" ] || { echo "$lws_dep is a dependency but not installed"; return 1; }
        lws_env=$lws_pkg
        lws_link=shared
    elif grep -q -a 'lib/core/libwebsockets.c' "$root/usr/sbin/mosquitto"; then
        lws_pkg=none
        lws_env=$(tr '\0' '\n' <"$root/usr/sbin/mosquitto" |
            grep -E '^[0-9]+\.[0-9]+\.[0-9]+-[A-Za-z0-9._+~-]*$' | head -n1 || true)
        lws_env=${lws_env%-}
        [ -n "$lws_env" ] || lws_env=static-unknown
        lws_link=static
    else
        lws_pkg=none
        lws_env=builtin
        lws_link=none
    fi

    # Layout of the official eclipse-mosquitto images.
    local uid gid
    uid=$(awk -F: '$1=="mosquitto"{print $3}' "$root/etc/passwd")
    gid=$(awk -F: '$1=="mosquitto"{print $4}' "$root/etc/passwd")
    [ -n "$uid" ] && [ -n "$gid" ] || { echo "no mosquitto user in $root/etc/passwd"; return 1; }
    mkdir -p "$root/mosquitto/config" "$root/mosquitto/data" "$root/mosquitto/log"
    install -m 0644 "$HERE/mosquitto.conf" "$root/mosquitto/config/mosquitto.conf"
    # The broker reads the password file after dropping privileges to the
    # mosquitto user, so it must be readable by that user. 0600 + owned by
    # mosquitto is what 2.0.16+ and 2.1 ask for (they warn about root-owned or
    # world-readable files). A root:root 0600 file makes every version exit
    # with "Unable to open pwfile"; root:root 0644 works, with warnings on
    # 2.0.21/2.1.2. The uid/gid are also in the image labels, for tools that
    # copy files in with a tar whose headers carry them.
    install -m 0600 -o "$uid" -g "$gid" "$HERE/passwd" "$root/mosquitto/config/passwd"
    chown "$uid:$gid" "$root/mosquitto/config" "$root/mosquitto/data" "$root/mosquitto/log"
    chmod 0755 "$root/mosquitto/config" "$root/mosquitto/data" "$root/mosquitto/log"

    # Slim down: package caches, indices, docs (the image is never apt-updated).
    { set +x; } 2>/dev/null   # (the globs below would flood the log)
    echo "+ slimming $root"
    rm -f "$root/etc/dpkg/dpkg.cfg.d/mosquitto-matrix-unsafe-io"
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin \
        "$root"/var/lib/apt/lists/* "$root"/var/log/*.log "$root"/var/log/apt/* \
        "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
        "$root"/usr/share/locale/* "$root"/tmp/* "$root"/var/tmp/*
    set -x

    local old_id
    old_id=$(docker image inspect -f '{{.Id}}' "$REPO:$suite" 2>/dev/null || true)
    tar --numeric-owner -C "$root" -c . |
        docker import \
            --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
            --change "ENV VERSION=$upstream" \
            --change "ENV LWS_VERSION=$lws_env" \
            --change "LABEL org.mosquitto-matrix.suite=$suite" \
            --change "LABEL org.mosquitto-matrix.recipe-hash=$(recipe_hash "$suite")" \
            --change "LABEL org.mosquitto-matrix.mosquitto-package=$mosq_pkg" \
            --change "LABEL org.mosquitto-matrix.libwebsockets-package=$lws_pkg" \
            --change "LABEL org.mosquitto-matrix.libwebsockets-linkage=$lws_link" \
            --change "LABEL org.mosquitto-matrix.mosquitto-uid=$uid" \
            --change "LABEL org.mosquitto-matrix.mosquitto-gid=$gid" \
            --change "EXPOSE 1883 9001" \
            --change 'CMD ["/usr/sbin/mosquitto","-c","/mosquitto/config/mosquitto.conf"]' \
            -m "debootstrap --variant=minbase --include=mosquitto $suite" \
            - "$REPO:$suite"

    # --force: drop the image this one replaced (now untagged), unless a
    # container still uses it.
    if [ -n "$old_id" ] && [ "$old_id" != "$(docker image inspect -f '{{.Id}}' "$REPO:$suite")" ]; then
        docker rmi "$old_id" || true
    fi

    cleanup_rootfs "$root"
    set +x
    echo "built $REPO:$suite: VERSION=$upstream LWS_VERSION=$lws_env mosquitto=$mosq_pkg libwebsockets=$lws_pkg ($lws_link)"
}

# Remove a rootfs, first unmounting anything a failed debootstrap left
# mounted under it (deepest first), never crossing into another filesystem.
cleanup_rootfs() {
    local root=$1 m
    [ -e "$root" ] || return 0
    awk -v r="$root/" 'index($2, r)==1 {print $2}' /proc/mounts | sort -r |
        while read -r m; do umount -l "$m" || true; done
    rm -rf --one-file-system "$root"
}

# ------------------------------------------------------------------ main ---
# recipe_hash SUITE : what the image is made of (a changed recipe rebuilds it).
recipe_hash() {
    { cat "$0" "$HERE/apt-sources.sh" "$HERE/mosquitto.conf" "$HERE/passwd"; echo "suite $1"; } | sha256sum | cut -c1-16
}

total_start=$(now)
todo=()
for suite in "${suites[@]}"; do
    case "$suite" in *[!a-z0-9-]*|"") die "bad suite name: $suite" ;; esac
    have=$(docker image inspect -f '{{index .Config.Labels "org.mosquitto-matrix.recipe-hash"}}' "$REPO:$suite" 2>/dev/null || true)
    if [ -z "$force" ] && [ -n "$have" ] && [ "$have" = "$(recipe_hash "$suite")" ]; then
        echo "image $REPO:$suite: found"
    else
        if [ -z "$force" ] && docker image inspect "$REPO:$suite" >/dev/null 2>&1; then
            echo "image $REPO:$suite: stale (its recipe changed, or it has no recipe-hash label)"
        fi
        todo+=("$suite")
    fi
done

if [ ${#todo[@]} -eq 0 ]; then
    echo "images: all present ($(elapsed "$total_start" "$(now)") s)"
    exit 0
fi

if host_dry_run; then
    command -v debootstrap >/dev/null 2>&1 || host_apt_install "debootstrap builds the broker images" debootstrap
    host_would "build $(printf "$REPO:%s " "${todo[@]}")as root (debootstrap of Debian's mosquitto into a mktemp -d folder, then docker import); logs in target/logs/<run>/"
    exit 0
fi

LOG_DIR=$(host_log_dir)
if [ "$(id -u)" -ne 0 ]; then
    host_need_root "building $(printf "$REPO:%s " "${todo[@]}")" "debootstrap makes device nodes, chroots and sets file owners" ||
        die "cannot build without root"
    for suite in "${todo[@]}"; do touch "$LOG_DIR/debian-$suite.log"; done
    exec sudo -n env MOSQUITTO_MATRIX_LOG_DIR="$LOG_DIR" MOSQUITTO_MATRIX_IMAGE_REPO="$REPO" \
        ${MOSQUITTO_MATRIX_DEBIAN_MIRROR:+MOSQUITTO_MATRIX_DEBIAN_MIRROR="$MOSQUITTO_MATRIX_DEBIAN_MIRROR"} \
        bash "$0" ${force:+--force} "${todo[@]}"
fi
echo "root: building $(printf "$REPO:%s " "${todo[@]}")(debootstrap makes device nodes, chroots and sets file owners)" >&2

host_apt_install "debootstrap builds the broker images" debootstrap || die "apt-get install debootstrap failed"
mirror=$(find_mirror) || die "no Debian archive found in /etc/apt/sources.list or /etc/apt/sources.list.d/ (need a 'deb URL suite' line or a deb822 'URIs:' entry whose path ends in /debian); set MOSQUITTO_MATRIX_DEBIAN_MIRROR to override"
echo "debian mirror: $mirror (from apt sources)"

BUILD_DIR=$(mktemp -d "${TMPDIR:-/tmp}/mosquitto-matrix-debian.XXXXXXXX")
remove_build_dir() {
    local r
    for r in "$BUILD_DIR"/*/rootfs; do cleanup_rootfs "$r"; done
    rm -rf --one-file-system "$BUILD_DIR"
    host_give_back "$LOG_DIR"
}
trap remove_build_dir EXIT
declare -A pids starts
for suite in "${todo[@]}"; do
    log="$LOG_DIR/debian-$suite.log"
    echo "image $REPO:$suite: building (log: $log)"
    starts[$suite]=$(now)
    rm -f "$BUILD_DIR/$suite.end"
    # Not `build_suite && ...`: that would switch off set -e inside it.
    ( build_suite "$suite" "$mirror"; now >"$BUILD_DIR/$suite.end" ) </dev/null >"$log" 2>&1 &
    pids[$suite]=$!
done

failed=()
for suite in "${todo[@]}"; do
    if wait "${pids[$suite]}"; then
        # the suite's own end time (suites finish in any order)
        end=$(cat "$BUILD_DIR/$suite.end" 2>/dev/null || now)
        echo "image $REPO:$suite: built in $(elapsed "${starts[$suite]}" "$end") s ($(tail -n1 "$LOG_DIR/debian-$suite.log"))"
    else
        failed+=("$suite")
        echo "image $REPO:$suite: FAILED after $(elapsed "${starts[$suite]}" "$(now)") s; last lines of $LOG_DIR/debian-$suite.log:" >&2
        tail -n 30 "$LOG_DIR/debian-$suite.log" | sed 's/^/    /' >&2
    fi
done

echo "images: total $(elapsed "$total_start" "$(now)") s"
if [ ${#failed[@]} -gt 0 ]; then
    die "build failed for suite(s): ${failed[*]}"
fi
