#!/usr/bin/env bash
# Builds a Traefik binary from its Go module into a cache outside the repository and prints its path.
# TRAEFIK_VERSION picks the release (default v3.6.12; v2.x.y builds Traefik v2). Cold: about 15 minutes
# on 2 cores; afterwards it is reused.
# `go install .../cmd/traefik@vX` fails on Traefik's replace directives, so a throwaway wrapper module
# copies them from that version's go.mod. Traefik v2 also needs its exclude block and no `go mod tidy`
# (tidy resolves test-only packages and lifts go.opentelemetry.io/otel/log past what v2's otelzap builds
# with); `-mod=mod` resolves just what the binary needs.
set -euo pipefail
version="${TRAEFIK_VERSION:-v3.6.12}"
case "$version" in
  v2.*) module=github.com/traefik/traefik/v2 ;;
  v3.*) module=github.com/traefik/traefik/v3 ;;
  *) echo "build-traefik: TRAEFIK_VERSION $version is not a v2 or v3 release" >&2; exit 2 ;;
esac
cache="${SESSIONJWT_CACHE:-$HOME/.cache/sessionjwt}"
bin="$cache/traefik-$version/traefik"
if [ -x "$bin" ] && "$bin" version >/dev/null 2>&1; then
  echo "$bin"
  exit 0
fi
work="$cache/traefik-$version/build"
rm -rf "$work"
mkdir -p "$work"
cd "$work"
modjson=$(go mod download -json "$module@$version")
gomod=$(printf '%s\n' "$modjson" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')
goline=$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$gomod")
{
  echo "module traefikbuild"
  echo
  echo "go ${goline:-1.24}"
  echo
  echo "require $module $version"
  echo
  # the replace and exclude blocks, verbatim
  awk '/^(replace|exclude) \(/{p=1} p{print} p&&/^\)/{p=0}' "$gomod"
  grep -E '^(replace|exclude) [^(]' "$gomod" || true
} > go.mod
cat > tools.go <<GO
//go:build tools

package tools

import _ "$module/cmd/traefik"
GO
case "$version" in
  v2.*) GOFLAGS=-mod=mod GOSUMDB=off go build -trimpath -o "$bin.tmp" "$module/cmd/traefik" >&2 ;;
  *)
    go mod tidy >&2
    go build -trimpath -o "$bin.tmp" "$module/cmd/traefik" >&2
    ;;
esac
mv "$bin.tmp" "$bin"
echo "$bin"
