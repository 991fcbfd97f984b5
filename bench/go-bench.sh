#!/usr/bin/env bash
# Go benchmarks of the hot path, compiled and interpreted by Yaegi (as in Traefik), against a throwaway
# Redis, plus redis-benchmark's GET on the same server for comparison.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
servers=$(mktemp -d /tmp/sessionjwt-bench.XXXXXX)
trap 'scripts/test-servers.sh stop "$servers"; rm -rf "$servers"' EXIT
scripts/test-servers.sh start-plain "$servers" >/dev/null
. "$servers/env"
echo "== compiled (go test -bench)"
go test -run '^$' -bench . -benchmem -count "${COUNT:-3}" .
echo "== interpreted (yaegi test -bench)"
"$(go env GOPATH)/bin/yaegi" test -run '^$' -bench . -benchmem -count "${COUNT:-3}" .
echo "== redis-benchmark -t get (1 connection, no pipelining: one round trip per request, like one lookup)"
redis-benchmark -h 127.0.0.1 -p "${SESSIONJWT_TEST_REDIS##*:}" -t get -c 1 -n 100000 -q 2>&1 | tr "\r" "\n" | grep 'requests per second' | tail -n 1
