#!/usr/bin/env bash
# Provision what the matrix needs: a running Docker engine and the images. Idempotent and
# non-interactive.
#
#   bash docker/provision.sh [--force] [SUITE...]          # everything (scripts/test-all.sh)
#   bash docker/provision.sh --for-run                      # only what one matrix run needs
#   bash docker/provision.sh --dry-run [--for-run] ...      # only say what would change
#
# What changes outside the checkout, and needs root, is said before it is done (docker/host.sh)
# and recorded for `bash scripts/uninstall.sh`: an engine started here, Debian packages
# installed here, an apt source for deb-src. Everything else (builds, logs in
# target/logs/<run>/) belongs to the invoking user. --dry-run does nothing but print, per
# step, `found` or `would: ...`.
#
# Everything: the mosquitto-matrix/debian:<suite> images, the readiness stand-ins (they need
# mosquitto-matrix/debian:bookworm), libfaketime for glibc and musl, and the musl-linked
# Mosquitto image (OpenSSL from source: minutes on a cold machine), and the reverse proxies'
# image mosquitto-matrix/proxy:bookworm (build-proxy-image.sh). Arguments other than
# --for-run are for build-debian-images.sh.
#
# --for-run (scripts/matrix.sh) builds only what the run in the environment needs:
#   MATRIX_SET=debian (the default)  the debian images: MATRIX_TAGS' suites, or all four
#   MATRIX_SET=musl                  the musl image
#   MATRIX_SET=eclipse               nothing: the official images are pulled when they run
#   MATRIX_SPEED above 1             libfaketime too (its glibc build runs in debian:bullseye)
#   MATRIX_ROUTES naming a proxy     the proxies' image (nginx, haproxy, caddy, apache, -tls)
# and never the stand-ins, which only the tests use. Each step prints `found` when its
# result exists already.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/host.sh"

for_run=""
while [ $# -gt 0 ]; do
    case "$1" in
        --for-run) for_run=1; shift ;;
        --dry-run) export MOSQUITTO_MATRIX_DRY_RUN=1; shift ;;
        *) break ;;
    esac
done
host_dry_run || echo "provision.sh: logs in $(host_log_dir)"

bash "$HERE/engine.sh"

if [ -z "$for_run" ]; then
    bash "$HERE/build-debian-images.sh" "$@"
    bash "$HERE/build-standin-images.sh"
    bash "$HERE/faketime.sh"
    bash "$HERE/build-musl-image.sh"
    bash "$HERE/build-proxy-image.sh"
    host_dry_run && echo "provision.sh: (dry run) nothing was changed"
    exit 0
fi

set_name=${MATRIX_SET:-debian}
speed=${MATRIX_SPEED:-1}
speed=${speed#[xX×]}
case $speed in
    '' | *[!0-9]*) echo "provision.sh: MATRIX_SPEED=${MATRIX_SPEED:-} is not a whole number" >&2; exit 2 ;;
esac
suites=()
if [ "$set_name" = debian ] && [ -n "${MATRIX_TAGS:-}" ]; then
    IFS=', ' read -r -a suites <<< "$MATRIX_TAGS"
fi
needs_debian=""
[ "$set_name" = debian ] && needs_debian=1
if [ "$speed" -gt 1 ]; then
    # faketime.sh builds the glibc library inside debian:bullseye.
    needs_debian=1
    if [ ${#suites[@]} -gt 0 ] && [[ " ${suites[*]} " != *" bullseye "* ]]; then
        suites+=(bullseye)
    fi
fi
if [ -n "$needs_debian" ]; then
    if [ "$set_name" != debian ]; then
        suites=(bullseye)
    fi
    bash "$HERE/build-debian-images.sh" "${suites[@]}"
fi
[ "$speed" -gt 1 ] && bash "$HERE/faketime.sh"
[ "$set_name" = musl ] && bash "$HERE/build-musl-image.sh"
case ",${MATRIX_ROUTES:-}," in
    *,nginx*|*,haproxy*|*,caddy*|*,apache*) bash "$HERE/build-proxy-image.sh" ;;
esac
host_dry_run && echo "provision.sh: (dry run) nothing was changed" && exit 0
echo "provision.sh: provisioned for set $set_name at x$speed (stand-ins and other sets' images left out)"
