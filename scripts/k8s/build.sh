#!/usr/bin/env bash
# Builds the test control plane's programs from Go modules, once, into .tools/k8s/bin:
#   etcd, kube-apiserver, kube-controller-manager, kube-scheduler (scripts/k8s/go.mod)
#   kwok                                                           (scripts/k8s/kwok/go.mod)
# and copies KWOK's Stage CRD and default Stages into .tools/k8s/share/kwok.
# A later run does nothing while the binaries and their stamp (a hash of the go.mod/go.sum
# files, BUILD_REV and the Go version) are there. Needs only Go and the Go module proxy.
#
# Env: K8S_TOOLS_DIR (default <repo>/.tools/k8s), K8S_KEEP_GOCACHE=1 keeps the ~4 GB build
# cache (.tools/k8s/gocache) after a successful build (it is removed by default), GO (go binary).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@" # `sh build.sh` (dash) runs it with bash
set -euo pipefail
# The body is one function, read whole before it runs, so editing this file during a build is safe.
main() {

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
OUT="${K8S_TOOLS_DIR:-$ROOT/.tools/k8s}"
BIN="$OUT/bin"
SHARE="$OUT/share/kwok"
STAMP="$BIN/.stamp"
PROGRAMS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)

log() { printf '[k8s build] %s\n' "$*" >&2; }

GO="${GO:-}"
if [ -z "$GO" ]; then
  if command -v go >/dev/null 2>&1; then GO="$(command -v go)"
  elif [ -x /usr/local/go/bin/go ]; then GO=/usr/local/go/bin/go
  else log "no Go toolchain found (looked for go on PATH and /usr/local/go/bin/go)"; exit 1
  fi
fi

# Bump BUILD_REV when a change to this script changes the binaries (flags, programs, files).
BUILD_REV=1
stamp="$(
  {
    echo "rev=$BUILD_REV"
    "$GO" env GOVERSION GOOS GOARCH
    cat "$HERE/go.mod" "$HERE/go.sum" "$HERE/kwok/go.mod" "$HERE/kwok/go.sum"
  } | sha256sum | cut -d' ' -f1
)"

# One build at a time per tools dir; a second run waits, then finds the binaries up to date.
mkdir -p "$OUT"
exec 9>"$OUT/.build.lock"
if ! flock -n 9; then log "another build.sh is building into $OUT: waiting for it"; flock 9; fi

up_to_date=1
for p in "${PROGRAMS[@]}"; do [ -x "$BIN/$p" ] || up_to_date=0; done
[ -f "$SHARE/stages.yaml" ] && [ -f "$SHARE/stage-crd.yaml" ] || up_to_date=0
if [ "$up_to_date" = 1 ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$stamp" ]; then
  log "up to date in ${BIN#"$ROOT"/} ($(cat "$BIN/.versions" 2>/dev/null))"
  exit 0
fi

export GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=0
export GOCACHE="$OUT/gocache"
mkdir -p "$GOCACHE"
rm -rf "$BIN.tmp"
mkdir -p "$BIN.tmp"
start=$SECONDS

modver() { (cd "$1" && "$GO" list -m -f '{{.Version}}' "$2"); }

log "Go: $("$GO" env GOVERSION); downloading modules through $("$GO" env GOPROXY) (first run: ~1 GB, a few minutes)"
(cd "$HERE" && "$GO" mod download)
(cd "$HERE/kwok" && "$GO" mod download)

K8S_VERSION="$(modver "$HERE" k8s.io/kubernetes)"
ETCD_VERSION="$(modver "$HERE" go.etcd.io/etcd/server/v3)"
KWOK_VERSION="$(modver "$HERE/kwok" sigs.k8s.io/kwok)"
versions="kubernetes $K8S_VERSION, etcd $ETCD_VERSION, kwok $KWOK_VERSION"
log "versions: $versions"

# Report the real version from /version (a plain go build says v0.0.0-master, which kubectl
# and clients would see).
minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
vldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  vldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  vldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done

build() { # dir name package [extra ldflags]
  local dir="$1" name="$2" pkg="$3" extra="${4:-}" t=$SECONDS
  log "building $name ($pkg) ..."
  (cd "$dir" && nice -n 10 "$GO" build -trimpath -ldflags="-s -w$extra" -o "$BIN.tmp/$name" "$pkg")
  log "built $name in $((SECONDS - t))s ($(du -h "$BIN.tmp/$name" | cut -f1))"
}

build "$HERE" etcd go.etcd.io/etcd/server/v3
build "$HERE" kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$vldflags"
build "$HERE" kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager "$vldflags"
build "$HERE" kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler "$vldflags"
build "$HERE/kwok" kwok sigs.k8s.io/kwok/cmd/kwok

# KWOK runs with --enable-crds=Stage, so its Stage CRD and default Stages are API objects.
KWOK_DIR="$(cd "$HERE/kwok" && "$GO" list -m -f '{{.Dir}}' sigs.k8s.io/kwok)"
rm -rf "$SHARE" && mkdir -p "$SHARE"
cat "$KWOK_DIR/kustomize/crd/bases/kwok.x-k8s.io_stages.yaml" > "$SHARE/stage-crd.yaml"
for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
  pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
  printf -- '---\n' >> "$SHARE/stages.yaml"
  cat "$KWOK_DIR/kustomize/stage/$f" >> "$SHARE/stages.yaml"
done

rm -rf "$BIN"
mv "$BIN.tmp" "$BIN"
echo "$versions" > "$BIN/.versions"
echo "$stamp" > "$STAMP"
if [ "${K8S_KEEP_GOCACHE:-0}" != 1 ]; then
  chmod -R u+w "$GOCACHE" 2>/dev/null || true
  rm -rf "$GOCACHE"
fi
log "done in $((SECONDS - start))s: ${BIN#"$ROOT"/} ($(du -sh "$BIN" | cut -f1)): $versions"
}
main "$@"; exit
