#!/usr/bin/env bash
# The default set's load, reproduced with the debian set: 8 copies of each tag (32 brokers,
# 448 cells at x1), with a CPU hog on one of the cores (stress-ng, Debian's), then each copy's
# times against a single-copy run. Prints the wall time and the peak memory in use on the
# machine (MemTotal - MemAvailable, sampled every second, less what was in use before).
#
#   bash scripts/load-test.sh [SPEED] [COPIES]      # default x1, 8 copies; needs a single
#                                                   # run's result at target/matrix/debian[-xN].json
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SPEED=${1:-1}
COPIES=${2:-8}
. docker/host.sh
command -v stress-ng >/dev/null || host_apt_install "the CPU hog of the load test" stress-ng
used() { awk '/^MemTotal:/ { t = $2 } /^MemAvailable:/ { a = $2 } END { print int((t - a) / 1024) }' /proc/meminfo; }
base=$(used)
stress-ng --cpu 1 --cpu-load 100 --timeout 3600s --quiet &
hog=$!
peak=$base
( while sleep 1; do u=$(used); [ "$u" -gt "$peak" ] && peak=$u && echo "$peak" >target/load-test.peak; done ) &
sampler=$!
trap 'kill $hog $sampler 2>/dev/null || true' EXIT
start=$(date +%s.%N)
status=0
MATRIX_COPIES=$COPIES MATRIX_SPEED=$SPEED MATRIX_SET=debian cargo test --locked --test matrix || status=$?
wall=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
peak=$(cat target/load-test.peak 2>/dev/null || echo "$base")
suffix=$([ "$SPEED" -gt 1 ] && echo "-x$SPEED" || true)
echo "load test: x$SPEED, $COPIES copies, a CPU hog on one core: matrix exit $status, wall $wall s (cargo included), peak memory in use $((peak - base)) MB above the $base MB before"
cargo run --locked --quiet -- diff --within "$([ "$SPEED" -gt 1 ] && echo 1s || echo 500ms)" "target/matrix/debian$suffix.json" "target/matrix/debian$suffix-copies$COPIES.json"
exit $status
