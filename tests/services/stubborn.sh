#!/bin/sh
# A service that ignores SIGTERM and forks a child that ignores it too (ignored signals stay
# ignored across exec, so every sleep does as well).
trap '' TERM
sh -c 'while :; do sleep 1; done' &
echo "service: stubborn"
while :; do sleep 1; done
