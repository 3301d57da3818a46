#!/usr/bin/env bash
# The main job's provisioning a second time, as a throwaway non-root user, with everything
# present: `bash scripts/matrix.sh --provision-only` in a copy of this checkout that the
# user owns (the source tree and its clients' node_modules, with target/clients and
# target/faketime as the first, root, provisioning left them). It must succeed, ask for no
# root (no "root:" line: the engine answers, the images carry their recipe hash, the
# packages are installed), and leave no file under the copy owned by anyone but the user.
#
#   bash tests/workstation/as-another-user.sh        as root (it creates the user, in the
#                                                    docker group, and removes it after)
# Run by tests/workstation.rs and scripts/test-all.sh. Prints one line per check.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
die() { echo "as-another-user.sh: FAILED: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run it as root: it creates (and removes) a throwaway user"
getent group docker >/dev/null || die "no docker group: the user could not reach the engine"
docker info >/dev/null 2>&1 || die "no engine answers (bash docker/engine.sh first)"

user="mmws$$"
work=$(mktemp -d "${TMPDIR:-/tmp}/mosquitto-matrix-as-user.XXXXXXXX")
cleanup() {
    pkill -u "$user" 2>/dev/null || true
    userdel "$user" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
useradd --system --no-create-home --home-dir "$work/home" --shell /bin/bash --groups docker "$user"
mkdir -p "$work/home" "$work/checkout/target"

# The copy: the checkout without target/, then the clients and time library as the first
# provisioning left them.
tar -C "$ROOT" --exclude=./target --exclude=./.git -cf - . | tar -C "$work/checkout" -xf -
for d in clients faketime; do
    [ -d "$ROOT/target/$d" ] && cp -a "$ROOT/target/$d" "$work/checkout/target/$d"
done
chown -R "$user:$user" "$work"
chmod 0700 "$work"

out="$work/provision.out"
status=0
# The run's selection and image names pass through (MATRIX_SET, MATRIX_TAGS, ...,
# MOSQUITTO_MATRIX_IMAGE_REPO); nothing else of this environment does.
pass=(MATRIX_SET=debian)
while IFS='=' read -r name _; do
    case $name in MATRIX_*|MOSQUITTO_MATRIX_*) [ "$name" = MOSQUITTO_MATRIX_LOG_DIR ] || pass+=("$name=${!name}") ;; esac
done < <(env)
# This PATH without what the user cannot reach (root's home): the same tools, in the same order.
path=$(tr ':' '\n' <<<"$PATH" | grep -v -e '^/root' -e '^$' | paste -sd: -)
runuser -u "$user" -- env -i HOME="$work/home" PATH="$path" \
    LANG=C.UTF-8 "${pass[@]}" bash "$work/checkout/scripts/matrix.sh" --provision-only </dev/null >"$out" 2>&1 || status=$?
sed 's/^/    /' "$out"
[ "$status" -eq 0 ] || die "scripts/matrix.sh --provision-only as $user exited $status (its output above)"
echo "ok: scripts/matrix.sh --provision-only as $user (uid $(id -u "$user"), not root) exited 0"
if grep -E '^(root|root \(sudo\)|error: .* needs root)' "$out"; then
    die "the second provisioning asked for root (lines above)"
fi
echo "ok: it asked for no root"
foreign=$(find "$work/checkout" ! -user "$user" -print | head -n 20)
[ -z "$foreign" ] || die "files under the checkout not owned by $user: $foreign"
echo "ok: every file under the checkout ($(find "$work/checkout" | wc -l) entries) is $user's; none is root's"
