#!/usr/bin/env bash
# Lays out the plugin for Traefik's local plugin mode: DIR/plugins-local/src/github.com/sessionjwt/sessionjwt
# holding .traefik.yml, go.mod and the plugin's .go files (no tests). Traefik must run with DIR as its
# working directory.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
dest="${1:?DIR}/plugins-local/src/github.com/sessionjwt/sessionjwt"
rm -rf "$dest"
mkdir -p "$dest"
cp "$repo/.traefik.yml" "$repo/go.mod" "$dest/"
for f in "$repo"/*.go; do
  case "$f" in *_test.go) ;; *) cp "$f" "$dest/" ;; esac
done
