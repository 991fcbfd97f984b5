#!/usr/bin/env bash
# Measures the plugin's request path as Traefik runs it (interpreted by Yaegi, called through Yaegi's
# http.Handler wrapper) without Traefik: a throwaway Redis, one stored session, its signed cookie, and
# tools/yaegiprof sending N requests. Arguments go to yaegiprof, e.g.
#   bench/profile-yaegi.sh -n 200000 -set cacheTTL=1h -cpuprofile /tmp/cpu.prof
#   go tool pprof -top -cum /tmp/cpu.prof
# Under Yaegi, allocations per request are the figure to watch: most of the time goes to them.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
run=$(mktemp -d /tmp/sessionjwt-yaegiprof.XXXXXX)
trap 'scripts/test-servers.sh stop "$run/redis"; rm -rf "$run"' EXIT
scripts/test-servers.sh start-plain "$run/redis"
. "$run/redis/env"
port=${SESSIONJWT_TEST_REDIS##*:}

scripts/layout-plugin.sh "$run" >/dev/null
(cd tools/yaegiprof && go build -o "$run/yaegiprof" .)

secret=profile-secret
cookie=$(bench/session.sh "$port" "$secret")

"$run/yaegiprof" -gopath "$run/plugins-local" -cookie "session_uuid=$cookie" \
  -set "secretKey=$secret" -set "redisURL=redis://127.0.0.1:$port/0" "$@"
