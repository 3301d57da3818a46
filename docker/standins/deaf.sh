#!/bin/bash
# mosquitto-matrix stand-in "deaf": the real broker (Debian bookworm's
# Mosquitto 2.0.11), running, logging its real start-up lines -- including
# "mosquitto version 2.0.11 running" -- but with no listener reachable from
# outside the container: every listener is bound to 127.0.0.1 *inside* the
# container's network namespace, so published ports never reach it (on the
# host, docker-proxy may accept a TCP connection and then close it at once;
# a WebSocket upgrade never gets an answer).
#
# The config named by -c is copied to $STANDIN_CONF with each
# "listener PORT [ADDRESS]" (and 1.x-style "port PORT") rewritten to
# "listener PORT 127.0.0.1" + "socket_domain ipv4" (without the latter,
# libwebsockets -- built with IPv6 -- ignores the address and listens on
# [::]:PORT); the config's own bind_address/bind_interface/socket_domain
# lines are dropped. mosquitto reads its config as root, before dropping
# privileges, so the copy may stay root-owned.
# exec: mosquitto is PID 1 and handles SIGTERM (docker stop is immediate).
set -u
[ $# -gt 0 ] || set -- /usr/sbin/mosquitto -c /mosquitto/config/mosquitto.conf
out=${STANDIN_CONF:-/tmp/mosquitto-matrix-standin-deaf.conf}

args=()
conf=""
prev=""
for a in "$@"; do
    if [ "$prev" = "-c" ]; then conf=$a; a=$out; fi
    args+=("$a")
    prev=$a
done
[ -n "$conf" ] || { echo "standin deaf: no -c CONFIG in the command: $*" >&2; exit 2; }
[ -r "$conf" ] || { echo "standin deaf: cannot read $conf" >&2; exit 2; }

awk '
    /^[ \t]*(listener|port)[ \t]+[0-9]+/ { print "listener " $2 " 127.0.0.1"; print "socket_domain ipv4"; n++; next }
    /^[ \t]*(bind_address|bind_interface|socket_domain)[ \t]/ { next }
    { print }
    END { if (!n) { print "listener 1883 127.0.0.1"; print "socket_domain ipv4" } }
' "$conf" >"$out" || { echo "standin deaf: cannot write $out" >&2; exit 2; }

exec "${args[@]}"
