# Sourced by the docker/ and scripts/ shell scripts: how the project changes this machine.
# Every change outside the checkout is said before it is made, made as root only where it
# must be (the caller names the step and why), and recorded so that scripts/uninstall.sh can
# undo it. Logs of one run go under target/logs/<run>/, owned by whoever runs the script.
#
#   host_root_dir             the checkout
#   host_log_dir              target/logs/<run>/ (MOSQUITTO_MATRIX_LOG_DIR; made, and exported,
#                             on first use: every script of one run logs into the same folder)
#   host_as_root STEP WHY CMD...   run CMD as root: directly when root, else through
#                             `sudo -n`; says "root: STEP: WHY" first. Without either it
#                             fails with one line naming STEP, WHY and how to give root
#   host_need_root STEP WHY   that check and line alone; host_root CMD... runs CMD as root
#   host_record KIND WHAT...  note a change for uninstall.sh (once per KIND WHAT)
#   host_apt_install WHY PKG...    install the Debian packages of PKG that are missing (one
#                             apt-get update first when apt has no lists or the install fails),
#                             each recorded as `package NAME`
#   host_give_back PATH...    under sudo, give PATH (recursively) back to the invoking user
#   host_dry_run              true when MOSQUITTO_MATRIX_DRY_RUN=1: say, do not do
#   host_would WHAT           print "would: WHAT" (the --dry-run lines)
#
# The record: $MOSQUITTO_MATRIX_STATE_DIR (default /var/lib/mosquitto-matrix), file `changes`,
# one change a line: `package NAME`, `apt-source PATH`, `engine PID LOG`, `iptables FILE`,
# `ip_forward VALUE`.

host_root_dir() { (cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd); }

HOST_STATE_DIR=${MOSQUITTO_MATRIX_STATE_DIR:-/var/lib/mosquitto-matrix}
HOST_CHANGES=$HOST_STATE_DIR/changes

host_dry_run() { [ "${MOSQUITTO_MATRIX_DRY_RUN:-}" = 1 ]; }
host_would() { echo "would: $*"; }

# One folder per run, named when the first script of the run sources this file (made on use).
if [ -z "${MOSQUITTO_MATRIX_LOG_DIR:-}" ]; then
    MOSQUITTO_MATRIX_LOG_DIR="$(host_root_dir)/target/logs/$(date -u +%Y%m%dT%H%M%SZ)-$$"
fi
export MOSQUITTO_MATRIX_LOG_DIR
host_log_dir() { mkdir -p "$MOSQUITTO_MATRIX_LOG_DIR" && echo "$MOSQUITTO_MATRIX_LOG_DIR"; }

host_need_root() {
    local step=$1 why=$2
    if [ "$(id -u)" -eq 0 ]; then
        echo "root: $step: $why" >&2
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        echo "root (sudo): $step: $why" >&2
    else
        echo "error: $step needs root ($why); run it as root (e.g. sudo bash $0), or allow sudo without a password for this step" >&2
        return 1
    fi
}

host_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi
}

host_as_root() {
    host_need_root "$1" "$2" || return 1
    shift 2
    host_root "$@"
}

host_record() {
    local line="$*"
    [ -f "$HOST_CHANGES" ] && grep -qxF "$line" "$HOST_CHANGES" 2>/dev/null && return 0
    host_as_root "recording a change" "$HOST_CHANGES is what scripts/uninstall.sh undoes" \
        sh -c 'mkdir -p "$1" && chmod 0755 "$1" && printf "%s\n" "$2" >>"$1/changes"' sh "$HOST_STATE_DIR" "$line"
}

# (no `| grep -q`: under pipefail a grep that stops reading fails the pipe by SIGPIPE)
host_apt_installed() { case $(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null) in ii*) return 0 ;; *) return 1 ;; esac; }

host_apt_install() {
    local why=$1 p missing=() log
    shift
    for p in "$@"; do host_apt_installed "$p" || missing+=("$p"); done
    [ ${#missing[@]} -gt 0 ] || return 0
    if host_dry_run; then
        host_would "apt-get install ${missing[*]} (as root: $why); recorded for scripts/uninstall.sh --packages"
        return 0
    fi
    log="$(host_log_dir)/apt-get.log"
    export DEBIAN_FRONTEND=noninteractive
    echo "apt: installing ${missing[*]} ($why; log: $log)" >&2
    host_need_root "apt-get install ${missing[*]}" "$why" || return 1
    if [ -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v -e '^lock$' -e '^partial$' -e '^auxfiles$')" ] ||
        ! host_root apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null >>"$log" 2>&1; then
        echo "apt: apt-get update first (the package lists are missing or stale)" >&2
        host_root apt-get update -q </dev/null >>"$log" 2>&1 || { tail -n 20 "$log" >&2; return 1; }
        host_root apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null >>"$log" 2>&1 ||
            { tail -n 20 "$log" >&2; return 1; }
    fi
    for p in "${missing[@]}"; do host_record package "$p"; done
}

host_give_back() {
    [ "$(id -u)" -eq 0 ] && [ -n "${SUDO_UID:-}" ] && [ "${SUDO_UID}" != 0 ] || return 0
    local p
    for p in "$@"; do
        [ -e "$p" ] && chown -R "$SUDO_UID:${SUDO_GID:-$SUDO_UID}" "$p"
    done
    return 0
}
