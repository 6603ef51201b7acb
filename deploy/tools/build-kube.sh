#!/usr/bin/env bash
# Builds (once) the tools `deploy.sh verify` needs, from the Go module proxy, into a cache
# outside the repository:
#   deploy/tools/build-kube.sh [--env] [all|kube|etcd|crds]
# kube-apiserver and kubectl (k8s.io/kubernetes), etcd (go.etcd.io/etcd/server), Istio's
# CRDs (istio.io/api) and the ServiceMonitor/PrometheusRule CRDs (prometheus-operator).
# Each artefact lives under a versioned name and is skipped when it is already there, so a
# second run costs nothing; bumping a version below builds the new one next to the old one.
# Cache: ${PORTCULLIS_TOOLS:-$HOME/.cache/portcullis-tools}. With --env it prints
# `name=path` lines for what it built (kube_apiserver, kubectl, etcd, crds) on stdout;
# progress goes to stderr. Needs Go (1.24 or later) and network access to the proxy.
set -euo pipefail

KUBE_VERSION=v1.34.4
ETCD_VERSION=v3.6.16
ISTIO_API_VERSION=v1.32.0
PROM_OPERATOR_VERSION="${PROM_OPERATOR_VERSION:-v0.90.1}"

TOOLS="${PORTCULLIS_TOOLS:-$HOME/.cache/portcullis-tools}"
# The scratch modules are not the repository's business: no go.work, no VCS stamping.
export GOWORK=off GOFLAGS=-buildvcs=false CGO_ENABLED=0 GOTOOLCHAIN="${GOTOOLCHAIN:-local}"

print_env=false
what=all
for arg in "$@"; do
  case "$arg" in
    --env) print_env=true ;;
    all | kube | etcd | crds) what="$arg" ;;
    -h | --help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done

log() { echo "build-kube: $*" >&2; }
# Go is needed only to build what is missing: with every artefact cached, none is.
need_go() {
  command -v go >/dev/null || { log "go not found (Go 1.24+ is needed to build the missing tools)"; exit 1; }
}
mkdir -p "$TOOLS/bin" "$TOOLS/crds" "$TOOLS/src"
# One builder per artefact at a time: a second run waits, then finds it built.
lock() {
  local fd
  exec {fd}>"$TOOLS/.$1.lock"
  flock "$fd"
}

# The directory of a module version in the module cache (downloads it if needed).
module_dir() {
  go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p'
}
module_field() {
  go mod download -json "$1" | sed -n "s/^[[:space:]]*\"$2\": \"\\(.*\\)\",\\{0,1\\}\$/\\1/p"
}

kube_apiserver="$TOOLS/bin/kube-apiserver-$KUBE_VERSION"
kubectl="$TOOLS/bin/kubectl-$KUBE_VERSION"
etcd="$TOOLS/bin/etcd-$ETCD_VERSION"
crds="$TOOLS/crds/istio-$ISTIO_API_VERSION+prometheus-operator-$PROM_OPERATOR_VERSION.yaml"

build_kube() {
  lock "kube-$KUBE_VERSION"
  if [[ -x "$kube_apiserver" && -x "$kubectl" ]]; then return; fi
  need_go
  local src="$TOOLS/src/kubernetes-$KUBE_VERSION" staging="v0${KUBE_VERSION#v1}" gomod
  log "building kube-apiserver and kubectl $KUBE_VERSION (about 10 min on 2 cores)"
  # k8s.io/kubernetes replaces its staging modules by ./staging/src/...; `go install`
  # refuses a module with replace directives, so a scratch module requires it and points
  # each staging module at its published release (v0.x.y for Kubernetes v1.x.y) instead.
  gomod="$(module_field "k8s.io/kubernetes@$KUBE_VERSION" GoMod)"
  rm -rf "$src"
  mkdir -p "$src"
  {
    echo "module portcullis.local/kube-tools"
    echo
    echo "go 1.24.0"
    echo
    echo "godebug default=go1.24"
    echo
    echo "require k8s.io/kubernetes $KUBE_VERSION"
    echo
    echo "replace ("
    sed -n 's#^[[:space:]]*\(k8s\.io/[a-z0-9-]*\) => \./staging/src/k8s\.io/[a-z0-9-]*$#\t\1 => \1 '"$staging"'#p' "$gomod"
    echo ")"
  } >"$src/go.mod"
  local date ldflags=(-s -w) key value
  # The release's date, from the proxy's .info file.
  date="$(sed -n 's/.*"Time":"\([^"]*\)".*/\1/p' "$(module_field "k8s.io/kubernetes@$KUBE_VERSION" Info)")"
  local minor="${KUBE_VERSION#v1.}"
  minor="${minor%%.*}"
  # kubectl compares versions with the server's: both must say who they are.
  for pair in "gitVersion=$KUBE_VERSION" gitMajor=1 "gitMinor=$minor" \
    gitCommit=0000000000000000000000000000000000000000 gitTreeState=clean "buildDate=${date:-1970-01-01T00:00:00Z}"; do
    key="${pair%%=*}"
    value="${pair#*=}"
    ldflags+=(-X "k8s.io/component-base/version.$key=$value" -X "k8s.io/client-go/pkg/version.$key=$value")
  done
  (
    cd "$src"
    GOFLAGS="$GOFLAGS -mod=mod" go get "k8s.io/kubernetes@$KUBE_VERSION" >&2
    GOFLAGS="$GOFLAGS -mod=mod" nice -n 10 go build -trimpath -ldflags "${ldflags[*]}" \
      -o "$src/out/" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl >&2
  )
  mv "$src/out/kubectl" "$kubectl"
  mv "$src/out/kube-apiserver" "$kube_apiserver"
  log "built $kube_apiserver and $kubectl"
}

build_etcd() {
  lock "etcd-$ETCD_VERSION"
  if [[ -x "$etcd" ]]; then return; fi
  need_go
  local src="$TOOLS/src/etcd-$ETCD_VERSION"
  log "building etcd $ETCD_VERSION"
  rm -rf "$src"
  mkdir -p "$src"
  printf 'module portcullis.local/etcd\n\ngo 1.24.0\n\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION" >"$src/go.mod"
  cat >"$src/main.go" <<'EOF'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
EOF
  (
    cd "$src"
    go mod tidy >&2
    nice -n 10 go build -trimpath -ldflags '-s -w' -o "$src/etcd" . >&2
  )
  mv "$src/etcd" "$etcd"
  log "built $etcd"
}

fetch_crds() {
  lock crds
  if [[ -s "$crds" ]]; then return; fi
  need_go
  log "collecting CRDs: istio.io/api $ISTIO_API_VERSION, prometheus-operator $PROM_OPERATOR_VERSION"
  local istio prom file
  istio="$(module_dir "istio.io/api@$ISTIO_API_VERSION")"
  prom="$(module_dir "github.com/prometheus-operator/prometheus-operator@$PROM_OPERATOR_VERSION")"
  {
    cat "$istio/kubernetes/customresourcedefinitions.gen.yaml"
    for file in servicemonitors prometheusrules; do
      printf '\n---\n'
      cat "$prom/example/prometheus-operator-crd/monitoring.coreos.com_$file.yaml"
    done
  } >"$crds.tmp"
  mv "$crds.tmp" "$crds"
  log "wrote $crds"
}

case "$what" in
  kube) build_kube ;;
  etcd) build_etcd ;;
  crds) fetch_crds ;;
  all) fetch_crds; build_etcd; build_kube ;;
esac

if [[ "$print_env" == true ]]; then
  [[ -x "$kube_apiserver" ]] && echo "kube_apiserver=$kube_apiserver"
  [[ -x "$kubectl" ]] && echo "kubectl=$kubectl"
  [[ -x "$etcd" ]] && echo "etcd=$etcd"
  [[ -s "$crds" ]] && echo "crds=$crds"
fi
exit 0
