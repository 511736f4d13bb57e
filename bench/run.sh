#!/usr/bin/env bash
# Runs the benchmarks (not part of npm test) and writes bench/results/<name>.json.
# Usage: npm run bench [-- peering dblab provision cli startup waits ratelimit memory module-memory]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npx tsc -p tsconfig.bench.json
mkdir -p bench/results
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(peering dblab provision cli startup waits ratelimit memory module-memory)
for name in "${names[@]}"; do
  [ -f "build/bench/bench/${name}.js" ] || { echo "no benchmark ${name}"; continue; }
  echo "[bench] ${name}"
  node --expose-gc "build/bench/bench/${name}.js" | tee "bench/results/${name}.json"
done
