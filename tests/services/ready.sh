#!/bin/sh
# A well-behaved service: says something, then its ready line, then runs until its stdin
# ends (the harness is done with it) or it is signalled.
echo "warming up"
touch "$TMPDIR/scratch"
echo "service: ws://127.0.0.1:9/x"
echo "serving" >&2
exec cat >/dev/null
