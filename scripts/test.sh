#!/usr/bin/env bash
# Every test: sets up what is missing, type-checks, checks the SQL servers, runs jest against a
# real Temporal dev server and moto (started by the tests on free loopback ports), and ends with
# the line "N passed, N failed, N skipped".
#
# Needs: Node.js 20+, Python 3.10+ (for .venv), and for the SQL tests a PostgreSQL and a
# MariaDB/MySQL server. Point the tests at them with:
#   DBOPS_TEST_PG_URL     (default postgres://postgres@127.0.0.1:5432/postgres)
#   DBOPS_TEST_MYSQL_URL  (default mysql://root@127.0.0.1:3306/mysql)
# The admin users must be able to create databases and users. A server that cannot be reached is
# reported here and its tests are skipped (counted as skipped), never silently passed.
set -uo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }

echo "[test] type-checking (src, test, bench)"
if ! npx tsc -p tsconfig.test.json; then
  echo "type errors"; echo "0 passed, 1 failed"; exit 1
fi

echo "[test] lint (eslint) and format (prettier --check)"
if ! npx eslint src test bench; then
  echo "lint errors (npx eslint src test bench)"; echo "0 passed, 1 failed"; exit 1
fi
if ! npx prettier --check "src/**/*.ts" "test/**/*.ts" "bench/**/*.ts" >/dev/null; then
  npx prettier --list-different "src/**/*.ts" "test/**/*.ts" "bench/**/*.ts"
  echo "not formatted: run npm run format"; echo "0 passed, 1 failed"; exit 1
fi

node scripts/check-sql-servers.js
mkdir -p test-results
npx jest --forceExit --json --outputFile=test-results/jest.json "$@"
status=$?
node scripts/summarise-jest.js test-results/jest.json || status=1
exit $status
