#!/usr/bin/env bash
# The readme's test command (`make test`, also what .ci/run runs): installs what is missing, starts
# throwaway Redis servers, checks the itsdangerous fixtures against the real library, runs the same
# tests compiled with the race detector and interpreted by Yaegi, and finally runs the end-to-end tests
# against a real Traefik binary (built once into ~/.cache/sessionjwt, about 15 minutes cold).
set -euo pipefail
cd "$(dirname "$0")/.."
# The Traefik releases the end-to-end suite runs in (the readme's supported versions).
TRAEFIK_VERSIONS="${TRAEFIK_VERSIONS:-v3.6.12 v2.11.54}"
scripts/install-deps.sh
yaegi="$(go env GOPATH)/bin/yaegi"

echo "== static checks"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt would change: $unformatted"; exit 1; fi
go vet ./...
(cd e2e && go vet ./...)
(cd tools/yaegilint && go test -count=1 .)
(cd tools/yaegiprof && go vet .)
(cd bench/floorplugin && go vet .) # make bench's floors, a plugin of their own
(cd tools/catalogcheck && go vet .)
(cd tools/examplecheck && go vet .)
(cd demo/backend && go vet .) && (cd demo/auth && go vet .) && (cd demo/browser && go vet .) # make demo's programs
# The team's shared pitfall grep sits beside the checkout on its machines (not part of this repository;
# CONTRIBUTING.md); tools/yaegilint above and yaegi test below run everywhere.
if [ -x ../shared/tools/yaegi-pitfalls ]; then
  # Only the package Yaegi runs (plugin and its tests); e2e/, bench/ and tools/ are compiled programs.
  plugin_only=$(mktemp -d)
  cp ./*.go "$plugin_only/"
  ../shared/tools/yaegi-pitfalls "$plugin_only" || { rm -rf "$plugin_only"; exit 1; }
  rm -rf "$plugin_only"
fi
/usr/bin/python3 tools/fixtures/itsdangerous_fixtures.py --check
/usr/bin/python3 tools/fixtures/jwt_fixtures.py --check

echo "== installable as Traefik and its plugin catalog install it (tools/catalogcheck)"
(cd tools/catalogcheck && go run . ../..)

servers=$(mktemp -d /tmp/sessionjwt-test.XXXXXX)
trap 'scripts/test-servers.sh stop "$servers"; rm -rf "$servers"' EXIT
scripts/test-servers.sh start "$servers"
# shellcheck disable=SC1091
. "$servers/env"
echo "== the readme's configuration examples (tools/examplecheck)"
(cd tools/examplecheck && go run . -repo ../.. -write-dynamic "$servers/readme-dynamic.yml")
export SESSIONJWT_README_DYNAMIC="$servers/readme-dynamic.yml" # loaded by the e2e Traefik

echo "== go test -race (compiled)"
go test -race -count=1 ${GOTESTFLAGS:-} .

echo "== yaegi test (interpreted, as inside Traefik)"
ylog="$servers/yaegi.log"
status=0
"$yaegi" test -v ${YAEGITESTFLAGS:-} . > "$ylog" 2>&1 || status=$?
grep -E '^(--- FAIL|FAIL|panic)' -A20 "$ylog" || true
passed=$(grep -c '^--- PASS' "$ylog" || true)
failed=$(grep -c '^--- FAIL' "$ylog" || true)
echo "yaegi: $passed passed, $failed failed"
if [ "$status" != 0 ] || [ "$failed" != 0 ] || [ "$passed" = 0 ]; then exit 1; fi

echo "== the plugin as Traefik loads it, without Traefik (bench/profile-yaegi.sh)"
bench/profile-yaegi.sh -n 1000

echo "== end to end: the plugin inside a real Traefik (e2e/), on every Traefik the readme supports"
for version in $TRAEFIK_VERSIONS; do
  traefik_bin=$(TRAEFIK_VERSION=$version scripts/build-traefik.sh | tail -n 1)
  echo "== make demo and e2e on Traefik $version"
  # `make demo` answers as the readme says, to curl and to headless Chromium (demo/browser)
  TRAEFIK_VERSION=$version SESSIONJWT_SCREENSHOT="/tmp/sessionjwt-demo-signed-in-$version.png" scripts/demo.sh --check
  (cd e2e && TRAEFIK_BIN="$traefik_bin" go test -count=1 -v ${E2EFLAGS:-} .)
done
