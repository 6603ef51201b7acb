#!/usr/bin/env bash
# Deploys Portcullis to the current kubectl context:
#   deploy/deploy.sh [--istio] [namespace]        (namespace defaults to portcullis)
# Creates the namespace and the missing keys of the portcullis-secrets Secret (random
# values, never printed), applies deploy/base and, with --istio, labels the namespace for
# sidecar injection and applies istio/. Re-running it keeps existing secret values.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECRET=portcullis-secrets
# Every key the manifests reference (deploy/test checks both directions). redis-password
# comes before redis-url, which is built from it.
SECRET_KEYS=(policy-admin-token jwt-secret redis-password redis-url auth-clients)

namespace=portcullis
istio=false
for arg in "$@"; do
  case "$arg" in
    --istio) istio=true ;;
    -h | --help) sed -n '2,6p' "$0"; exit 0 ;;
    -*) echo "unknown option: $arg" >&2; exit 2 ;;
    *) namespace="$arg" ;;
  esac
done
if [[ ! "$namespace" =~ ^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$ ]]; then
  echo "not a valid namespace name: $namespace" >&2
  exit 2
fi

# Values go through files in a private directory, never through arguments or output.
umask 077
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Hex: safe inside a URL and JSON. No trailing newline, or it would be part of the value.
random() { openssl rand -hex "$1" | tr -d '\n'; }

# Writes the value of a missing key to $work/values/<key>.
generate() {
  case "$1" in
    policy-admin-token) random 24 ;;
    jwt-secret) random 32 ;;
    redis-password) random 24 ;;
    # The in-cluster Redis (deploy/base/redis.yaml); point it at a Redis Cluster in production.
    redis-url) printf 'redis://:%s@redis:6379' "$(current redis-password)" ;;
    # One OAuth client for the client-credentials grant; edit the Secret to add more.
    auth-clients) printf '[{"client_id":"portcullis-client","client_secret":"%s","roles":["viewer"]}]' "$(random 24)" ;;
  esac > "$work/values/$1"
}

# The value of a key: freshly generated, or the one already in the Secret.
current() {
  if [[ -f "$work/values/$1" ]]; then
    cat "$work/values/$1"
  else
    kubectl -n "$namespace" get secret "$SECRET" -o "go-template={{index .data \"$1\"}}" | base64 -d
  fi
}

# Renders a kustomization or a file, moved from the portcullis namespace to $namespace.
retarget() {
  sed -e "s/namespace: portcullis\$/namespace: $namespace/" \
      -e "s/\\.portcullis\\.svc\\.cluster\\.local/.$namespace.svc.cluster.local/g" \
      -e "s#/ns/portcullis/sa/#/ns/$namespace/sa/#g"
}

kubectl get namespace "$namespace" >/dev/null 2>&1 || kubectl create namespace "$namespace"
if [[ "$istio" == true ]]; then
  # Before any pod starts, so every pod gets its sidecar.
  kubectl label namespace "$namespace" istio-injection=enabled --overwrite
fi

mkdir "$work/values"
exists=false
have=""
if kubectl -n "$namespace" get secret "$SECRET" >/dev/null 2>&1; then
  exists=true
  # shellcheck disable=SC2016 # a Go template, not a shell expansion
  have="$(kubectl -n "$namespace" get secret "$SECRET" -o 'go-template={{range $k, $v := .data}}{{$k}} {{end}}')"
fi
missing=()
for key in "${SECRET_KEYS[@]}"; do
  [[ " $have " == *" $key "* ]] || missing+=("$key")
done
if [[ " ${missing[*]} " == *" redis-password "* && " $have " == *" redis-url "* ]]; then
  echo "warning: $SECRET has a redis-url but no redis-password; the in-cluster Redis now requires" >&2
  echo "  a password: delete the redis-url key (or the Secret) and re-run, unless it points elsewhere." >&2
fi
for key in "${missing[@]}"; do generate "$key"; done

if [[ "$exists" == false ]]; then
  kubectl -n "$namespace" create secret generic "$SECRET" --from-file="$work/values" >/dev/null
  echo "created secret $SECRET with ${missing[*]}"
elif ((${#missing[@]} > 0)); then
  {
    printf '{"data":{'
    sep=""
    for key in "${missing[@]}"; do
      printf '%s"%s":"%s"' "$sep" "$key" "$(base64 -w0 < "$work/values/$key")"
      sep=","
    done
    printf '}}'
  } > "$work/patch.json"
  kubectl -n "$namespace" patch secret "$SECRET" --type merge --patch-file "$work/patch.json" >/dev/null
  echo "added ${missing[*]} to secret $SECRET"
fi

# The sample policies sit outside deploy/base, hence the load restrictor.
kubectl kustomize --load-restrictor LoadRestrictionsNone "$ROOT/deploy/base" | retarget | kubectl -n "$namespace" apply -f -
if [[ "$istio" == true ]]; then
  for file in "$ROOT"/istio/*.yaml; do
    retarget < "$file" | kubectl -n "$namespace" apply -f -
  done
fi

echo "deployed to namespace $namespace. The OAuth client's credentials:"
echo "  kubectl -n $namespace get secret $SECRET -o go-template='{{index .data \"auth-clients\" | base64decode}}'"
