#!/usr/bin/env bash
# Measures what one cell of each command column costs the machine, for matrix.toml's
# `cost = { start_cpu, memory_mb }` (the run's scheduler admits cells by it): each client runs
# N times against a real broker (mosquitto-matrix/debian:bookworm, started here, ports read
# back) with a 1 s hold; GNU time gives its CPU time (user + system, start to exit) and its
# peak resident memory. Prints one line per client: median CPU ms, median peak MB.
# Then, for every client with a runtime (runtime mode, the default), what a cell costs inside
# it, for `runtime_cost`: the runtime alone (started, then stdin closed), then the runtime
# taking 8 cells at once; per cell, the growth in CPU and peak memory over the idle runtime
# (tests/runtimes/measure.py). MATRIX_FAKETIME=1 runs everything under the time library at
# x10, as an accelerated run does.
#
#   bash scripts/measure-costs.sh [N] [CLIENT...]     # default N=5, every client below
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
N=${1:-5}
shift || true
declare -A ARGV=(
  [paho-python]="target/clients/paho-python/2.1.0/venv/bin/python clients/paho-python/hold.py"
  [mqttjs]="node clients/mqttjs/hold.mjs --lib target/clients/mqttjs/5.16.0"
  [paho-c]="target/clients/paho-c/hold"
  [paho-go]="target/clients/paho-go/1.5.1/hold"
  [paho-java]="target/clients/paho-java/1.2.5/hold"
  [hivemq]="target/clients/hivemq/1.4.2/hold"
  [browser]="node clients/browser/hold.mjs"
  [self]="target/debug/mosquitto-matrix client --profile rfc6455"
)
declare -A RUNTIME=(
  [paho-python]="target/clients/paho-python/2.1.0/venv/bin/python clients/paho-python/runtime.py"
  [mqttjs]="node clients/mqttjs/runtime.mjs --lib target/clients/mqttjs/5.16.0"
  [paho-java]="target/clients/paho-java/1.2.5/runtime"
  [hivemq]="target/clients/hivemq/1.4.2/runtime"
  [browser]="node clients/browser/serve.mjs --runtime"
  [self]="target/debug/mosquitto-matrix client --profile rfc6455 --runtime"
)
clock=()
if [ "${MATRIX_FAKETIME:-}" = 1 ]; then
  clock=(LD_PRELOAD="$PWD/target/faketime/glibc/libfaketime.so.1" FAKETIME="+0 x10")
fi
CLIENTS=("$@")
[ ${#CLIENTS[@]} -gt 0 ] || CLIENTS=(paho-python mqttjs paho-c paho-go paho-java hivemq browser self)
. docker/host.sh
command -v /usr/bin/time >/dev/null || host_apt_install "GNU time measures each client" time
id=$(docker run -d --rm -p 127.0.0.1::9001 --label org.mosquitto-matrix.tool=mosquitto-matrix-costs \
  -v "$PWD/docker/mosquitto.conf:/mosquitto/config/mosquitto.conf:ro" -v "$PWD/docker/passwd:/mosquitto/config/passwd:ro" \
  mosquitto-matrix/debian:bookworm)
trap 'docker rm -f "$id" >/dev/null' EXIT
port=$(docker port "$id" 9001/tcp | head -n1 | sed 's/.*://')
sleep 1
for c in "${CLIENTS[@]}"; do
  cpu=(); mem=()
  for i in $(seq "$N"); do
    out=$(env MATRIX_URL="ws://127.0.0.1:$port/mqtt" MATRIX_HOST=127.0.0.1 MATRIX_PORT="$port" MATRIX_PATH=/mqtt \
      MATRIX_TRANSPORT=ws MATRIX_USERNAME=matrix MATRIX_PASSWORD=matrix-test-only MATRIX_CLIENT_ID="cost-$c-$i" \
      MATRIX_KEEPALIVE_SECS=60 MATRIX_HOLD_SECS=1 MATRIX_TOPIC="test/cost-$c-$i" MATRIX_ROUND_TRIP_SECS=10 MATRIX_SETUP_SECS=20 \
      "${clock[@]}" /usr/bin/time -f 'COST %U %S %M' ${ARGV[$c]} 2>&1 >/dev/null | grep '^COST' || true)
    read -r _ u s m <<<"$out"
    cpu+=("$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%d", (u + s) * 1000 }')"); mem+=("$((m / 1024))")
  done
  med() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
  printf '%-16s start_cpu %5s ms   memory %4s MB   (median of %s; cpu: %s)\n' "$c" "$(med "${cpu[@]}")" "$(med "${mem[@]}")" "$N" "${cpu[*]}"
done
for c in "${CLIENTS[@]}"; do
  [ -n "${RUNTIME[$c]:-}" ] || continue
  printf '%-16s in its runtime: ' "$c"
  env "${clock[@]}" python3 tests/runtimes/measure.py --broker-ws "$port" --cells 8 --hold 1 --runtime "${RUNTIME[$c]}" | tail -n1
done
