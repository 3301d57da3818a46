#!/bin/bash
# mosquitto-matrix stand-in "realtime": the real broker (Debian bookworm's Mosquitto
# 2.0.11), started with LD_PRELOAD and FAKETIME removed from its environment, so a preloaded
# time library never reaches it -- as with a statically linked broker, a loader that refuses
# the library, or a library built for the other C library that is silently skipped. An
# accelerated run must catch it by its clock (acceleration not in effect), never trust it.
set -u
[ $# -gt 0 ] || set -- /usr/sbin/mosquitto -c /mosquitto/config/mosquitto.conf
unset LD_PRELOAD FAKETIME
exec "$@"
