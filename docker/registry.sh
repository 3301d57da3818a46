#!/usr/bin/env bash
# Make sure Debian's docker-registry (distribution registry 2.x) is at hand, for
# tests/registry.rs, which starts its own registry on a free loopback port.
#
#   bash docker/registry.sh           unpack it if missing, print its version
#   bash docker/registry.sh serve DIR  run one in the foreground, storage under DIR, on a
#                                      free 127.0.0.1 port (printed), for trying `discover`
#
# Not installed as a package: Debian's package is also a service that, where systemd runs,
# starts at boot and listens on :5000 on every interface. Instead the .deb is fetched with
# `apt-get download` (checked by apt against the signed archive's hashes, as an install
# would be) and unpacked, as the invoking user, into target/tools/docker-registry/; only
# its binary is used, and every registry the project starts binds 127.0.0.1 only. No root,
# unless apt's package lists must be fetched first (apt-get update: said before it runs).
# MATRIX_REGISTRY_BIN names another binary. MOSQUITTO_MATRIX_DRY_RUN=1: say, do nothing.
#
# The engine accepts plain-HTTP pushes to 127.0.0.0/8 registries by default
# (`docker info` lists 127.0.0.0/8 under "Insecure Registries"), so no engine config is needed.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HERE/host.sh"
TOOLS="$(host_root_dir)/target/tools/docker-registry"
BIN=${MATRIX_REGISTRY_BIN:-$TOOLS/usr/bin/docker-registry}

die() { echo "registry.sh: error: $*" >&2; exit 1; }

if [ ! -x "$BIN" ]; then
    [ -z "${MATRIX_REGISTRY_BIN:-}" ] || die "MATRIX_REGISTRY_BIN=$BIN is not an executable file"
    if host_dry_run; then
        host_would "apt-get download docker-registry and unpack it into $TOOLS (as $(id -un); no package, no service)"
        exit 0
    fi
    echo "docker-registry: missing, fetching Debian's docker-registry into $TOOLS (not installed: no service)" >&2
    log="$(host_log_dir)/docker-registry.log"
    tmp=$(mktemp -d "$(host_root_dir)/target/.docker-registry.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    if ! (cd "$tmp" && apt-get download -q docker-registry) </dev/null >>"$log" 2>&1; then
        host_need_root "apt-get update" "apt has no package list with docker-registry" || die "apt-get update needs root"
        host_root apt-get update -q </dev/null >>"$log" 2>&1 || { tail -n 20 "$log" >&2; die "apt-get update failed (log: $log)"; }
        (cd "$tmp" && apt-get download -q docker-registry) </dev/null >>"$log" 2>&1 ||
            { tail -n 20 "$log" >&2; die "apt-get download docker-registry failed (log: $log)"; }
    fi
    deb=$(ls "$tmp"/docker-registry_*.deb)
    rm -rf "$TOOLS" && mkdir -p "$TOOLS"
    dpkg-deb -x "$deb" "$TOOLS"
    echo "$(dpkg-deb -f "$deb" Version) sha256:$(sha256sum "$deb" | cut -c1-64)" >"$TOOLS/.package"
    [ -x "$BIN" ] || die "$BIN missing after unpacking $(basename "$deb")"
fi
echo "docker-registry: found ($("$BIN" --version 2>&1 | head -n1); $BIN)"

if [ "${1:-}" = serve ]; then
    dir=${2:?usage: registry.sh serve DIR}
    mkdir -p "$dir/data"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    cat >"$dir/config.yml" <<YML
version: 0.1
storage:
  filesystem:
    rootdirectory: $dir/data
http:
  addr: 127.0.0.1:$port
YML
    echo "registry: http://127.0.0.1:$port (push as 127.0.0.1:$port/<name>:<tag>)"
    exec "$BIN" serve "$dir/config.yml"
fi
