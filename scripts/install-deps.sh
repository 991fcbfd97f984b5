#!/usr/bin/env bash
# Installs what the tests and the demo need and is missing: Debian packages with apt-get, Go tools with
# `go install`. Safe to run repeatedly; it does nothing when everything is there.
set -euo pipefail

YAEGI_VERSION=v0.16.1 # the interpreter Traefik v3.0 to v3.7 embed

sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v redis-cli >/dev/null || missing+=(redis-tools)
command -v redis-sentinel >/dev/null || missing+=(redis-sentinel) # the Sentinel set of the tests
command -v openssl >/dev/null || missing+=(openssl)
command -v curl >/dev/null || missing+=(curl)
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import itsdangerous' 2>/dev/null || missing+=(python3 python3-itsdangerous)
# PyJWT with its crypto backend checks the JWT test vectors (tools/fixtures/jwt_fixtures.py --check).
/usr/bin/python3 -c 'import jwt, cryptography' 2>/dev/null || missing+=(python3-jwt python3-cryptography)
if [ -n "${WANT_WRK:-}" ]; then command -v wrk >/dev/null || missing+=(wrk); fi
# The demo's walk in a real browser (scripts/demo.sh --check, demo/browser).
if [ -n "${WANT_BROWSER:-}" ]; then
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  [ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: apt-get install ${missing[*]}"
  sudo_ apt-get update -qq
  sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

gobin="$(go env GOPATH)/bin"
if ! go version -m "$gobin/yaegi" 2>/dev/null | grep -q "yaegi[[:space:]]*$YAEGI_VERSION"; then
  echo "install-deps: go install yaegi@$YAEGI_VERSION"
  GOFLAGS= go install "github.com/traefik/yaegi/cmd/yaegi@$YAEGI_VERSION"
fi
