#!/usr/bin/env bash
# The readme's test command (`make test`, also what .ci/run runs): installs what is missing, starts
# throwaway Redis servers, checks the itsdangerous fixtures against the real library, and runs the same
# tests compiled with the race detector and interpreted by Yaegi, as Traefik runs the plugin.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
yaegi="$(go env GOPATH)/bin/yaegi"

echo "== static checks"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt would change: $unformatted"; exit 1; fi
go vet ./...
(cd tools/yaegilint && go test -count=1 .)
if [ -x ../shared/tools/yaegi-pitfalls ]; then ../shared/tools/yaegi-pitfalls .; fi
/usr/bin/python3 tools/fixtures/itsdangerous_fixtures.py --check

servers=$(mktemp -d /tmp/sessionjwt-test.XXXXXX)
trap 'scripts/test-servers.sh stop "$servers"; rm -rf "$servers"' EXIT
scripts/test-servers.sh start "$servers"
# shellcheck disable=SC1091
. "$servers/env"

echo "== go test -race (compiled)"
go test -race -count=1 ${GOTESTFLAGS:-} .

echo "== yaegi test (interpreted, as inside Traefik)"
"$yaegi" test ${YAEGITESTFLAGS:-} .
