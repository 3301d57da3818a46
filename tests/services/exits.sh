#!/bin/sh
# A service that fails at once, saying why on stderr.
echo "starting"
echo "cannot listen: address already in use" >&2
exit 3
