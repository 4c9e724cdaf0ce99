#!/bin/sh
# Builds the Temporal CLI (which carries the dev server) into .tools/bin when it is not on PATH.
# v1.5.1 is the newest tag that `go install` accepts: later tags carry a replace directive.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/.tools/bin"
if command -v temporal >/dev/null 2>&1; then
  echo "temporal found on PATH: $(command -v temporal)"
  exit 0
fi
if [ -x "$bin/temporal" ]; then
  echo "temporal found: $bin/temporal"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  echo "The Temporal CLI is missing and Go is not installed to build it. Install Go (https://go.dev/dl) or put 'temporal' on PATH." >&2
  exit 1
fi
mkdir -p "$bin"
echo "Building the Temporal CLI v1.5.1 into $bin (first run only, a few minutes)..."
GOBIN="$bin" go install github.com/temporalio/cli/cmd/temporal@v1.5.1
echo "temporal installed: $bin/temporal"
