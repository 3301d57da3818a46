#!/usr/bin/env bash
# Build mosquitto-matrix/standin:<name> images: the real Mosquitto 2.0.11 of
# mosquitto-matrix/debian:bookworm behind an entrypoint from docker/standins/
# that changes how it starts, so readiness tests can prove that the harness
# does not depend on log wording:
#
#   quiet  the real broker; every log line containing "running" is hidden
#          (like 1.6.9/1.6.10, whose log ends "Opening websockets listen
#          socket on port 9001.")
#   late   prints 1.6.10's start-up lines, then waits STANDIN_DELAY s
#          (default 4) before starting the real broker ("running" hidden)
#   deaf   the real broker, running and saying so, but every listener bound
#          to 127.0.0.1 inside the container: published ports never reach it
#   exits  the real broker on a WebSocket-only copy of the config: prints
#          "Error: Unable to start any listening sockets, exiting." and exits 1,
#          exactly like 1.6.9 with a WebSocket-only config
#   realtime  the real broker with LD_PRELOAD and FAKETIME removed from its
#          environment: a preloaded time library never reaches it, as with a
#          static binary; an accelerated run must catch it by its clock
#
# Same paths as the Debian images (/mosquitto/config/mosquitto.conf and
# passwd, copied in by the harness before start), ports 1883 and 9001,
# CMD ["/usr/sbin/mosquitto","-c","/mosquitto/config/mosquitto.conf"].
#
# Usage: docker/build-standin-images.sh [--force] [NAME...]
#   NAME defaults to: quiet late deaf exits realtime
#   --force rebuilds images that exist. Without it an image is kept (`found`)
#   unless its org.mosquitto-matrix.standin-hash label (entrypoint +
#   Dockerfile + base image id) no longer matches: then it is rebuilt (stale).
# Images carry LABEL org.mosquitto-matrix.standin=<name> (and no
# org.mosquitto-matrix.tool label: only containers carry that).
# Build contexts: a `mktemp -d` folder, removed at the end; logs: target/logs/<run>/.
# No root: docker build only. MOSQUITTO_MATRIX_DRY_RUN=1: say, do nothing.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/host.sh"
REPO=${MOSQUITTO_MATRIX_STANDIN_REPO:-mosquitto-matrix/standin}
BASE=${MOSQUITTO_MATRIX_STANDIN_BASE:-mosquitto-matrix/debian:bookworm}
ALL=(quiet late deaf exits realtime)

die() { echo "build-standin-images.sh: error: $*" >&2; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", b-a}'; }

force=""
names=()
for arg in "$@"; do
    case "$arg" in
        --force) force=1 ;;
        -h|--help) sed -n '2,/^set -euo/{/^#/p}' "$0"; exit 0 ;;
        -*) die "unknown option: $arg" ;;
        *) names+=("$arg") ;;
    esac
done
[ ${#names[@]} -gt 0 ] || names=("${ALL[@]}")
for n in "${names[@]}"; do
    [ -f "$HERE/standins/$n.sh" ] || die "unknown stand-in '$n' (no $HERE/standins/$n.sh; known: ${ALL[*]})"
done

command -v docker >/dev/null 2>&1 || die "docker client not found (run docker/engine.sh first)"
docker info >/dev/null 2>&1 || die "no docker engine answers (run docker/engine.sh first)"
if ! base_id=$(docker image inspect -f '{{.Id}}' "$BASE" 2>/dev/null); then
    if host_dry_run; then host_would "build $(printf "$REPO:%s " "${names[@]}")with docker build on $BASE (no root)"; exit 0; fi
    die "base image $BASE missing (run docker/build-debian-images.sh bookworm, or docker/provision.sh)"
fi

# dockerfile NAME : the Dockerfile of one stand-in.
dockerfile() {
    local name=$1
    echo "FROM $BASE"
    echo "COPY $name.sh /usr/local/bin/mosquitto-matrix-standin"
    [ "$name" != late ] || echo "ENV STANDIN_DELAY=4"
    echo "LABEL org.mosquitto-matrix.standin=$name"
    echo 'ENTRYPOINT ["/usr/local/bin/mosquitto-matrix-standin"]'
    # (setting ENTRYPOINT clears the CMD inherited from the base image)
    echo 'CMD ["/usr/sbin/mosquitto","-c","/mosquitto/config/mosquitto.conf"]'
}

# content hash: what the image is made of
content_hash() {
    local name=$1
    { dockerfile "$name"; cat "$HERE/standins/$name.sh"; echo "$base_id"; } | sha256sum | cut -c1-16
}

total_start=$(now)
failed=()
BUILD_DIR=""
for name in "${names[@]}"; do
    tag="$REPO:$name"
    hash=$(content_hash "$name")
    have=$(docker image inspect -f '{{index .Config.Labels "org.mosquitto-matrix.standin-hash"}}' "$tag" 2>/dev/null || true)
    if [ -z "$force" ] && [ -n "$have" ] && [ "$have" = "$hash" ]; then
        echo "image $tag: found"
        continue
    fi
    if [ -z "$force" ] && [ -n "$have" ]; then
        echo "image $tag: stale (entrypoint, Dockerfile or $BASE changed), rebuilding"
    fi
    if host_dry_run; then host_would "build $tag with docker build on $BASE (no root)"; continue; fi
    start=$(now)
    [ -n "${BUILD_DIR:-}" ] || { BUILD_DIR=$(mktemp -d "${TMPDIR:-/tmp}/mosquitto-matrix-standin.XXXXXXXX"); trap 'rm -rf "$BUILD_DIR"' EXIT; }
    ctx="$BUILD_DIR/standin-$name"
    log="$(host_log_dir)/standin-$name.log"
    mkdir -p "$ctx"
    { dockerfile "$name"; echo "LABEL org.mosquitto-matrix.standin-hash=$hash"; } >"$ctx/Dockerfile"
    install -m 0755 "$HERE/standins/$name.sh" "$ctx/$name.sh"
    old_id=$(docker image inspect -f '{{.Id}}' "$tag" 2>/dev/null || true)
    # DOCKER_BUILDKIT=0: the classic builder needs no buildx plugin and never
    # looks up the (local-only) base image in a registry.
    if DOCKER_BUILDKIT=0 nice docker build --pull=false -t "$tag" "$ctx" </dev/null >"$log" 2>&1; then
        new_id=$(docker image inspect -f '{{.Id}}' "$tag")
        if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ]; then
            docker rmi "$old_id" >/dev/null 2>&1 || true
        fi
        echo "image $tag: built in $(elapsed "$start" "$(now)") s"
    else
        failed+=("$name")
        echo "image $tag: FAILED after $(elapsed "$start" "$(now)") s; last lines of $log:" >&2
        tail -n 20 "$log" | sed 's/^/    /' >&2
    fi
done
echo "standin images: total $(elapsed "$total_start" "$(now)") s"
[ ${#failed[@]} -eq 0 ] || die "build failed for stand-in(s): ${failed[*]}"
