#!/usr/bin/env bash
# The product: sets up what is missing, builds, then runs the worker. Without TEMPORAL_ADDRESS the
# worker starts the embedded Temporal dev server (state in .dbops/, Web UI on http://localhost:8233).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node dist/worker.js
