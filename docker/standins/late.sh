#!/bin/bash
# mosquitto-matrix stand-in "late": prints Mosquitto 1.6.10's start-up lines
# at once, then waits STANDIN_DELAY seconds (default 4) before starting the
# real broker (Debian bookworm's 2.0.11). A harness that trusts the log line
# "Opening websockets listen socket on port 9001." connects while nothing
# listens yet. The real broker's own lines follow after the delay, with
# every line containing "running" hidden (1.6.10 never prints one).
#
# docker stop during the delay: the TERM trap ends the wait at once (exit
# 143); after it, mosquitto is PID 1 and handles SIGTERM itself.
set -u
[ $# -gt 0 ] || set -- /usr/sbin/mosquitto -c /mosquitto/config/mosquitto.conf
delay=${STANDIN_DELAY:-4}
case "$delay" in ''|*[!0-9.]*) echo "standin late: STANDIN_DELAY must be a number of seconds, got '$delay'" >&2; exit 2 ;; esac

# the config file named by -c, for the "Config loaded" line
conf=/mosquitto/config/mosquitto.conf
prev=""
for a in "$@"; do
    [ "$prev" = "-c" ] && conf=$a
    prev=$a
done

say() { printf '%s: %s\n' "$(date +%s)" "$*" >&2; }
say "mosquitto version 1.6.10 starting"
say "Config loaded from $conf."
say "Opening ipv4 listen socket on port 1883."
say "Opening ipv6 listen socket on port 1883."
say "Opening websockets listen socket on port 9001."

trap 'exit 143' TERM INT
sleep "$delay" &
wait $!
trap - TERM INT

exec "$@" 2> >(exec grep --line-buffered -v running >&2)
