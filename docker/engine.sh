#!/usr/bin/env bash
# Make sure a Docker engine answers `docker info`.
#
# - An engine that already answers is used as it is (never stopped/replaced).
# - Otherwise Debian's docker.io is installed if dockerd is missing, and
#   dockerd is started in the background, fully detached from this shell
#   (it must outlive the test run's shell; CI has no stdin), logging to
#   $DOCKERD_LOG (default target/logs/<run>/dockerd.log). We wait, bounded,
#   until `docker info` answers, and record its pid in /run/mosquitto-matrix/dockerd.pid
#   (only an engine started here; tests/engine_faults.rs kills only that one).
# - Both need root, and say so first (docker/host.sh). Starting an engine changes the
#   machine: dockerd sets the iptables FORWARD policy to DROP, adds its chains and the docker0
#   bridge, and sets net.ipv4.ip_forward=1. Before it starts, the iptables rules and
#   ip_forward are saved under /var/lib/mosquitto-matrix/, and the engine's pid is recorded:
#   `bash scripts/uninstall.sh` stops that engine and puts both back.
# - MOSQUITTO_MATRIX_DRY_RUN=1: print what would be done, do nothing.
#
# Storage driver: dockerd's own choice is tried first (overlay2 on this
# project's machines: ext4 root, overlay in the kernel; no extra flags
# needed). Only if that dockerd exits (e.g. overlay unsupported, as on some
# nested sandboxes) do we retry with --storage-driver=fuse-overlayfs (when its
# binary is installed) and then --storage-driver=vfs, which works everywhere
# but copies every layer in full.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/host.sh"
WAIT_SECS=${MOSQUITTO_MATRIX_DOCKERD_WAIT:-60}

die() { echo "engine.sh: error: $*" >&2; exit 1; }

as_root() { host_root "$@"; }

server_version() { docker info --format '{{.ServerVersion}}' 2>/dev/null; }

if command -v docker >/dev/null 2>&1 && v=$(server_version) && [ -n "$v" ]; then
    echo "docker engine: found ($v)"
    exit 0
fi
if command -v docker >/dev/null 2>&1 && [ -S /var/run/docker.sock ] && [ ! -w /var/run/docker.sock ] && [ "$(id -u)" -ne 0 ]; then
    die "an engine's socket /var/run/docker.sock exists but $(id -un) may not use it (add the user to the docker group: sudo usermod -aG docker $(id -un), then log in again)"
fi

if host_dry_run; then
    command -v dockerd >/dev/null 2>&1 || host_apt_install "the Docker engine (dockerd, docker)" docker.io
    host_would "start dockerd as root, detached, logging to target/logs/<run>/dockerd.log; it sets iptables FORWARD to DROP, adds its chains and docker0, sets net.ipv4.ip_forward=1 (saved first under $HOST_STATE_DIR; scripts/uninstall.sh stops it and restores them)"
    exit 0
fi

if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
    echo "docker engine: dockerd/docker missing, installing Debian's docker.io" >&2
    host_apt_install "the Docker engine (dockerd, docker)" docker.io || die "apt-get install docker.io failed"
    command -v dockerd >/dev/null 2>&1 || die "dockerd still not found after installing docker.io"
fi
host_need_root "starting dockerd" "the engine runs as root; it changes iptables and net.ipv4.ip_forward (saved first, restored by scripts/uninstall.sh)" ||
    die "no engine answers and none can be started without root"
DOCKERD_LOG=${DOCKERD_LOG:-$(host_log_dir)/dockerd.log}
# Made by the invoking user: dockerd (root) appends to it, and it stays theirs.
touch "$DOCKERD_LOG"

# What dockerd will change, saved before its first start (kept if an earlier start was not undone).
if [ ! -f "$HOST_CHANGES" ] || ! grep -q '^ip_forward ' "$HOST_CHANGES"; then
    host_record ip_forward "$(cat /proc/sys/net/ipv4/ip_forward 2>/dev/null || echo 0)"
fi
if command -v iptables-save >/dev/null 2>&1 && { [ ! -f "$HOST_CHANGES" ] || ! grep -q '^iptables ' "$HOST_CHANGES"; }; then
    as_root sh -c 'mkdir -p "$1" && iptables-save >"$1/iptables-before-engine"' sh "$HOST_STATE_DIR" ||
        die "could not save the iptables rules before starting the engine"
    host_record iptables "$HOST_STATE_DIR/iptables-before-engine"
fi

# Whether a process runs: it exists and is not a zombie (a killed dockerd whose parent has not
# reaped it yet still answers kill -0).
alive() {
    local state
    state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$state" ] && [ "$state" != Z ]
}

# A stale pid file from an engine that no longer runs makes dockerd refuse to start.
for pidfile in /var/run/docker.pid /run/docker.pid; do
    if [ -f "$pidfile" ]; then
        pid=$(cat "$pidfile" 2>/dev/null || true)
        if [ -n "$pid" ] && alive "$pid"; then
            die "dockerd (pid $pid) is running but \`docker info\` does not answer; not touching it. See $DOCKERD_LOG"
        fi
        as_root rm -f "$pidfile"
    fi
done

# dockerd reuses the containerd named in this pid file if that pid looks
# alive -- and a killed containerd that is still a zombie does (kill -0
# succeeds), after which dockerd waits 15 s for its socket and gives up.
# Drop the pid file unless it names a live, non-zombie containerd.
containerd_pidfile=/var/run/docker/containerd/containerd.pid
if [ -f "$containerd_pidfile" ]; then
    cpid=$(cat "$containerd_pidfile" 2>/dev/null || true)
    state=$(awk '{print $3}' "/proc/$cpid/stat" 2>/dev/null || true)
    if [ -z "$cpid" ] || [ -z "$state" ] || [ "$state" = Z ] ||
        ! tr '\0' ' ' <"/proc/$cpid/cmdline" 2>/dev/null | grep -q containerd; then
        as_root rm -f "$containerd_pidfile"
    fi
fi

# start_dockerd EXTRA_ARGS... : start detached; returns 0 once `docker info` answers.
start_dockerd() {
    local t0 now pid
    echo "==== $(date -u +%FT%TZ) starting: dockerd $*" >>"$DOCKERD_LOG"
    # setsid: own session, no controlling tty; nohup + redirections: nothing
    # tied to this shell's stdin/stdout, so CI ending the shell leaves it up.
    as_root setsid nohup dockerd "$@" </dev/null >>"$DOCKERD_LOG" 2>&1 &
    pid=$!
    t0=$(date +%s)
    while :; do
        if v=$(server_version) && [ -n "$v" ]; then
            return 0
        fi
        if ! alive "$pid" && ! pgrep -x dockerd >/dev/null 2>&1; then
            return 1   # dockerd exited
        fi
        now=$(date +%s)
        if [ $((now - t0)) -ge "$WAIT_SECS" ]; then
            return 2
        fi
        sleep 0.2
    done
}

start=$(date +%s.%N)
attempts=("")
if command -v fuse-overlayfs >/dev/null 2>&1; then
    attempts+=("--storage-driver=fuse-overlayfs")
fi
attempts+=("--storage-driver=vfs")

# Fall back to another storage driver only when dockerd failed because of
# its storage driver (falling back for any other reason would silently hide
# every image already built under the default driver). Any other failure is
# retried once with the same flags.
storage_error() {
    tail -c +"$((log_offset + 1))" "$DOCKERD_LOG" 2>/dev/null |
        grep -q -i -E 'graphdriver|storage.driver|driver not supported|overlay|fuse-overlayfs|d_type'
}
ok=""
retried=""
i=0
while [ "$i" -lt "${#attempts[@]}" ]; do
    flags=${attempts[$i]}
    log_offset=$(stat -c %s "$DOCKERD_LOG" 2>/dev/null || echo 0)
    rc=0
    # shellcheck disable=SC2086 # flags is a word list on purpose
    start_dockerd $flags || rc=$?
    if [ "$rc" -eq 0 ]; then
        ok=1
        break
    fi
    if [ "$rc" -eq 2 ]; then
        echo "docker engine: dockerd ${flags:-(default flags)} did not answer within ${WAIT_SECS}s; last lines of $DOCKERD_LOG:" >&2
        tail -n 40 "$DOCKERD_LOG" >&2 || true
        die "docker engine did not come up within ${WAIT_SECS}s (log: $DOCKERD_LOG)"
    fi
    if storage_error; then
        echo "docker engine: dockerd ${flags:-(default flags)} exited with a storage-driver error; trying the next storage driver" >&2
        i=$((i + 1))
    elif [ -z "$retried" ]; then
        echo "docker engine: dockerd ${flags:-(default flags)} exited; retrying once" >&2
        retried=1
        sleep 2
    else
        break
    fi
done

if [ -z "$ok" ]; then
    tail -n 40 "$DOCKERD_LOG" >&2 || true
    die "could not start dockerd with any storage driver (log: $DOCKERD_LOG)"
fi

end=$(date +%s.%N)
host_record engine "$(cat /var/run/docker.pid 2>/dev/null || pgrep -x -n dockerd)" "$DOCKERD_LOG"
driver=$(docker info --format '{{.Driver}}' 2>/dev/null || echo '?')
echo "docker engine: started in $(awk -v a="$start" -v b="$end" 'BEGIN{printf "%.1f", b-a}') s ($(server_version), storage driver $driver)"

# The engine this script started, by pid: the tests that kill or restart the engine on purpose
# (tests/engine_faults.rs) touch only this one, never an engine that was already running.
ENGINE_MARKER=${MOSQUITTO_MATRIX_ENGINE_MARKER:-/run/mosquitto-matrix/dockerd.pid}
for pidfile in /var/run/docker.pid /run/docker.pid; do
    if [ -s "$pidfile" ]; then
        as_root mkdir -p "$(dirname "$ENGINE_MARKER")"
        as_root cp "$pidfile" "$ENGINE_MARKER"
        break
    fi
done
