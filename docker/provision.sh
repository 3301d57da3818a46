#!/usr/bin/env bash
# Provision everything the matrix tests need: a running Docker engine and the
# mosquitto-matrix/debian:<suite> images. Idempotent and non-interactive.
# Arguments are passed to build-debian-images.sh ([--force] [SUITE...]).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bash "$HERE/engine.sh"
bash "$HERE/build-debian-images.sh" "$@"
