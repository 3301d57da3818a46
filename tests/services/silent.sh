#!/bin/sh
# A service that never says it is ready. Writes its process group to $SERVICE_PGID_FILE.
echo "$$" > "$SERVICE_PGID_FILE"
echo "warming up"
exec sleep 600
