#!/usr/bin/env bash
# Undo what mosquitto-matrix changed on this machine outside the checkout, each change listed
# as it is undone. What the scripts changed is recorded in /var/lib/mosquitto-matrix/changes
# (docker/host.sh); a few things are ours by name and are found without a record.
#
#   bash scripts/uninstall.sh             undo it all (root asked for per step, said first)
#   bash scripts/uninstall.sh --dry-run   list what would be undone, change nothing
#   bash scripts/uninstall.sh --check     list what is left; exit 1 when anything is
#   add --packages   also purge the Debian packages the project installed (recorded ones
#                    only; kept by default: other software may use them by now)
#   add --images     also remove the mosquitto-matrix/* images from the engine
#
# Undone:
#   apt source  /etc/apt/sources.list.d/mosquitto-matrix-deb-src.sources (docker/debian-source.sh)
#   cgroup      /sys/fs/cgroup/<controller>/mosquitto-matrix and /sys/fs/cgroup/mosquitto-matrix
#               (the engine makes them for our containers, src/engine/priority.rs)
#   registry    Debian's docker-registry package, when the project installed it (older
#               versions did; it is a service listening on :5000): purged. Now the registry is
#               unpacked under target/tools/ and never installed, so there is nothing to undo.
#   engine      a dockerd that docker/engine.sh started (its pid is recorded, and noted in
#               /run/mosquitto-matrix/dockerd.pid; an older engine.sh's is known by its log,
#               /var/log/mosquitto-matrix-dockerd.log):
#               stopped, its docker0 bridge removed, and the iptables rules and
#               net.ipv4.ip_forward saved before it started put back. An engine the project
#               did not start is never touched.
#   logs        /var/log/mosquitto-matrix-dockerd.log (older engine.sh)
#   record      /var/lib/mosquitto-matrix/ itself, once nothing in it is left to undo
# Not undone: what lives in the checkout (target/: builds, clients, logs; remove it yourself).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. docker/host.sh

mode=undo
packages=""
images=""
for arg in "$@"; do
    case "$arg" in
        --dry-run) mode=dry-run ;;
        --check) mode=check ;;
        --packages) packages=1 ;;
        --images) images=1 ;;
        *) echo "usage: bash scripts/uninstall.sh [--dry-run | --check] [--packages] [--images]" >&2; exit 2 ;;
    esac
done

SRC_LIST=${MOSQUITTO_MATRIX_DEB_SRC_LIST:-/etc/apt/sources.list.d/mosquitto-matrix-deb-src.sources}
LEGACY_LOG=${MOSQUITTO_MATRIX_LEGACY_DOCKERD_LOG:-/var/log/mosquitto-matrix-dockerd.log}
# docker/engine.sh's note of the engine it started (for tests/engine_faults.rs).
ENGINE_MARKER=${MOSQUITTO_MATRIX_ENGINE_MARKER:-/run/mosquitto-matrix/dockerd.pid}
left=0

# item WHAT UNDO... : one change: listed, and in undo mode undone (as root, said first).
item() {
    local what=$1
    shift
    case $mode in
        check) echo "left: $what"; left=1 ;;
        dry-run) echo "would undo: $what" ;;
        undo)
            echo "undo: $what"
            if ! host_as_root "undoing: $what" "it is outside the checkout" "$@"; then
                echo "  FAILED: $what" >&2
                left=1
                return 1
            fi ;;
    esac
}
recorded() { [ -f "$HOST_CHANGES" ] && awk -v k="$1" '$1 == k { $1 = ""; sub(/^ /, ""); print }' "$HOST_CHANGES"; }
forget() { # forget KIND [WHAT]: drop records (undo mode only)
    [ "$mode" = undo ] && [ -f "$HOST_CHANGES" ] || return 0
    host_root sh -c 'grep -v -x -F "$2" "$1" >"$1.new" || true; mv "$1.new" "$1"' sh "$HOST_CHANGES" "$*"
}

# ---------------------------------------------------------------- the engine ---
# The dockerd we started: the recorded pid, if it is still that dockerd, or an older
# engine.sh's, whose stdout is its log.
engine_pids=()
while read -r pid log; do
    [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ] && engine_pids+=("$pid")
done < <(recorded engine)
for pid in $(pgrep -x dockerd || true); do
    [[ " ${engine_pids[*]} " != *" $pid "* ]] || continue
    if [ "$(readlink "/proc/$pid/fd/1" 2>/dev/null)" = "$LEGACY_LOG" ] || [ "$(cat "$ENGINE_MARKER" 2>/dev/null)" = "$pid" ]; then
        engine_pids+=("$pid")
    fi
done
stop_engine() { # PID: TERM, then wait (dockerd stops its containers first, 10 s each at most)
    kill -TERM "$1" 2>/dev/null || return 0
    for _ in $(seq 600); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
    echo "dockerd $1 did not stop within 60 s" >&2
    return 1
}
for pid in "${engine_pids[@]}"; do
    item "engine: dockerd pid $pid, started by docker/engine.sh ($(docker info --format '{{.ContainersRunning}}' 2>/dev/null || echo '?') containers running): stop it" \
        bash -c "$(declare -f stop_engine); stop_engine $pid" || true
done
# What it changed goes back only once no engine runs (a later engine of someone else's
# needs its rules).
engine_left=""
if [ "$mode" = undo ]; then pgrep -x dockerd >/dev/null && engine_left=1; else [ ${#engine_pids[@]} -eq 0 ] || engine_left=1; fi
if [ ${#engine_pids[@]} -gt 0 ] || [ -n "$(recorded engine)" ]; then
    if [ -z "$engine_left" ] && ip link show docker0 >/dev/null 2>&1; then
        item "engine: the docker0 bridge dockerd left" ip link delete docker0 || true
    elif [ "$mode" != undo ] && ip link show docker0 >/dev/null 2>&1; then
        if [ "$mode" = check ]; then echo "left: engine: the docker0 bridge, once the engine is stopped"; else echo "would undo: engine: the docker0 bridge, once the engine is stopped"; fi
    fi
fi
while read -r file; do
    [ -n "$file" ] || continue
    if [ "$mode" = undo ] && [ -n "$engine_left" ]; then
        echo "kept: iptables as they are: a dockerd still runs (the rules before the engine: $file)"; left=1; continue
    fi
    item "engine: iptables rules as they were before it started ($file)" sh -c 'iptables-restore <"$1"' sh "$file" &&
        forget iptables "$file"
done < <(recorded iptables)
while read -r value; do
    [ -n "$value" ] || continue
    if [ "$mode" = undo ] && [ -n "$engine_left" ]; then
        echo "kept: net.ipv4.ip_forward as it is: a dockerd still runs (it was $value before the engine)"; left=1; continue
    fi
    if [ "$(cat /proc/sys/net/ipv4/ip_forward)" != "$value" ] || [ "$mode" = check ]; then
        item "engine: net.ipv4.ip_forward back to $value, as before the engine started (now $(cat /proc/sys/net/ipv4/ip_forward))" \
            sh -c 'echo "$1" >/proc/sys/net/ipv4/ip_forward' sh "$value" || continue
    fi
    forget ip_forward "$value"
done < <(recorded ip_forward)
if [ "$mode" = undo ] && [ -z "$engine_left" ]; then
    while read -r line; do [ -z "$line" ] || forget engine "$line"; done < <(recorded engine)
fi
if [ -e "$ENGINE_MARKER" ] && { [ "$mode" != undo ] || [ -z "$engine_left" ]; }; then
    item "engine: its pid note $ENGINE_MARKER" sh -c 'rm -f "$1"; rmdir "$(dirname "$1")" 2>/dev/null || true' sh "$ENGINE_MARKER" || true
fi
if [ -f "$LEGACY_LOG" ]; then
    writer=""
    for pid in $(pgrep -x dockerd || true); do
        [ "$(readlink "/proc/$pid/fd/1" 2>/dev/null)" = "$LEGACY_LOG" ] && writer=$pid
    done
    if [ -z "$writer" ] || [ "$mode" != undo ]; then
        item "engine: an older engine.sh's log $LEGACY_LOG" rm -f "$LEGACY_LOG" || true
    fi
fi

# ---------------------------------------------------------- apt, cgroup, registry ---
[ ! -e "$SRC_LIST" ] || item "apt source: $SRC_LIST (deb-src for Debian sources; apt drops its lists at the next apt-get update)" rm -f "$SRC_LIST" || true
while read -r file; do
    [ -n "$file" ] || continue
    [ "$file" = "$SRC_LIST" ] || [ ! -e "$file" ] || item "apt source: $file" rm -f "$file" || continue
    forget apt-source "$file"
done < <(recorded apt-source)

for group in /sys/fs/cgroup/*/mosquitto-matrix /sys/fs/cgroup/mosquitto-matrix; do
    [ -d "$group" ] || continue
    item "cgroup: $group (empty once no container of ours runs)" rmdir "$group" || true
done

if host_apt_installed docker-registry; then
    if recorded package | grep -qx docker-registry; then
        item "registry: Debian's docker-registry package and its service (:5000 on every interface)" \
            env DEBIAN_FRONTEND=noninteractive apt-get purge -y -q docker-registry &&
            forget package docker-registry
    else
        echo "note: Debian's docker-registry package is installed, not recorded as ours: kept (older versions of this project installed it; apt-get purge docker-registry removes it and its service)"
    fi
fi

# ------------------------------------------------------------ packages, images ---
pkgs=()
while read -r p; do
    [ -n "$p" ] && host_apt_installed "$p" && pkgs+=("$p")
done < <(recorded package)
if [ ${#pkgs[@]} -gt 0 ]; then
    if [ -n "$packages" ]; then
        if item "packages the project installed: ${pkgs[*]}" env DEBIAN_FRONTEND=noninteractive apt-get purge -y -q "${pkgs[@]}"; then
            for p in "${pkgs[@]}"; do forget package "$p"; done
        fi
    else
        echo "kept: Debian packages the project installed: ${pkgs[*]} (add --packages to purge them)"
    fi
fi
if docker info >/dev/null 2>&1; then
    imgs=$(docker images --format '{{.Repository}}:{{.Tag}}' | grep '^mosquitto-matrix/' | tr '\n' ' ' || true)
    if [ -n "$imgs" ] && [ -n "$images" ]; then
        case $mode in
            undo) echo "undo: images $imgs"; docker rmi $imgs >/dev/null || left=1 ;;
            *) echo "${mode/dry-run/would undo}: images $imgs" ;;
        esac
    elif [ -n "$imgs" ]; then
        echo "kept: images $imgs(add --images to remove them)"
    fi
fi

# ------------------------------------------------------------------- the record ---
if [ -d "$HOST_STATE_DIR" ]; then
    rest=$(grep -v '^package ' "$HOST_CHANGES" 2>/dev/null || true)
    if [ -n "$rest" ]; then
        [ "$mode" = dry-run ] || { echo "left: records in $HOST_CHANGES: $(echo "$rest" | tr '\n' ';')"; left=1; }
    elif [ -z "$(recorded package)" ]; then
        item "record: $HOST_STATE_DIR (nothing left in it to undo)" rm -rf "$HOST_STATE_DIR" || true
    fi
fi

case $mode in
    check) [ "$left" -eq 0 ] && echo "check: nothing the project changed is left on this machine (outside the checkout)" ;;
    dry-run) echo "uninstall.sh: (dry run) nothing was changed" ;;
    undo) [ "$left" -eq 0 ] && echo "uninstall.sh: done" || echo "uninstall.sh: some changes could not be undone (above)" >&2 ;;
esac
exit "$left"
