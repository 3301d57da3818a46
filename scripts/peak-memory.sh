#!/usr/bin/env bash
# Runs a command and says what it cost the machine: wall time, and the peak of the machine's
# memory in use (MemTotal - MemAvailable, sampled every 0.5 s) above what was in use just
# before it started. Counts everything the command starts, containers and their engine
# included, and anything else the machine does meanwhile: measure on an otherwise quiet
# machine.
#
#   bash scripts/peak-memory.sh COMMAND [ARG...]
#   MATRIX_COPIES=8 MATRIX_SET=debian bash scripts/peak-memory.sh cargo test --locked --test matrix
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: bash scripts/peak-memory.sh COMMAND [ARG...]" >&2; exit 64; }
in_use_mb() { awk '/^MemTotal:/ { t = $2 } /^MemAvailable:/ { a = $2 } END { printf "%d", (t - a) / 1024 }' /proc/meminfo; }
base=$(in_use_mb)
peak_file=$(mktemp)
echo "$base" > "$peak_file"
trap 'rm -f "$peak_file"' EXIT
( peak=$base; while :; do now=$(in_use_mb); [ "$now" -gt "$peak" ] && peak=$now && echo "$peak" > "$peak_file"; sleep 0.5; done ) &
sampler=$!
start=$(date +%s.%N)
status=0
"$@" || status=$?
end=$(date +%s.%N)
kill "$sampler" 2>/dev/null || true
wait "$sampler" 2>/dev/null || true
peak=$(cat "$peak_file" 2>/dev/null || echo "$base")
awk -v s="$start" -v e="$end" -v b="$base" -v p="$peak" -v rc="$status" \
  'BEGIN { printf "peak-memory: wall %.1f s; memory in use %d MB before, peak %d MB: %d MB above; exit %d\n", e - s, b, p, p - b, rc }' >&2
exit "$status"
