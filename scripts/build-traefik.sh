#!/usr/bin/env bash
# Builds a Traefik binary from its Go module into a cache outside the repository and prints its path.
# Cold: about 15 minutes on 2 cores; afterwards it is reused.
# `go install .../cmd/traefik@vX` fails on Traefik's replace directives, so a throwaway wrapper module
# copies them from that version's go.mod.
set -euo pipefail
version="${TRAEFIK_VERSION:-v3.6.12}"
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
modjson=$(go mod download -json "github.com/traefik/traefik/v3@$version")
gomod=$(printf '%s\n' "$modjson" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')
{
  echo "module traefikbuild"
  echo
  echo "go 1.24"
  echo
  echo "require github.com/traefik/traefik/v3 $version"
  echo
  # the replace block, verbatim
  awk '/^replace \(/{p=1} p{print} p&&/^\)/{p=0}' "$gomod"
  grep -E '^replace [^(]' "$gomod" || true
} > go.mod
cat > tools.go <<'GO'
//go:build tools

package tools

import _ "github.com/traefik/traefik/v3/cmd/traefik"
GO
go mod tidy >&2
go build -trimpath -o "$bin.tmp" github.com/traefik/traefik/v3/cmd/traefik >&2
mv "$bin.tmp" "$bin"
echo "$bin"
