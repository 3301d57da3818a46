#!/usr/bin/env bash
# Provision everything the matrix tests need: a running Docker engine and the
# mosquitto-matrix/debian:<suite> images. Idempotent and non-interactive.
# Arguments are passed to build-debian-images.sh ([--force] [SUITE...]).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bash "$HERE/engine.sh"
bash "$HERE/build-debian-images.sh" "$@"
# Readiness stand-ins (need mosquitto-matrix/debian:bookworm), libfaketime for
# glibc and musl, and the musl-linked Mosquitto image. Each is idempotent
# (`found` when present) and takes --force on its own; provision's arguments
# are for build-debian-images.sh only.
bash "$HERE/build-standin-images.sh"
bash "$HERE/faketime.sh"
bash "$HERE/build-musl-image.sh"
