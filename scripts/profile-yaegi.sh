#!/usr/bin/env bash
# Measures the plugin's request path as Traefik runs it (interpreted by Yaegi, called through Yaegi's
# http.Handler wrapper) without Traefik: a throwaway Redis, one stored session, its signed cookie, and
# tools/yaegiprof sending N requests. Arguments go to yaegiprof, e.g.
#   scripts/profile-yaegi.sh -n 200000 -set cacheTTL=1h -cpuprofile /tmp/cpu.prof
#   go tool pprof -top -cum /tmp/cpu.prof
# Under Yaegi, allocations per request are the figure to watch: most of the time goes to them.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
run=$(mktemp -d /tmp/sessionjwt-yaegiprof.XXXXXX)
trap 'redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true; rm -rf "$run"' EXIT
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no --dir "$run" --daemonize yes \
  --logfile "$run/redis.log"
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done

scripts/layout-plugin.sh "$run" >/dev/null
(cd tools/yaegiprof && go build -o "$run/yaegiprof" .)

secret=profile-secret
cookie=$(scripts/bench-session.sh "$port" "$secret")

"$run/yaegiprof" -gopath "$run/plugins-local" -cookie "session_uuid=$cookie" \
  -set "secretKey=$secret" -set "redisURL=redis://127.0.0.1:$port/0" "$@"
