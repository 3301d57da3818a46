#!/bin/sh
# A service whose ready line carries no value.
echo "service: "
exec sleep 600
