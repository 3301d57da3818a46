#!/usr/bin/env bash
# Install and build the real MQTT client "hold programs" of clients/ (see
# clients/README.md for the command-client contract and the argv of each).
#
#   bash clients/setup.sh            # from anywhere; paths are repo-relative
#
# Idempotent and non-interactive (root, no stdin, CI=true is fine):
#   - apt packages are installed only when `dpkg -s` says they are missing;
#     `apt-get update` runs only when an install fails without it (or apt has
#     no package lists at all);
#   - Python venvs: target/clients/paho-python/<version>/venv, one per paho-mqtt version,
#     from this machine's `python3 -m venv` (override with MATRIX_CLIENTS_PYTHON);
#   - MQTT.js: `npm ci --prefix clients/mqttjs/<version>` from each version's committed lock file;
#   - browser: Debian's `chromium` (apt, unless MATRIX_CHROMIUM names another
#     binary) and `npm ci --prefix clients/browser` (playwright-core + MQTT.js's
#     browser bundle); its --version check starts the browser (~1 s);
#   - Paho C: gcc -> target/clients/paho-c/hold;
#   - Paho Go 1.1.1: go build, offline, GOPATH mode against Debian's Go source
#     packages (/usr/share/gocode) -> target/clients/paho-go/1.1.1/hold; later versions
#     (clients/paho-go/<version>/go.mod + go.sum) in module mode from the Go module proxy
#     -> target/clients/paho-go/<version>/hold;
#   - Paho Java and the HiveMQ client: OpenJDK 17 and Maven (apt, when javac or mvn is
#     missing); each version in clients/<name>/lock.txt resolved by Maven into
#     target/clients/paho-java/m2, checked against the lock's sha256, Hold.java compiled
#     -> target/clients/<name>/<version>/hold.
# Each client is checked first (it runs `<program> --version`) and rebuilt
# only when that fails or its inputs changed (a stamp file holds a hash of
# them), so a second run takes seconds.
# Clients are independent: one that fails does not stop the others. One line
# per client: name, version, ready|built|FAILED: why. Exit status is non-zero
# only if some client failed. Logs: target/clients/logs/<name>.log.
set -uo pipefail
export DEBIAN_FRONTEND=noninteractive

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 2
OUT=target/clients
LOGS=$OUT/logs
mkdir -p "$LOGS" || exit 2

# Eclipse Paho Python versions, side by side: target/clients/paho-python/<version>/venv.
# matrix.toml's [clients.paho-python] versions must be among these.
PAHO_PY_VERSIONS=(1.5.1 1.6.1 2.0.0 2.1.0)
PYTHON=${MATRIX_CLIENTS_PYTHON:-python3}

t_start=$(date +%s.%N)
failed=()
WHY=""
VERSION=""

line() { printf '%-16s %-11s %s\n' "$1" "${2:--}" "$3"; }

# Last meaningful line of a log, for the FAILED: reason.
last_words() { grep -v '^[[:space:]]*$' "$1" 2>/dev/null | tail -n 1 | cut -c1-200; }

sha() { sha256sum | cut -c1-64; }

# The version a program reports: second word after "client: NAME".
probe() { # log, argv...
    local log=$1 first
    shift
    first=$("$@" --version </dev/null 2>>"$log" | head -n 1) || return 1
    case $first in
        "client: "*) VERSION=${first#client: }; VERSION=${VERSION#* }; return 0 ;;
        *) return 1 ;;
    esac
}

# ------------------------------------------------------------------ apt ---
apt_updated=""
is_installed() { dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed'; }
apt_ensure() { # log, packages...
    local log=$1 p missing=()
    shift
    for p in "$@"; do is_installed "$p" || missing+=("$p"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    local apt=(apt-get -y -q --no-install-recommends -o DPkg::Lock::Timeout=600 install)
    if [ -n "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v -e '^lock$' -e '^partial$' -e '^auxfiles$')" ] &&
        "${apt[@]}" "${missing[@]}" </dev/null >>"$log" 2>&1; then
        return 0
    fi
    if [ -z "$apt_updated" ]; then
        echo "+ apt-get update" >>"$log"
        apt-get -q -o DPkg::Lock::Timeout=600 update </dev/null >>"$log" 2>&1 && apt_updated=1
    fi
    "${apt[@]}" "${missing[@]}" </dev/null >>"$log" 2>&1 && return 0
    WHY="apt-get install ${missing[*]} failed: $(last_words "$log")"
    return 1
}

# --------------------------------------------------------------- python ---
# setup_python_version PAHO_VERSION LOG: a venv with exactly that paho-mqtt.
setup_python_version() {
    local want=$1 log=$2 dir=$OUT/paho-python/$1
    local venv=$dir/venv
    if probe "$log" "$venv/bin/python" clients/paho-python/hold.py && [ "$VERSION" = "$want" ]; then
        return 0
    fi
    rm -rf "$venv"
    mkdir -p "$dir"
    if ! "$PYTHON" -m venv "$venv" </dev/null >>"$log" 2>&1; then
        # Debian's own python3 needs python3-venv for ensurepip.
        if [ "$(command -v "$PYTHON")" = /usr/bin/python3 ] && apt_ensure "$log" python3-venv; then
            rm -rf "$venv"
            "$PYTHON" -m venv "$venv" </dev/null >>"$log" 2>&1 || { WHY="python3 -m venv failed: $(last_words "$log")"; return 1; }
        else
            WHY="${WHY:-$PYTHON -m venv failed: $(last_words "$log")}"
            return 1
        fi
    fi
    if ! "$venv/bin/python" -m pip install --disable-pip-version-check --no-input -q "paho-mqtt==$want" </dev/null >>"$log" 2>&1; then
        WHY="pip install paho-mqtt==$want failed: $(last_words "$log")"
        return 1
    fi
    if ! probe "$log" "$venv/bin/python" clients/paho-python/hold.py || [ "$VERSION" != "$want" ]; then
        WHY="hold.py --version does not report $want: $(last_words "$log")"
        return 1
    fi
    BUILT=1
}

setup_python() {
    local log=$LOGS/paho-python.log v ok=()
    : >"$log"
    for v in "${PAHO_PY_VERSIONS[@]}"; do
        setup_python_version "$v" "$log" || return 1
        ok+=("$v")
    done
    VERSION=$(IFS=,; echo "${ok[*]}")
}

# ------------------------------------------------------------------ npm ---
# npm_ensure DIR LOG [PROBE...]: `npm ci` from DIR's lock file, unless a stamp of that lock
# file says it is installed and the probe (default: node DIR/hold.mjs) answers --version.
npm_ensure() {
    local dir=$1 log=$2
    shift 2
    local probe_argv=("$@")
    [ ${#probe_argv[@]} -eq 0 ] && probe_argv=(node "$dir/hold.mjs")
    local stamp=$dir/node_modules/.mosquitto-matrix-stamp want
    want=$(sha <"$dir/package-lock.json")
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && probe "$log" "${probe_argv[@]}"; then
        return 0
    fi
    if ! npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error </dev/null >>"$log" 2>&1; then
        WHY="npm ci failed: $(last_words "$log")"
        return 1
    fi
    echo "$want" >"$stamp"
    if ! probe "$log" "${probe_argv[@]}"; then
        WHY="hold.mjs --version failed: $(last_words "$log")"
        return 1
    fi
    BUILT=1
}

node_ensure() { # log
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        apt_ensure "$1" nodejs npm || return 1
    fi
}

# --------------------------------------------------------------- mqtt.js ---
# MQTT.js, one folder per version with its own lock file (clients/mqttjs/<version>), loaded by
# hold.mjs --lib clients/mqttjs/<version>.
MQTTJS_VERSIONS=(4.3.8 5.16.0)
setup_mqttjs() {
    local log=$LOGS/mqttjs.log v ok=()
    : >"$log"
    node_ensure "$log" || return 1
    for v in "${MQTTJS_VERSIONS[@]}"; do
        npm_ensure "clients/mqttjs/$v" "$log" node clients/mqttjs/hold.mjs --lib "clients/mqttjs/$v" || return 1
        [ "$VERSION" = "$v" ] || { WHY="clients/mqttjs/$v loads MQTT.js $VERSION"; return 1; }
        ok+=("$v")
    done
    VERSION=$(IFS=,; echo "${ok[*]}")
}

# -------------------------------------------------------------- browser ---
setup_browser() {
    local log=$LOGS/browser.log
    : >"$log"
    node_ensure "$log" || return 1
    # hold.mjs runs MATRIX_CHROMIUM if set, else Debian's /usr/bin/chromium.
    if [ -z "${MATRIX_CHROMIUM:-}" ]; then
        apt_ensure "$log" chromium || return 1
    fi
    npm_ensure clients/browser "$log" || return 1
    VERSION=${VERSION% (browser bundle)}
}

# install_built BIN STAMP WANT LOG: puts a fresh BIN.tmp in place, stamps it with WANT,
# and checks that it answers --version.
install_built() {
    local bin=$1 stamp=$2 want=$3 log=$4
    mv -f "$bin.tmp" "$bin" && echo "$want" >"$stamp"
    if ! probe "$log" "$bin"; then
        WHY="hold --version failed: $(last_words "$log")"
        return 1
    fi
    BUILT=1
}

# --------------------------------------------------------------- paho-c ---
setup_paho_c() {
    local dir=$OUT/paho-c log=$LOGS/paho-c.log
    local bin=$dir/hold stamp=$dir/hold.stamp
    local flags=(-std=c11 -O2 -Wall -Wextra)
    : >"$log"
    apt_ensure "$log" libpaho-mqtt-dev gcc libc6-dev || return 1
    local want
    want=$( { cat clients/paho-c/hold.c; echo "${flags[*]}"; dpkg-query -W -f='${Version}' libpaho-mqtt-dev; } | sha)
    if [ -x "$bin" ] && [ -x "$bin-tls" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && probe "$log" "$bin"; then
        return 0
    fi
    mkdir -p "$dir"
    # hold-tls: the same program against Paho C's TLS library, for TLS routes (hold.c's head).
    if ! gcc "${flags[@]}" -DMATRIX_TLS -o "$bin-tls" clients/paho-c/hold.c -lpaho-mqtt3as -lpthread </dev/null >>"$log" 2>&1; then
        WHY="gcc failed (hold-tls): $(last_words "$log")"
        return 1
    fi
    if ! gcc "${flags[@]}" -o "$bin.tmp" clients/paho-c/hold.c -lpaho-mqtt3a -lpthread </dev/null >>"$log" 2>&1; then
        WHY="gcc failed: $(last_words "$log")"
        return 1
    fi
    install_built "$bin" "$stamp" "$want" "$log"
}

# -------------------------------------------------------------- paho-go ---
# 1.1.1: Debian's package, GOPATH mode, offline -> target/clients/paho-go/1.1.1/hold.
setup_paho_go_debian() {
    local log=$1 dir=$OUT/paho-go/1.1.1
    local bin=$dir/hold stamp=$dir/hold.stamp
    apt_ensure "$log" golang-go golang-github-eclipse-paho.mqtt.golang-dev golang-golang-x-net-dev || return 1
    local libver
    libver=$(dpkg-query -W -f='${Version}' golang-github-eclipse-paho.mqtt.golang-dev)
    local want
    want=$( { cat clients/paho-go/hold.go; go version
              dpkg-query -W -f='${Version}\n' golang-go golang-github-eclipse-paho.mqtt.golang-dev golang-golang-x-net-dev; } | sha)
    if [ -x "$bin" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && probe "$log" "$bin"; then
        VERSION=${libver%-*}
        return 0
    fi
    mkdir -p "$dir/gopath" "$OUT/paho-go/gocache"
    # GOPATH mode, no network: imports come from Debian's /usr/share/gocode.
    # The upstream part of the Debian version (1.1.1-1.1 -> 1.1.1) is stamped
    # in, since the library has no version constant of its own.
    if ! env GO111MODULE=off GOPATH="$ROOT/$dir/gopath:/usr/share/gocode" GOCACHE="$ROOT/$OUT/paho-go/gocache" \
        GOFLAGS= GOPROXY=off GOTOOLCHAIN=local \
        go build -ldflags "-X main.libVersion=${libver%-*}" -o "$bin.tmp" ./clients/paho-go/hold.go \
        </dev/null >>"$log" 2>&1; then
        WHY="go build (1.1.1) failed: $(last_words "$log")"
        return 1
    fi
    install_built "$bin" "$stamp" "$want" "$log"
}

# Module-mode versions: clients/paho-go/<version>/go.mod and go.sum (committed), the modules
# from the Go module proxy into target/clients/paho-go/gomod, checked against go.sum
# (-mod=readonly: nothing is added or upgraded) -> target/clients/paho-go/<version>/hold.
setup_paho_go_module() { # version log
    local v=$1 log=$2 dir=$OUT/paho-go/$1
    local bin=$dir/hold stamp=$dir/hold.stamp src=$dir/src
    local want
    want=$( { cat clients/paho-go/hold.go "clients/paho-go/$v/go.mod" "clients/paho-go/$v/go.sum"; go version; } | sha)
    if [ -x "$bin" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && probe "$log" "$bin"; then
        return 0
    fi
    # The version the module requires, as go.mod says it (the library has no version constant).
    local libver
    libver=$(awk '$1 == "require" && $2 == "github.com/eclipse/paho.mqtt.golang" { sub(/^v/, "", $3); print $3 }' "clients/paho-go/$v/go.mod")
    [ -n "$libver" ] || { WHY="clients/paho-go/$v/go.mod requires no github.com/eclipse/paho.mqtt.golang"; return 1; }
    rm -rf "$src" && mkdir -p "$src" "$OUT/paho-go/gocache"
    cp clients/paho-go/hold.go "clients/paho-go/$v/go.mod" "clients/paho-go/$v/go.sum" "$src/"
    if ! (cd "$src" && env GOPATH="$ROOT/$OUT/paho-go/gopath" GOMODCACHE="$ROOT/$OUT/paho-go/gomod" \
        GOCACHE="$ROOT/$OUT/paho-go/gocache" GOFLAGS=-mod=readonly GOTOOLCHAIN=local GO111MODULE=on \
        go build -ldflags "-X main.libVersion=$libver" -o "$ROOT/$bin.tmp" . </dev/null >>"$ROOT/$log" 2>&1); then
        WHY="go build ($v) failed: $(last_words "$log")"
        return 1
    fi
    install_built "$bin" "$stamp" "$want" "$log"
}

setup_paho_go() {
    local log=$LOGS/paho-go.log d v ok=()
    : >"$log"
    setup_paho_go_debian "$log" || return 1
    ok+=("$VERSION")
    for d in clients/paho-go/*/; do
        v=$(basename "$d")
        setup_paho_go_module "$v" "$log" || return 1
        ok+=("$VERSION")
    done
    VERSION=$(IFS=,; echo "${ok[*]}")
}

# ------------------------------------------------------------ paho-java ---
# Java clients (clients/paho-java: Eclipse Paho Java; clients/hivemq: the HiveMQ MQTT Client),
# every version their lock.txt lists, side by side: target/clients/<name>/<version>/
# {lib,classes,hold}. Maven resolves each version from clients/<name>/pom.xml into a repository
# of our own (target/clients/paho-java/m2, checksums strict); every resolved file must match
# the lock's sha256. Hold.java is compiled against each version's own jars; `hold` is a
# launcher that execs this machine's java.
java_ensure() { # log
    if ! command -v javac >/dev/null 2>&1 || ! command -v java >/dev/null 2>&1; then
        apt_ensure "$1" openjdk-17-jdk-headless || return 1
    fi
    if ! command -v mvn >/dev/null 2>&1; then
        apt_ensure "$1" maven || return 1
    fi
}

# java_client_version NAME VERSION LOG: resolve, check, compile and probe one version of the
# Java client in clients/NAME (pom.xml with -Dclient.version, lock.txt, Hold.java) into
# target/clients/NAME/<version>/{lib,classes,hold}; the Maven repository is shared.
java_client_version() {
    local name=$1 v=$2 log=$3 top=$OUT/$1 src=clients/$1
    local dir=$top/$v bin=$top/$v/hold stamp=$top/$v/hold.stamp
    local locked want
    locked=$(awk -v v="$v" '$1 == v { print $2, $3 }' "$src/lock.txt")
    want=$( { cat "$src/Hold.java" "$src/pom.xml"; echo "$locked"; command -v java; javac -version 2>&1; } | sha)
    if [ -x "$bin" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && probe "$log" "$bin" && [ "$VERSION" = "$v" ]; then
        return 0
    fi
    rm -rf "$dir"
    mkdir -p "$dir"
    echo "+ mvn -f $src/pom.xml dependency:copy-dependencies -Dclient.version=$v" >>"$log"
    if ! mvn -B -q -C -f "$src/pom.xml" -Dmaven.repo.local="$ROOT/$OUT/paho-java/m2" -Dclient.version="$v" \
        dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$ROOT/$dir/lib" </dev/null >>"$log" 2>&1; then
        WHY="mvn could not resolve $name $v: $(last_words "$log")"
        return 1
    fi
    local got
    got=$(cd "$dir/lib" && for f in *; do echo "$f $(sha <"$f")"; done)
    if [ "$got" != "$locked" ]; then
        printf 'resolved:\n%s\nlocked:\n%s\n' "$got" "$locked" >>"$log"
        WHY="$name $v: resolved files differ from $src/lock.txt (see $log)"
        return 1
    fi
    if ! javac --release 8 -Xlint:-options -d "$dir/classes" -cp "$dir/lib/*" "$src/Hold.java" </dev/null >>"$log" 2>&1; then
        WHY="javac failed for $name $v: $(last_words "$log")"
        return 1
    fi
    # A small heap, the serial collector and the client compiler: the program idles for minutes.
    printf '#!/bin/sh\n# Written by clients/setup.sh: %s/Hold.java on %s %s.\nd=$(dirname "$0")\nexec %s -Xmx64m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -cp "$d/classes:$d/lib/*" Hold "$@"\n' \
        "$src" "$name" "$v" "$(command -v java)" >"$bin.tmp" && chmod +x "$bin.tmp"
    mv -f "$bin.tmp" "$bin" && echo "$want" >"$stamp"
    if ! probe "$log" "$bin" || [ "$VERSION" != "$v" ]; then
        WHY="$name $v: hold --version failed or reports another version: $(last_words "$log")"
        return 1
    fi
    BUILT=1
}

# setup_java NAME: every version clients/NAME/lock.txt lists.
setup_java() {
    local name=$1 log=$LOGS/$1.log v versions=() ok=()
    : >"$log"
    java_ensure "$log" || return 1
    mapfile -t versions < <(awk '!/^#/ && NF { print $1 }' "clients/$name/lock.txt" | uniq)
    for v in "${versions[@]}"; do
        java_client_version "$name" "$v" "$log" || return 1
        ok+=("$v")
    done
    VERSION=$(IFS=,; echo "${ok[*]}")
}

run() { # name, function, args...
    local name=$1
    shift
    WHY=""
    VERSION=""
    BUILT=""
    local t0 took
    t0=$(date +%s.%N)
    if "$@"; then
        took=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
        line "$name" "$VERSION" "$([ -n "$BUILT" ] && echo built || echo ready) (${took} s)"
    else
        line "$name" "$VERSION" "FAILED: ${WHY:-unknown error (see $LOGS/$name.log)}"
        failed+=("$name")
    fi
}

run paho-python     setup_python
run mqttjs          setup_mqttjs
run browser         setup_browser
run paho-c          setup_paho_c
run paho-go         setup_paho_go
run paho-java       setup_java paho-java
run hivemq          setup_java hivemq

elapsed=$(awk -v a="$t_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
if [ ${#failed[@]} -gt 0 ]; then
    echo "setup: FAILED: ${failed[*]} (${elapsed} s; logs in $LOGS/)"
    exit 1
fi
echo "setup: all clients ready (${elapsed} s)"
