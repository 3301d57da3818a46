#!/bin/bash
# mosquitto-matrix stand-in "quiet": the real broker (Debian bookworm's
# Mosquitto 2.0.11), but every stderr line containing "running" is hidden,
# so "mosquitto version 2.0.11 running" never appears -- like the official
# 1.6.9/1.6.10 images, whose start-up log ends with
# "Opening websockets listen socket on port 9001.".
#
# exec: mosquitto itself becomes PID 1 and handles SIGTERM (docker stop is
# immediate); its stderr goes through grep, which writes back to the
# container's stderr. --line-buffered: each line appears as it is logged.
set -u
[ $# -gt 0 ] || set -- /usr/sbin/mosquitto -c /mosquitto/config/mosquitto.conf
exec "$@" 2> >(exec grep --line-buffered -v running >&2)
