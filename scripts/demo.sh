#!/usr/bin/env bash
# `make demo`: runs sessionjwt for real. Builds (or reuses) Traefik v3.6.12, starts a throwaway Redis on
# :6380, the demo backend on :8001, the demo auth service on :8002 and Traefik on :8000 with
# examples/traefik.yml and examples/dynamic.yml, stores a demo session, and prints what to open in a
# browser and curl commands to try. Ctrl-C stops everything.
# TRAEFIK_VERSION=v2.11.54 runs it in Traefik v2.11, with examples/traefik-v2.yml.
#
#   scripts/demo.sh           run until Ctrl-C
#   scripts/demo.sh --check   run the curl commands and click through the demo in headless Chromium
#                             (demo/browser), check their answers, stop (make test does this); the
#                             screenshot of the signed-in page goes to $SESSIONJWT_SCREENSHOT
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
check=false
[ "${1:-}" = "--check" ] && check=true

if $check; then WANT_BROWSER=1 scripts/install-deps.sh; else scripts/install-deps.sh; fi
traefik_bin=$(scripts/build-traefik.sh | tail -n 1)
static=examples/traefik.yml
case "${TRAEFIK_VERSION:-v3}" in v2.*) static=examples/traefik-v2.yml ;; esac

for port in 8000 8001 8002 6380; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "demo: port $port is in use; stop what listens there (ss -ltnp | grep :$port)" >&2
    exit 1
  fi
done

run=$(mktemp -d /tmp/sessionjwt-demo.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$repo/plugins-local" "$run"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

redis-server --bind 127.0.0.1 --port 6380 --save "" --appendonly no --dir "$run" --logfile "$run/redis.log" &
pids+=($!)
(cd demo/backend && go build -o "$run/backend" .)
(cd demo/auth && go build -o "$run/auth" .)
"$run/backend" -addr 127.0.0.1:8001 2>"$run/backend.log" &
pids+=($!)
"$run/auth" -addr 127.0.0.1:8002 -redis 127.0.0.1:6380 2>"$run/auth.log" &
pids+=($!)
scripts/layout-plugin.sh "$repo"
"$traefik_bin" --configFile="$static" >"$run/traefik.log" 2>&1 &
pids+=($!)

# A demo session: the auth service would store the JWT under the session's UUID and sign the UUID.
session=$(/usr/bin/python3 -c 'import uuid; print(uuid.uuid4())')
jwt=$(/usr/bin/python3 - <<'PY'
import base64, hashlib, hmac, json, time
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
body = b64(json.dumps({"sub": "demo-user", "scopes": "demo:read", "exp": int(time.time()) + 3600}).encode())
sig = b64(hmac.new(b"demo-jwt-key", f"{head}.{body}".encode(), hashlib.sha256).digest())
print(f"{head}.{body}.{sig}")
PY
)
cookie=$(/usr/bin/python3 -c 'import hashlib, sys; from itsdangerous import Signer; print(Signer(sys.argv[1], digest_method=hashlib.sha256).sign(sys.argv[2]).decode())' demo-secret-change-me "$session")
for _ in $(seq 100); do redis-cli -p 6380 ping >/dev/null 2>&1 && break; sleep 0.1; done
redis-cli -p 6380 set "$session" "$jwt" EX 86400 >/dev/null

echo "demo: waiting for Traefik to load the plugin..."
for _ in $(seq 300); do
  code=$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8000/public/ || true)
  [ "$code" = 200 ] && break
  if ! kill -0 "${pids[3]}" 2>/dev/null; then echo "demo: Traefik exited:"; cat "$run/traefik.log"; exit 1; fi
  sleep 0.2
done

tampered="${cookie%?}x"
if $check; then
  fail() { echo "demo --check: $*" >&2; cat "$run/traefik.log" >&2; exit 1; }
  out=$(curl -s -H 'Authorization: Bearer forged' --cookie "session_uuid=$cookie" http://127.0.0.1:8000/api/orders)
  grep -q "Authorization: Bearer $jwt" <<<"$out" || fail "signed cookie: $out"
  [ "$(curl -s -o /dev/null -w '%{http_code}' --cookie "session_uuid=$tampered" http://127.0.0.1:8000/api/orders)" = 401 ] || fail "tampered cookie not 401"
  [ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8000/api/orders)" = 401 ] || fail "no cookie not 401"
  out=$(curl -s -H 'Authorization: Bearer forged' http://127.0.0.1:8000/public/)
  grep -q "Authorization" <<<"$out" && fail "strip kept the client's Authorization: $out"
  echo "demo --check: 4 passed, 0 failed"
  (cd demo/browser && go build -o "$run/browser" .)
  "$run/browser" -base http://127.0.0.1:8000 -screenshot "${SESSIONJWT_SCREENSHOT:-/tmp/sessionjwt-demo-signed-in.png}" ||
    fail "the browser's walk through the demo (above)"
  exit 0
fi

cat <<EOT

sessionjwt is running in Traefik on http://127.0.0.1:8000 (config: $static, examples/dynamic.yml).

Open http://127.0.0.1:8000/app/ in a browser: it sends you to the demo's sign-in page; sign in with any
name (admin also gets the demo:admin scope) and the page shows the JWT the backend received, buttons that
call the API with fetch() (200, and 403 for the admin API), and Sign out, after which the page and the API
refuse you at once. http://127.0.0.1:8000/app/public/ needs no session.

The demo backend answers with the headers it received. Try also:

  # a signed session cookie: the backend sees Authorization: Bearer <jwt>, never the client's own
  curl -H 'Authorization: Bearer forged' --cookie 'session_uuid=$cookie' http://127.0.0.1:8000/api/orders

  # a tampered cookie: 401 {"error":"unauthenticated"}
  curl -i --cookie 'session_uuid=$tampered' http://127.0.0.1:8000/api/orders

  # no cookie: 401 on /api, and on /public the request passes without any Authorization
  curl -i http://127.0.0.1:8000/api/orders
  curl -H 'Authorization: Bearer forged' http://127.0.0.1:8000/public/

Logs: $run/traefik.log   Ctrl-C stops Traefik, Redis, the backend and the auth service.
EOT
wait "${pids[3]}"
