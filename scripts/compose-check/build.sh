#!/bin/sh
# Builds compose-check (a Compose file loader, as `docker compose config`, without Docker)
# into .tools/bin once; a later run does nothing while the sources are unchanged.
set -eu
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
OUT="$ROOT/.tools/bin/compose-check"
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
stamp="$(cat "$HERE/go.mod" "$HERE/go.sum" "$HERE/main.go" | sha256sum | cut -d' ' -f1)"
if [ -x "$OUT" ] && [ "$(cat "$OUT.stamp" 2>/dev/null)" = "$stamp" ]; then exit 0; fi
echo "[compose-check] building from github.com/compose-spec/compose-go/v2 ..." >&2
mkdir -p "$(dirname "$OUT")"
(cd "$HERE" && CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" "$GO" build -trimpath -ldflags="-s -w" -o "$OUT.tmp" .)
mv "$OUT.tmp" "$OUT"
echo "$stamp" > "$OUT.stamp"
echo "[compose-check] built $OUT" >&2
