#!/bin/bash
# mosquitto-matrix stand-in "exits": the real broker (Debian bookworm's
# Mosquitto 2.0.11) given a WebSocket-only copy of its config, which makes it
# fail exactly like the official 1.6.9 image with a WebSocket-only config:
#
#   mosquitto version 2.0.11 starting
#   Config loaded from ....
#   Opening websockets listen socket on port 9001.
#   Error: Unable to start any listening sockets, exiting.
#
# and exit with status 1. (Its libwebsockets is not built with external
# poll, so the websockets listener's socket is never added to mosquitto's own
# listen sockets, and with no MQTT/TCP listener that list stays empty: the
# same bug as 1.6.9.)
#
# The config named by -c is copied to $STANDIN_CONF without its non-websockets
# listeners: every "listener PORT" line whose block has no
# "protocol websockets", its "protocol mqtt" line, and 1.x-style "port PORT"
# lines are dropped (the options under such a listener then apply to the
# listener before it, or globally). If no websockets listener is left,
# "listener 9001" + "protocol websockets" is added.
set -u
[ $# -gt 0 ] || set -- /usr/sbin/mosquitto -c /mosquitto/config/mosquitto.conf
out=${STANDIN_CONF:-/tmp/mosquitto-matrix-standin-exits.conf}

args=()
conf=""
prev=""
for a in "$@"; do
    if [ "$prev" = "-c" ]; then conf=$a; a=$out; fi
    args+=("$a")
    prev=$a
done
[ -n "$conf" ] || { echo "standin exits: no -c CONFIG in the command: $*" >&2; exit 2; }
[ -r "$conf" ] || { echo "standin exits: cannot read $conf" >&2; exit 2; }

# Two passes over the file: first mark which listener blocks are websockets,
# then print everything but the other listeners' listener/protocol lines.
awk '
    FNR==1 { pass++; block=0 }
    /^[ \t]*listener[ \t]+[0-9]+/ { block++ }
    pass==1 { if (block && $1=="protocol" && $2=="websockets") ws[block]=1; next }
    /^[ \t]*port[ \t]+[0-9]+/ { next }
    /^[ \t]*listener[ \t]+[0-9]+/ && !ws[block] { next }
    $1=="protocol" && block && !ws[block] { next }
    { print }
    END { n=0; for (b in ws) n++; if (!n) { print "listener 9001"; print "protocol websockets" } }
' "$conf" "$conf" >"$out" || { echo "standin exits: cannot write $out" >&2; exit 2; }

exec "${args[@]}"
