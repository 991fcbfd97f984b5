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

session=0b9e8d52-3c3a-4f7e-9a57-7d4d1f6b2c11
secret=profile-secret
# The same JWT as `make bench` stores: about 800 bytes.
jwt=$(/usr/bin/python3 -c 'import base64, json
b = lambda d: base64.urlsafe_b64encode(json.dumps(d, separators=(",", ":")).encode()).rstrip(b"=").decode()
claims = {"sub": "7f9c2ba4-e88f-11e4-9d8c-0800200c9a66", "iat": 1800000000, "exp": 4102444800, "level": "3.1",
          "scopes": "support:mobile,user:all", "key": "support", "data": "x" * 420}
print(b({"alg": "RS256", "typ": "JWT"}) + "." + b(claims) + "." + "c2lnbmF0dXJl" * 29)')
redis-cli -p "$port" set "$session" "$jwt" >/dev/null
cookie=$(/usr/bin/python3 -c 'import hashlib, sys; from itsdangerous import Signer; print(Signer(sys.argv[1], digest_method=hashlib.sha256).sign(sys.argv[2]).decode())' "$secret" "$session")

"$run/yaegiprof" -gopath "$run/plugins-local" -cookie "session_uuid=$cookie" \
  -set "secretKey=$secret" -set "redisURL=redis://127.0.0.1:$port/0" "$@"
