#!/usr/bin/env bash
# The main job on a fresh machine: provisions a Docker engine and the images, then runs the
# matrix. Docker Hub is out of reach here, so the set defaults to debian (Debian's own
# builds); MATRIX_SET=eclipse runs the official images where they can be pulled.
# Other MATRIX_* variables narrow the run, as in docs/src/sets.md.
#
#   bash scripts/matrix.sh                 say what will change on this machine, do it, run
#   bash scripts/matrix.sh --dry-run       only say what would change (nothing is done)
#   bash scripts/matrix.sh --provision-only    say it and do it, but run nothing
#
# Runs as any user: root is asked for (directly, or `sudo -n`) only by the steps that need it
# (starting the engine, debootstrap, apt), each named with its reason before it runs; a user
# whose engine, images and packages are present needs no root at all, and nothing under the
# checkout becomes root's. Logs: target/logs/<run>/. Undo: bash scripts/uninstall.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. docker/host.sh

mode=run
case "${1:-}" in
    "") ;;
    --dry-run) mode=dry-run ;;
    --provision-only) mode=provision ;;
    *) echo "usage: bash scripts/matrix.sh [--dry-run | --provision-only]" >&2; exit 2 ;;
esac

# Only what this run needs: the set's images (and the time library when MATRIX_SPEED > 1);
# scripts/test-all.sh provisions everything the tests need.
export MATRIX_SET=${MATRIX_SET:-debian}

# The plan: every step says `found` or `would: ...`.
echo "== what this run needs on this machine (as $(id -un)):"
MOSQUITTO_MATRIX_DRY_RUN=1 bash docker/provision.sh --for-run
# clients/setup.sh installs what is missing (its own list), as root through apt:
# (PACKAGE:COMMAND: a package whose command is on the PATH already is not asked for)
missing=()
for p in python3-venv nodejs:node npm:npm chromium libpaho-mqtt-dev gcc libc6-dev golang-go:go \
    golang-github-eclipse-paho.mqtt.golang-dev golang-golang-x-net-dev openjdk-17-jdk-headless:javac maven:mvn; do
    case $p in *:*) command -v "${p#*:}" >/dev/null 2>&1 && continue ;; esac
    host_apt_installed "${p%%:*}" || missing+=("${p%%:*}")
done
if [ ${#missing[@]} -gt 0 ]; then
    host_would "clients/setup.sh: apt-get install what its clients lack, as root, among: ${missing[*]}"
fi
host_would "clients/setup.sh: build or check the real clients under target/clients/ (as $(id -un), from their lock files)"
[ "$mode" = dry-run ] && exit 0

echo "== provisioning"
echo "logs: $(host_log_dir)"
bash docker/provision.sh --for-run
bash clients/setup.sh
[ "$mode" = provision ] && exit 0
cargo test --locked --test matrix
