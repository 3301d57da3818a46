#!/usr/bin/env bash
# Make sure Debian's docker-registry (distribution registry 2.x) is installed, for
# tests/registry.rs, which starts its own registry on a free loopback port.
#
#   bash docker/registry.sh           install it if missing, print its version
#   bash docker/registry.sh serve DIR  run one in the foreground, storage under DIR, on a
#                                      free 127.0.0.1 port (printed), for trying `discover`
#
# The engine accepts plain-HTTP pushes to 127.0.0.0/8 registries by default
# (`docker info` lists 127.0.0.0/8 under "Insecure Registries"), so no engine config is needed.
set -euo pipefail

BIN=${MATRIX_REGISTRY_BIN:-/usr/bin/docker-registry}

die() { echo "registry.sh: error: $*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi
}

if [ ! -x "$BIN" ]; then
    echo "docker-registry: missing, installing Debian's docker-registry" >&2
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -q </dev/null >&2 || die "apt-get update failed"
    # --no-install-recommends: the package recommends apache2-utils, which the tests do not need.
    as_root apt-get install -y -q --no-install-recommends docker-registry </dev/null >&2 \
        || die "apt-get install docker-registry failed"
    [ -x "$BIN" ] || die "$BIN still missing after installing docker-registry"
fi
# Where systemd runs, the package also starts its own registry on :5000; the tests never use it.
echo "docker-registry: found ($("$BIN" --version 2>&1 | head -n1))"

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
