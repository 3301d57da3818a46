#!/usr/bin/env bash
# Install and build the real MQTT client "hold programs" of clients/ (see
# clients/README.md for the command-client contract and the argv of each).
#
#   bash clients/setup.sh              # every client; from anywhere, paths are repo-relative
#   bash clients/setup.sh paho-python  # only the clients named
#   bash clients/setup.sh --client paho-python@2.3.0  # a released version without a committed
#                                      # lock, on demand (the "on demand" block below)
#
# Idempotent and non-interactive (root, no stdin, CI=true is fine). Every artefact fetched from
# a registry is checked against a committed lock before it is used:
#   - apt packages are installed only when `dpkg -s` says they are missing;
#     `apt-get update` runs only when an install fails without it (or apt has
#     no package lists at all);
#   - Paho Python: one venv per clients/paho-python/<version>/requirements.txt, from this
#     machine's `python3 -m venv` (override with MATRIX_CLIENTS_PYTHON), installed with
#     `pip --require-hashes` from that file (a prebuilt wheel, or for the source-only 1.x a
#     source build without build isolation after build-requirements.txt, itself hash-locked)
#     -> target/clients/paho-python/<version>/venv;
#   - MQTT.js: `npm ci --prefix target/clients/mqttjs/<version>` from each version's committed lock
#     file (clients/mqttjs/<version>/package-lock.json);
#   - browser: Debian's `chromium` (apt, unless MATRIX_CHROMIUM names another
#     binary) and `npm ci --prefix clients/browser` (playwright-core + MQTT.js's
#     browser bundle); its --version check starts the browser (~1 s);
#   - Paho C: gcc -> target/clients/paho-c/hold;
#   - Paho Go 1.1.1: go build, offline, GOPATH mode against Debian's Go source
#     packages (/usr/share/gocode) -> target/clients/paho-go/1.1.1/hold; later versions
#     (clients/paho-go/<version>/go.mod + go.sum) and paho.golang (clients/paho-golang/<version>)
#     in module mode from the Go module proxy, -mod=readonly against go.sum
#     -> target/clients/<name>/<version>/hold;
#   - Java clients (Paho Java, Paho Java MQTT v5, HiveMQ): OpenJDK 17 (apt, when javac is
#     missing); every jar of clients/<name>/lock.txt fetched by its Maven coordinates from
#     MATRIX_MAVEN_REPO (default: the central repository Maven's own super POM names, read from
#     Debian's libmaven3-core-java) into target/clients/maven, checked against the lock's sha256,
#     no Maven and no plugin run; Hold.java compiled with clients/java-contract/*.java
#     -> target/clients/<name>/<version>/hold (one cell, per process) and .../runtime (the
#     column's runtime: one JVM per run, a cell per connection);
#   - MQTT.js: hold.mjs per process, runtime.mjs as the column's runtime (both --lib <version>).
# Each client version also gets target/clients/<name>/<version>/artefact: one line, the hash and
# name of the artefact it runs (the result JSON shows it beside the version).
# Each client is checked first (it runs `<program> --version`) and rebuilt
# only when that fails or its inputs changed (a stamp file holds a hash of
# them), so a second run takes seconds.
# Clients are independent: one that fails does not stop the others. One line
# per client: name, version, ready|built|FAILED: why. Exit status is non-zero
# only if some client failed. Logs: target/clients/logs/<UTC time>-<pid>/<name>.log, one folder
# per run, kept (target/clients/logs/latest points at the newest).
set -uo pipefail
export DEBIAN_FRONTEND=noninteractive

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 2
OUT=target/clients
# One log folder per run, never truncated: a rerun keeps what the last one said.
LOGS=$OUT/logs/$(date -u +%Y%m%dT%H%M%SZ)-$$
mkdir -p "$LOGS" || exit 2
ln -sfn "$(basename "$LOGS")" "$OUT/logs/latest" 2>/dev/null || true

PYTHON=${MATRIX_CLIENTS_PYTHON:-python3}

t_start=$(date +%s.%N)
failed=()
ondemand_asked=""
WHY=""
VERSION=""

line() { printf '%-16s %-11s %s\n' "$1" "${2:--}" "$3"; }

# Last meaningful line of a log, for the FAILED: reason.
last_words() { grep -v '^[[:space:]]*$' "$1" 2>/dev/null | tail -n 1 | cut -c1-200; }

sha() { sha256sum | cut -c1-64; }

# artefact DIR LINE: records what a client version runs (hash and name) in DIR/artefact.
artefact() { mkdir -p "$1" && printf '%s\n' "$2" >"$1/artefact"; }

# deb_artefact PACKAGE: the sha256 and file of the installed version of a Debian package, as apt
# knows them (the .deb that dpkg installed was checked against it).
deb_artefact() {
    local ver sum
    ver=$(dpkg-query -W -f='${Version}' "$1" 2>/dev/null)
    sum=$(apt-cache show "$1=$ver" 2>/dev/null | awk '/^SHA256:/ { print $2; exit }')
    echo "sha256:${sum:-unknown} ${1}_$ver.deb (Debian)"
}

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
# dpkg-query, not `dpkg -s | grep -q`: under pipefail, grep -q ending early makes dpkg die of
# SIGPIPE and the pipe fail, so an installed package read as missing (15 times in 20 here).
is_installed() {
    case $(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null) in
        ii*) return 0 ;;
        *) return 1 ;;
    esac
}
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
# pip_hash_error LOG: pip's hash-mismatch report as one line naming the package, if it made one.
pip_hash_error() {
    awk '/DO NOT MATCH THE HASHES/ { on = 1; next }
         on && /==.* from / { sub(/^[ \t]+/, ""); pkg = $1 }
         on && /Expected sha256/ { want = $NF }
         on && /Got / { printf "%s: sha256 mismatch: the lock says %s, the download is %s\n", pkg, want, $NF; exit }' "$1"
}

# pip_locked VENV LOG REQUIREMENTS ARGS...: pip install --require-hashes from a lock file.
pip_locked() {
    local venv=$1 log=$2 req=$3
    shift 3
    echo "+ pip install --require-hashes -r $req $*" >>"$log"
    if ! "$venv/bin/python" -m pip install --disable-pip-version-check --no-input -q --require-hashes \
        "$@" -r "$req" </dev/null >>"$log" 2>&1; then
        local bad
        bad=$(pip_hash_error "$log")
        WHY="${bad:-pip install -r $req failed: $(last_words "$log")}"
        return 1
    fi
}

# setup_python_version PAHO_VERSION LOG [LOCK]: a venv with exactly the paho-mqtt that
# LOCK (default clients/paho-python/<version>/requirements.txt) locks.
setup_python_version() {
    local want=$1 log=$2 dir=$OUT/paho-python/$1 req=${3:-clients/paho-python/$1/requirements.txt}
    local build=clients/paho-python/build-requirements.txt
    local venv=$dir/venv stamp=$dir/venv.stamp wanted
    wanted=$( { cat "$req" "$build"; "$PYTHON" --version 2>&1; } | sha)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ] &&
        probe "$log" "$venv/bin/python" clients/paho-python/hold.py && [ "$VERSION" = "$want" ]; then
        return 0
    fi
    rm -rf "$venv" "$stamp" "$dir/artefact"
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
    if grep -q '^--no-binary' "$req"; then
        # A source build: its build backend comes from a lock too, and pip fetches nothing else.
        pip_locked "$venv" "$log" "$build" --only-binary :all: || return 1
        pip_locked "$venv" "$log" "$req" --no-build-isolation --no-deps || return 1
    else
        pip_locked "$venv" "$log" "$req" --no-deps || return 1
    fi
    if ! probe "$log" "$venv/bin/python" clients/paho-python/hold.py || [ "$VERSION" != "$want" ]; then
        WHY="hold.py --version does not report $want: $(last_words "$log")"
        return 1
    fi
    echo "$wanted" >"$stamp"
    artefact "$dir" "$(awk '/--hash=/ { sub(/.*--hash=/, ""); print; exit }' "$req") paho-mqtt==$want (PyPI, $req)"
    BUILT=1
}

# Every version that has a lock: clients/paho-python/<version>/requirements.txt.
setup_python() {
    local log=$LOGS/paho-python.log d v ok=()
    for d in clients/paho-python/*/requirements.txt; do
        v=$(basename "$(dirname "$d")")
        setup_python_version "$v" "$log" || { VERSION=$v; return 1; }
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
# MQTT.js, one folder per version with its own lock file (clients/mqttjs/<version>), installed
# into target/clients/mqttjs/<version> and loaded by hold.mjs --lib target/clients/mqttjs/<version>
# (so a version installed on demand, whose lock lives under target/, loads the same way).
# mqttjs_version VERSION LOG [LOCK FOLDER, default clients/mqttjs/<version>]: `npm ci` of the lock
# folder's package.json and package-lock.json in target/clients/mqttjs/<version>.
mqttjs_version() {
    local v=$1 log=$2 locks=${3:-clients/mqttjs/$1} lib=$OUT/mqttjs/$1
    mkdir -p "$lib" && cp "$locks/package.json" "$locks/package-lock.json" "$lib/" || { WHY="cannot copy $locks to $lib"; return 1; }
    npm_ensure "$lib" "$log" node clients/mqttjs/hold.mjs --lib "$lib" || return 1
    [ "$VERSION" = "$v" ] || { WHY="$locks loads MQTT.js $VERSION"; return 1; }
    artefact "$lib" "$(node -p "require('./$locks/package-lock.json').packages['node_modules/mqtt'].integrity") mqtt@$v (npm, $locks/package-lock.json)"
}
# Every version that has a lock: clients/mqttjs/<version>/package-lock.json.
setup_mqttjs() {
    local log=$LOGS/mqttjs.log d v ok=()
    node_ensure "$log" || return 1
    for d in clients/mqttjs/*/package-lock.json; do
        v=$(basename "$(dirname "$d")")
        mqttjs_version "$v" "$log" || return 1
        ok+=("$v")
    done
    VERSION=$(IFS=,; echo "${ok[*]}")
}

# -------------------------------------------------------------- browser ---
setup_browser() {
    local log=$LOGS/browser.log
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
    install_built "$bin" "$stamp" "$want" "$log" || return 1
    artefact "$dir" "$(deb_artefact libpaho-mqtt1.3)"
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
    install_built "$bin" "$stamp" "$want" "$log" || return 1
    artefact "$dir" "$(deb_artefact golang-github-eclipse-paho.mqtt.golang-dev)"
}

# Module-mode versions: clients/NAME/<version>/go.mod and go.sum (committed), the modules from the
# Go module proxy into target/clients/go/gomod, checked against go.sum (-mod=readonly: nothing is
# added or upgraded) -> target/clients/NAME/<version>/hold. MODULE is the library's module path.
setup_go_module() { # name module version log [lock folder, default clients/NAME/<version>]
    local name=$1 module=$2 v=$3 log=$4 dir=$OUT/$1/$3 locks=${5:-clients/$1/$3}
    local bin=$dir/hold stamp=$dir/hold.stamp src=$dir/src gocache=$OUT/go/gocache
    local want
    want=$( { cat "clients/$name/hold.go" "$locks/go.mod" "$locks/go.sum"; go version; } | sha)
    if [ -x "$bin" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && probe "$log" "$bin"; then
        return 0
    fi
    # The version the module requires, as go.mod says it (the library has no version constant).
    local libver
    libver=$(awk -v m="$module" '($1 == "require" && $2 == m) { sub(/^v/, "", $3); print $3 } ($1 == m) { sub(/^v/, "", $2); print $2 }' "$locks/go.mod" | head -n 1)
    [ -n "$libver" ] || { WHY="$locks/go.mod requires no $module"; return 1; }
    rm -rf "$src" "$dir/artefact" && mkdir -p "$src" "$gocache"
    cp "clients/$name/hold.go" "$locks/go.mod" "$locks/go.sum" "$src/"
    echo "+ go build ($name $v, -mod=readonly)" >>"$log"
    if ! (cd "$src" && env GOPATH="$ROOT/$OUT/go/gopath" GOMODCACHE="$ROOT/$OUT/go/gomod" \
        GOCACHE="$ROOT/$gocache" GOFLAGS=-mod=readonly GOTOOLCHAIN=local GO111MODULE=on \
        go build -ldflags "-X main.libVersion=$libver" -o "$ROOT/$bin.tmp" . </dev/null >>"$ROOT/$log" 2>&1); then
        local bad
        bad=$(grep -m1 -i 'SECURITY ERROR\|checksum mismatch' "$log")
        WHY="go build ($name $v) failed: ${bad:-$(last_words "$log")}"
        return 1
    fi
    install_built "$bin" "$stamp" "$want" "$log" || return 1
    artefact "$dir" "$(awk -v m="$module" -v v="v$libver" '$1 == m && $2 == v { print $3, m "@" v " (Go module proxy, go.sum)"; exit }' "$locks/go.sum")"
}

setup_paho_go() {
    local log=$LOGS/paho-go.log d v ok=()
    apt_ensure "$log" golang-go || return 1
    setup_paho_go_debian "$log" || return 1
    ok+=("$VERSION")
    for d in clients/paho-go/*/; do
        v=$(basename "$d")
        setup_go_module paho-go github.com/eclipse/paho.mqtt.golang "$v" "$log" || return 1
        ok+=("$VERSION")
    done
    VERSION=$(IFS=,; echo "${ok[*]}")
}

# paho.golang (Eclipse's MQTT 5 Go client): every clients/paho-golang/<version>/.
setup_paho_golang() {
    local log=$LOGS/paho-golang.log d v ok=()
    apt_ensure "$log" golang-go || return 1
    for d in clients/paho-golang/*/; do
        v=$(basename "$d")
        setup_go_module paho-golang github.com/eclipse/paho.golang "$v" "$log" || return 1
        ok+=("$VERSION")
    done
    VERSION=$(IFS=,; echo "${ok[*]}")
}

# ------------------------------------------------------------------ java ---
# Java clients (clients/paho-java: Eclipse Paho Java; clients/paho-java-v5: its MQTT v5 client;
# clients/hivemq: the HiveMQ MQTT Client), every version their lock.txt lists, side by side:
# target/clients/<name>/<version>/{lib,classes,hold}. lock.txt names every jar of a version's
# runtime classpath by Maven coordinates with its sha256; each is fetched by those coordinates
# alone into target/clients/maven (a cache laid out as a Maven repository) and checked: no Maven,
# no plugin, nothing unlocked runs. Hold.java is compiled against each version's own jars, with
# the contract's plumbing and the runtime server they share (clients/java-contract); `hold` and
# `runtime` are launchers that exec this machine's java (Hold.main: one cell; Runtime.main: a
# cell per connection, see clients/README.md "Runtimes").
JAVA_CONTRACT=(clients/java-contract/Contract.java clients/java-contract/Runtime.java)
java_ensure() { # log
    if ! command -v javac >/dev/null 2>&1 || ! command -v java >/dev/null 2>&1; then
        apt_ensure "$1" openjdk-17-jdk-headless || return 1
    fi
    command -v curl >/dev/null 2>&1 || apt_ensure "$1" curl ca-certificates
}

# The repository the jars come from: MATRIX_MAVEN_REPO, else the central repository that Maven's
# own super POM names (Debian's libmaven3-core-java ships it), so no host is written here.
MAVEN_REPO=""
maven_repo() { # log
    [ -n "$MAVEN_REPO" ] && return 0
    if [ -n "${MATRIX_MAVEN_REPO:-}" ]; then
        MAVEN_REPO=${MATRIX_MAVEN_REPO%/}
        return 0
    fi
    local jar=/usr/share/java/maven3-model-builder.jar mvn
    if [ ! -f "$jar" ] && mvn=$(command -v mvn); then
        # A Maven installed outside Debian keeps the same jar in its own lib folder.
        jar=$(ls "$(dirname "$(readlink -f "$mvn")")"/../lib/maven-model-builder-*.jar 2>/dev/null | head -n 1)
        [ -n "$jar" ] || jar=/usr/share/java/maven3-model-builder.jar
    fi
    [ -f "$jar" ] || apt_ensure "$1" libmaven3-core-java || return 1
    MAVEN_REPO=$(python3 - "$jar" <<'EOF'
import re, sys, zipfile
pom = zipfile.ZipFile(sys.argv[1]).read("org/apache/maven/model/pom-4.0.0.xml").decode()
print(re.findall(r"<url>([^<]+)</url>", pom)[0].rstrip("/"))
EOF
    ) && [ -n "$MAVEN_REPO" ] || { WHY="cannot read the central repository from $jar; set MATRIX_MAVEN_REPO"; return 1; }
}

# fetch_jar COORDINATES SHA256 DEST LOG: the jar of group:artifact:version, from the cache or the
# repository, checked against SHA256, copied to DEST.
fetch_jar() {
    local coords=$1 want=$2 dest=$3 log=$4 g a v
    IFS=: read -r g a v <<<"$coords"
    [ -n "$g" ] && [ -n "$a" ] && [ -n "$v" ] || { WHY="bad coordinates $coords in the lock"; return 1; }
    local rel
    rel="${g//.//}/$a/$v/$a-$v.jar"
    local cached=$OUT/maven/$rel
    if [ ! -f "$cached" ] || [ "$(sha <"$cached")" != "$want" ]; then
        maven_repo "$log" || return 1
        mkdir -p "$(dirname "$cached")"
        echo "+ fetch $coords" >>"$log"
        if ! curl -fsSL --retry 2 --max-time 120 -o "$cached.part" "$MAVEN_REPO/$rel" </dev/null >>"$log" 2>&1; then
            rm -f "$cached.part"
            WHY="$coords: the repository did not serve it ($MAVEN_REPO/$rel)"
            return 1
        fi
        local got
        got=$(sha <"$cached.part")
        if [ "$got" != "$want" ]; then
            rm -f "$cached.part"
            WHY="$coords: sha256 mismatch: the lock says $want, the download is $got"
            return 1
        fi
        mv -f "$cached.part" "$cached"
    fi
    cp "$cached" "$dest/"
}

# java_client_version NAME VERSION LOG [LOCK]: fetch, check, compile and probe one version of the Java
# client in clients/NAME (lock.txt, Hold.java) into target/clients/NAME/<version>/{lib,classes,hold}.
java_client_version() { # name version log [lock file, default clients/NAME/lock.txt]
    local name=$1 v=$2 log=$3 top=$OUT/$1 src=clients/$1 lock=${4:-clients/$1/lock.txt}
    local dir=$top/$v bin=$top/$v/hold stamp=$top/$v/hold.stamp
    local locked want
    locked=$(awk -v v="$v" '!/^#/ && $1 == v { print $2, $3 }' "$lock")
    want=$( { cat "$src/Hold.java" "${JAVA_CONTRACT[@]}"; echo "$locked"; command -v java; javac -version 2>&1
              declare -f java_launchers; } | sha)
    if [ -x "$bin" ] && [ -x "$dir/runtime" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && probe "$log" "$bin" && [ "$VERSION" = "$v" ]; then
        return 0
    fi
    rm -rf "$dir"
    mkdir -p "$dir/lib"
    local coords hash
    while read -r coords hash; do
        fetch_jar "$coords" "$hash" "$dir/lib" "$log" || return 1
    done <<<"$locked"
    if ! javac --release 8 -Xlint:-options -d "$dir/classes" -cp "$dir/lib/*" "$src/Hold.java" "${JAVA_CONTRACT[@]}" </dev/null >>"$log" 2>&1; then
        WHY="javac failed for $name $v: $(last_words "$log")"
        return 1
    fi
    java_launchers "$src" "$name" "$v" "$dir" || { WHY="cannot write the launchers in $dir"; return 1; }
    mv -f "$bin.tmp" "$bin" && mv -f "$dir/runtime.tmp" "$dir/runtime" && echo "$want" >"$stamp"
    if ! probe "$log" "$bin" || [ "$VERSION" != "$v" ]; then
        WHY="$name $v: hold --version failed or reports another version: $(last_words "$log")"
        return 1
    fi
    # The runtime prints its ready line before it reads stdin; at stdin's end it exits at once.
    local ready
    ready=$(timeout 120 "$dir/runtime" </dev/null 2>>"$log" | head -n 1)
    case $ready in
        "runtime: 127.0.0.1:"*) ;;
        *) WHY="$name $v: the runtime printed no ready line (got \"$ready\"): $(last_words "$log")"; return 1 ;;
    esac
    # The client's own jar: the first the lock lists for the version whose version is the column's.
    artefact "$dir" "$(awk -v v="$v" '!/^#/ && $1 == v && $2 ~ (":" v "$") { print "sha256:" $3, $2 " (Maven, " FILENAME ")"; exit }' "$lock")"
    BUILT=1
}

# java_launchers SRC NAME VERSION DIR: DIR/hold.tmp (one cell, Hold) and DIR/runtime.tmp (the
# column's runtime, Runtime). hold: a small heap, the serial collector and the client compiler, as
# the program idles for minutes. runtime: the same with room for 32 cells at once (a Paho cell
# holds well under 1 MiB of heap; measured in clients/README.md "Runtimes").
java_launchers() {
    local src=$1 name=$2 v=$3 dir=$4 java
    java=$(command -v java)
    printf '#!/bin/sh\n# Written by clients/setup.sh: %s/Hold.java on %s %s.\nd=$(dirname "$0")\nexec %s -Xmx64m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -cp "$d/classes:$d/lib/*" Hold "$@"\n' \
        "$src" "$name" "$v" "$java" >"$dir/hold.tmp" && chmod +x "$dir/hold.tmp" || return 1
    printf '#!/bin/sh\n# Written by clients/setup.sh: the runtime (clients/java-contract/Runtime.java) of %s/Hold.java on %s %s.\nd=$(dirname "$0")\nexec %s -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -cp "$d/classes:$d/lib/*" Runtime "$@"\n' \
        "$src" "$name" "$v" "$java" >"$dir/runtime.tmp" && chmod +x "$dir/runtime.tmp"
}

# setup_java NAME: every version clients/NAME/lock.txt lists.
setup_java() {
    local name=$1 log=$LOGS/$1.log v versions=() ok=()
    java_ensure "$log" || return 1
    mapfile -t versions < <(awk '!/^#/ && NF { print $1 }' "clients/$name/lock.txt" | uniq)
    for v in "${versions[@]}"; do
        java_client_version "$name" "$v" "$log" || return 1
        ok+=("$v")
    done
    VERSION=$(IFS=,; echo "${ok[*]}")
}

# ------------------------------------------------------------ on demand ---
# `bash clients/setup.sh --client NAME@VERSION`: a released version that has no committed lock
# (matrix.toml does not list it), installed on demand. It is pinned by exact version from the
# client's own registry (PyPI, npm, Maven, the Go module proxy; MATRIX_PYPI_INDEX,
# MATRIX_NPM_REGISTRY, MATRIX_MAVEN_REPO and MATRIX_GOPROXY point elsewhere) and locked on first
# use: the lock, with the downloaded artefact's hash, is written to target/clients/locks/NAME/VERSION/
# and every later install of that version is checked against it, as the committed locks are.
# Nothing outside target/ changes. The version is then installed by the same function as a locked
# one, and its target/clients/NAME/VERSION/artefact names the hash (the result JSON shows it).
LOCKS=$OUT/locks
# The registries the discovery reads (engine/releases.rs), for the tools that install from them.
[ -n "${MATRIX_PYPI_INDEX:-}" ] && export PIP_INDEX_URL=$MATRIX_PYPI_INDEX
[ -n "${MATRIX_NPM_REGISTRY:-}" ] && export npm_config_registry=$MATRIX_NPM_REGISTRY
[ -n "${MATRIX_GOPROXY:-}" ] && export GOPROXY=$MATRIX_GOPROXY

# ondemand_python VERSION LOG: paho-mqtt==VERSION, its wheel if the index has one, else its sdist.
ondemand_python() {
    local v=$1 log=$2 locks=$LOCKS/paho-python/$1
    local req=$locks/requirements.txt
    if [ ! -f "$req" ]; then
        local pip=("$PYTHON" -m pip) tool=$LOCKS/paho-python/pip-venv
        if ! "${pip[@]}" --version >/dev/null 2>&1; then
            [ -x "$tool/bin/python" ] || "$PYTHON" -m venv "$tool" </dev/null >>"$log" 2>&1 || { WHY="$PYTHON -m venv failed: $(last_words "$log")"; return 1; }
            pip=("$tool/bin/python" -m pip)
        fi
        local dl=$locks/download
        rm -rf "$dl" && mkdir -p "$dl"
        echo "+ pip download paho-mqtt==$v --no-deps (${MATRIX_PYPI_INDEX:-the pip index})" >>"$log"
        if ! "${pip[@]}" download --disable-pip-version-check \
            --no-input -q --no-deps -d "$dl" "paho-mqtt==$v" </dev/null >>"$log" 2>&1; then
            WHY="pip download paho-mqtt==$v failed: $(last_words "$log")"
            rm -rf "$locks"
            return 1
        fi
        local file
        file=$(ls "$dl" | head -n 1)
        [ -n "$file" ] || { WHY="pip download paho-mqtt==$v left no file"; return 1; }
        local how='--only-binary :all:'
        case $file in *.whl) ;; *) how='--no-binary paho-mqtt' ;; esac
        printf '# paho-mqtt %s from PyPI on demand: %s, by the sha256 of its first download.\n%s\npaho-mqtt==%s --hash=sha256:%s\n' \
            "$v" "$file" "$how" "$v" "$(sha <"$dl/$file")" >"$req.tmp" && mv -f "$req.tmp" "$req"
        rm -rf "$dl"
    fi
    setup_python_version "$v" "$log" "$req"
}

# ondemand_mqttjs VERSION LOG: a package-lock.json for mqtt@VERSION exactly, then `npm ci` of it.
ondemand_mqttjs() {
    local v=$1 log=$2 locks=$LOCKS/mqttjs/$1
    node_ensure "$log" || return 1
    if [ ! -f "$locks/package-lock.json" ]; then
        mkdir -p "$locks"
        printf '{\n  "name": "mosquitto-matrix-client-mqttjs",\n  "version": "0.0.0",\n  "private": true,\n  "description": "MQTT.js %s on demand (clients/setup.sh --client mqttjs@%s)",\n  "type": "module",\n  "dependencies": {\n    "mqtt": "%s"\n  }\n}\n' \
            "$v" "$v" "$v" >"$locks/package.json"
        echo "+ npm install --package-lock-only mqtt@$v (${MATRIX_NPM_REGISTRY:-the npm registry})" >>"$log"
        if ! npm install --package-lock-only \
            --prefix "$locks" --no-audit --no-fund --loglevel=error </dev/null >>"$log" 2>&1; then
            rm -rf "$locks"
            WHY="npm install mqtt@$v failed: $(last_words "$log")"
            return 1
        fi
    fi
    mqttjs_version "$v" "$log" "$locks"
}

# ondemand_go NAME MODULE VERSION LOG: a go.mod requiring MODULE vVERSION and the go.sum Go writes
# for it (checked against the checksum database, as Go does), then the locked build.
ondemand_go() {
    local name=$1 module=$2 v=$3 log=$4 locks=$LOCKS/$1/$3
    apt_ensure "$log" golang-go || return 1
    if [ ! -f "$locks/go.sum" ]; then
        rm -rf "$locks" && mkdir -p "$locks" && cp "clients/$name/hold.go" "$locks/"
        printf '// %s %s on demand (clients/setup.sh --client %s@%s).\nmodule mosquitto-matrix/clients/%s\n\ngo 1.24.0\n' \
            "$module" "$v" "$name" "$v" "$name" >"$locks/go.mod"
        echo "+ go get $module@v$v; go mod tidy (${MATRIX_GOPROXY:-go env GOPROXY})" >>"$log"
        if ! (cd "$locks" && env GOPATH="$ROOT/$OUT/go/gopath" GOMODCACHE="$ROOT/$OUT/go/gomod" \
            GOCACHE="$ROOT/$OUT/go/gocache" GOFLAGS=-mod=mod GOTOOLCHAIN=local GO111MODULE=on \
            sh -c "go get '$module@v$v' && go mod tidy" </dev/null >>"$ROOT/$log" 2>&1); then
            rm -rf "$locks"
            WHY="go get $module@v$v failed: $(last_words "$log")"
            return 1
        fi
        rm -f "$locks/hold.go"
    fi
    setup_go_module "$name" "$module" "$v" "$log" "$locks"
}

# pom_dependencies POM: the groupId:artifactId of each dependency a POM names for run time.
pom_dependencies() {
    python3 - "$1" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
ns = root.tag[:root.tag.index("}") + 1] if root.tag.startswith("{") else ""
block = root.find(ns + "dependencies")
for d in ([] if block is None else block.findall(ns + "dependency")):
    get = lambda k: (d.findtext(ns + k) or "").strip()
    if get("scope") in ("test", "provided", "system") or get("optional") == "true":
        continue
    print(get("groupId") + ":" + get("artifactId"))
PY
}

# ondemand_java NAME GROUP:ARTIFACT VERSION LOG: the client's jar at exactly VERSION, locked by the
# sha256 of its first download. Only a jar whose POM names no run-time dependency is taken: a
# client with dependencies needs its whole classpath resolved and locked (clients/README.md, Locks).
ondemand_java() {
    local name=$1 ga=$2 v=$3 log=$4 locks=$LOCKS/$1/$3
    command -v curl >/dev/null 2>&1 || apt_ensure "$log" curl ca-certificates || return 1
    if [ ! -f "$locks/lock.txt" ]; then
        maven_repo "$log" || return 1
        local g=${ga%%:*} a=${ga#*:}
        local rel=${g//.//}/$a/$v/$a-$v
        mkdir -p "$locks"
        echo "+ fetch $ga:$v (pom, jar) from $MAVEN_REPO" >>"$log"
        if ! curl -fsSL --retry 2 --max-time 120 -o "$locks/pom.xml" "$MAVEN_REPO/$rel.pom" </dev/null >>"$log" 2>&1; then
            WHY="$ga:$v: the repository did not serve its POM ($MAVEN_REPO/$rel.pom)"
            rm -rf "$locks"
            return 1
        fi
        local deps
        deps=$(pom_dependencies "$locks/pom.xml" 2>>"$log") || { WHY="$ga:$v: its POM cannot be read: $(last_words "$log")"; rm -rf "$locks"; return 1; }
        if [ -n "$deps" ]; then
            rm -rf "$locks"
            WHY="$ga:$v depends on $(echo $deps | tr ' ' ','): on demand installs only a jar without dependencies; lock its classpath in clients/$name/lock.txt (clients/README.md, Locks)"
            return 1
        fi
        if ! curl -fsSL --retry 2 --max-time 120 -o "$locks/$a-$v.jar" "$MAVEN_REPO/$rel.jar" </dev/null >>"$log" 2>&1; then
            WHY="$ga:$v: the repository did not serve its jar ($MAVEN_REPO/$rel.jar)"
            rm -rf "$locks"
            return 1
        fi
        printf '# %s:%s on demand, by the sha256 of its first download.\n%s %s:%s %s\n' \
            "$ga" "$v" "$v" "$ga" "$v" "$(sha <"$locks/$a-$v.jar")" >"$locks/lock.txt"
        rm -f "$locks/$a-$v.jar"
    fi
    java_ensure "$log" || return 1
    java_client_version "$name" "$v" "$log" "$locks/lock.txt"
}

# ondemand NAME VERSION: one version on demand, by the client's registry.
ondemand() {
    local name=$1 v=$2 log=$LOGS/$1@$2.log
    case $v in '' | *[!A-Za-z0-9._+-]*) WHY="version \"$v\" may hold only letters, digits, '.', '_', '-' and '+'"; return 1 ;; esac
    local status=0
    case $name in
        paho-python) ondemand_python "$v" "$log" || status=1 ;;
        mqttjs) ondemand_mqttjs "$v" "$log" || status=1 ;;
        paho-go) ondemand_go paho-go github.com/eclipse/paho.mqtt.golang "$v" "$log" || status=1 ;;
        paho-golang) ondemand_go paho-golang github.com/eclipse/paho.golang "$v" "$log" || status=1 ;;
        paho-java) ondemand_java paho-java org.eclipse.paho:org.eclipse.paho.client.mqttv3 "$v" "$log" || status=1 ;;
        paho-java-v5) ondemand_java paho-java-v5 org.eclipse.paho:org.eclipse.paho.mqttv5.client "$v" "$log" || status=1 ;;
        hivemq) ondemand_java hivemq com.hivemq:hivemq-mqtt-client "$v" "$log" || status=1 ;;
        *) WHY="$name has no on-demand install (on demand: paho-python mqttjs paho-go paho-golang paho-java paho-java-v5 hivemq)"; status=1 ;;
    esac
    VERSION=$v
    return $status
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

# The clients, by name: `bash clients/setup.sh NAME...` sets up only those.
CLIENTS=(paho-python mqttjs browser paho-c paho-go paho-golang paho-java paho-java-v5 hivemq)
setup_of() {
    case $1 in
        paho-python) setup_python ;;
        mqttjs) setup_mqttjs ;;
        browser) setup_browser ;;
        paho-c) setup_paho_c ;;
        paho-go) setup_paho_go ;;
        paho-golang) setup_paho_golang ;;
        paho-java | paho-java-v5 | hivemq) setup_java "$1" ;;
    esac
}
wanted=()
while [ $# -gt 0 ]; do
    case $1 in
        --client)
            item=${2:-}
            shift $(($# > 1 ? 2 : 1))
            case $item in
                ?*@?*) run "$item" ondemand "${item%%@*}" "${item#*@}" ;;
                *) line "${item:-?}" - "FAILED: --client takes NAME@VERSION"; failed+=("${item:-?}") ;;
            esac
            ondemand_asked=1
            ;;
        *) wanted+=("$1"); shift ;;
    esac
done
# No client named and no --client: every client.
[ ${#wanted[@]} -eq 0 ] && [ -z "$ondemand_asked" ] && wanted=("${CLIENTS[@]}")
for name in "${wanted[@]}"; do
    case " ${CLIENTS[*]} " in
        *" $name "*) run "$name" setup_of "$name" ;;
        *) line "$name" - "FAILED: no such client (known: ${CLIENTS[*]})"; failed+=("$name") ;;
    esac
done

elapsed=$(awk -v a="$t_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
if [ ${#failed[@]} -gt 0 ]; then
    echo "setup: FAILED: ${failed[*]} (${elapsed} s; logs in $LOGS/)"
    exit 1
fi
echo "setup: all clients ready (${elapsed} s)"
