#!/usr/bin/env bash
# Deploys Portcullis to the current kubectl context and moves its canary:
#   deploy/deploy.sh apply [--overlay dev|prod] [--istio] [--monitoring] [--dry-run] [namespace]
#   deploy/deploy.sh status [namespace]
#   deploy/deploy.sh validate [--overlay dev|prod] [--file rendered.yaml] [--no-server] [namespace]
#   deploy/deploy.sh promote <percent> [namespace]     (canary share 0-100: 10, 50, 100)
#   deploy/deploy.sh rollback [namespace]              (100/0, canary autoscaler min 1)
#   deploy/deploy.sh render [--overlay X] [--istio] [--monitoring] [namespace]   (to stdout)
#   deploy/deploy.sh verify                            (all of it against a throw-away API server)
# The namespace defaults to portcullis; without a command it is `apply` (`deploy.sh --istio`).
# Objects go in with server-side apply (field manager portcullis-deploy). Re-running apply
# keeps existing secret values and the live canary split. See deploy/README.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECRET=portcullis-secrets
# Every key the manifests reference (deploy/test checks both directions). redis-password
# comes before redis-url, which is built from it.
SECRET_KEYS=(policy-admin-token jwt-secret redis-password redis-url auth-clients)
FIELD_MANAGER=portcullis-deploy
# The services with a stable Deployment/HPA <name>, a canary <name>-canary and a
# VirtualService <name> whose http routes list subsets v1 (stable) then v2 (canary).
CANARY_SERVICES=(auth-service policy-service)

# KUBECTL picks the binary (verify points it at the one it built).
kubectl() { command "${KUBECTL:-kubectl}" "$@"; }
die() { echo "deploy.sh: $*" >&2; exit 2; }
usage() { sed -n '2,12p' "$0"; }

command=apply
case "${1:-}" in
  apply | status | validate | promote | rollback | render | verify) command="$1"; shift ;;
  help | -h | --help) usage; exit 0 ;;
esac

namespace=portcullis
overlay=""
istio=false
monitoring=false
dry_run=false
server=true
file=""
percent=""
while (($# > 0)); do
  case "$1" in
    --istio) istio=true ;;
    --monitoring) monitoring=true ;;
    --server-side) ;; # always: kept so scripts may say it
    --dry-run | --dry-run=server) dry_run=true ;;
    --overlay) (($# > 1)) || die "--overlay needs a name"; overlay="$2"; shift ;;
    --overlay=*) overlay="${1#--overlay=}" ;;
    --file) (($# > 1)) || die "--file needs a path"; file="$2"; shift ;;
    --file=*) file="${1#--file=}" ;;
    --no-server) server=false ;;
    -h | --help) usage; exit 0 ;;
    -*) die "unknown option: $1" ;;
    *)
      if [[ "$command" == promote && -z "$percent" ]]; then percent="$1"; else namespace="$1"; fi
      ;;
  esac
  shift
done
if [[ ! "$namespace" =~ ^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$ ]]; then
  die "not a valid namespace name: $namespace"
fi
if [[ -n "$overlay" && ! -f "$ROOT/deploy/overlays/$overlay/kustomization.yaml" ]]; then
  die "no overlay deploy/overlays/$overlay (have: $(cd "$ROOT/deploy/overlays" 2>/dev/null && echo */ | tr -d /))"
fi

# Values go through files in a private directory, never through arguments or output.
umask 077
work="$(mktemp -d)"
cleanup_work() { rm -rf "$work"; }
trap cleanup_work EXIT

# Node 24 from the workspace (npm ci), else the one on PATH: it runs deploy/checks.
node_bin() {
  if [[ -x "$ROOT/node_modules/.bin/node" ]]; then echo "$ROOT/node_modules/.bin/node"; else command -v node || die "node not found (run npm ci)"; fi
}

# ---------------------------------------------------------------------------------------
# Rendering

# Renders a kustomization or a file, moved from the portcullis namespace to $namespace.
retarget() {
  sed -e "s/namespace: portcullis\$/namespace: $namespace/" \
      -e "s/\\.portcullis\\.svc\\.cluster\\.local/.$namespace.svc.cluster.local/g" \
      -e "s#/ns/portcullis/sa/#/ns/$namespace/sa/#g" \
      -e "s/^\\(\\s*- \\)portcullis\$/\\1$namespace/" \
      -e "s/namespaces: \\[portcullis\\]/namespaces: [$namespace]/"
}

# The manifests of the overlay (deploy/base without one), plus istio/ and deploy/monitoring/
# when asked, retargeted, as one multi-document stream.
render() {
  local dir="$ROOT/deploy/base" file
  if [[ -n "$overlay" ]]; then dir="$ROOT/deploy/overlays/$overlay"; fi
  # The sample policies sit outside deploy/base, hence the load restrictor.
  kubectl kustomize --load-restrictor LoadRestrictionsNone "$dir" | retarget
  if [[ "$istio" == true ]]; then
    if [[ -f "$ROOT/istio/kustomization.yaml" ]]; then
      echo "---"
      kubectl kustomize "$ROOT/istio" | retarget
    else
      for file in "$ROOT"/istio/*.yaml; do
        echo "---"
        retarget <"$file"
      done
    fi
  fi
  if [[ "$monitoring" == true ]]; then
    echo "---"
    kubectl kustomize "$ROOT/deploy/monitoring" | retarget
  fi
}

# kubectl apply, server side: the API server merges, validates every field (Strict) and
# owns the conflicts; --force-conflicts because these manifests are the source of truth
# (an HPA's replica count or a hand edit would otherwise block them).
server_apply() {
  kubectl -n "$namespace" apply --server-side --field-manager="$FIELD_MANAGER" --force-conflicts --validate=strict "$@"
}

# ---------------------------------------------------------------------------------------
# Secret: created with random values, only missing keys added later.

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

ensure_secret() {
  mkdir "$work/values"
  local exists=false have="" key sep missing=()
  if kubectl -n "$namespace" get secret "$SECRET" >/dev/null 2>&1; then
    exists=true
    # shellcheck disable=SC2016 # a Go template, not a shell expansion
    have="$(kubectl -n "$namespace" get secret "$SECRET" -o 'go-template={{range $k, $v := .data}}{{$k}} {{end}}')"
  fi
  for key in "${SECRET_KEYS[@]}"; do
    [[ " $have " == *" $key "* ]] || missing+=("$key")
  done
  if [[ " ${missing[*]} " == *" redis-password "* && " $have " == *" redis-url "* ]]; then
    echo "warning: $SECRET has a redis-url but no redis-password; the in-cluster Redis now requires" >&2
    echo "  a password: delete the redis-url key (or the Secret) and re-run, unless it points elsewhere." >&2
  fi
  if [[ "$dry_run" == true ]]; then
    if ((${#missing[@]} > 0)); then echo "dry run: would add ${missing[*]} to secret $SECRET"; fi
    return
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
}

# ---------------------------------------------------------------------------------------
# The canary split

# Prints the v1/v2 weights of every http route of a VirtualService ("90/10 90/10"), or
# nothing when it does not exist.
live_weights() {
  kubectl -n "$namespace" get virtualservice "$1" \
    -o 'jsonpath={range .spec.http[*]}{.route[0].weight}/{.route[1].weight} {end}' 2>/dev/null | sed 's/ $//' || true
}
hpa_field() { kubectl -n "$namespace" get hpa "$1" -o "jsonpath={.spec.$2}" 2>/dev/null || true; }

# The canary's minimum for a share p: its part of the stable minimum, rounded up, at least 1
# and at most the stable maximum; at 100 it takes the stable minimum.
canary_min() {
  local p="$1" stable_min="$2" stable_max="$3" min
  if ((p >= 100)); then
    min="$stable_min"
  else
    min=$(((stable_min * p + (100 - p) - 1) / (100 - p)))
  fi
  if ((min < 1)); then min=1; fi
  if ((min > stable_max)); then min="$stable_max"; fi
  echo "$min"
}

# Sets the weights of <service>'s VirtualService to (100-p, p) and scales its canary.
set_split() {
  local p="$1" svc="$2" routes i ops before after sep=""
  routes="$(kubectl -n "$namespace" get virtualservice "$svc" -o 'jsonpath={range .spec.http[*]}x{end}')" ||
    die "no VirtualService $svc in namespace $namespace (apply with --istio first)"
  ((${#routes} > 0)) || die "VirtualService/$svc has no http routes"
  before="$(live_weights "$svc")"
  # A JSON patch whose test operations refuse it unless each route is [v1, v2] as expected.
  ops="["
  for ((i = 0; i < ${#routes}; i++)); do
    ops+="$sep{\"op\":\"test\",\"path\":\"/spec/http/$i/route/0/destination/subset\",\"value\":\"v1\"}"
    ops+=",{\"op\":\"test\",\"path\":\"/spec/http/$i/route/1/destination/subset\",\"value\":\"v2\"}"
    ops+=",{\"op\":\"add\",\"path\":\"/spec/http/$i/route/0/weight\",\"value\":$((100 - p))}"
    ops+=",{\"op\":\"add\",\"path\":\"/spec/http/$i/route/1/weight\",\"value\":$p}"
    sep=","
  done
  ops+="]"
  kubectl -n "$namespace" patch virtualservice "$svc" --type json -p "$ops" --field-manager=portcullis-promote >/dev/null
  after="$(live_weights "$svc")"
  echo "VirtualService/$svc: v1/v2 weights ${before:-?} -> $after"

  local stable_min stable_max canary_max min old
  stable_min="$(hpa_field "$svc" minReplicas)"
  stable_max="$(hpa_field "$svc" maxReplicas)"
  if [[ -z "$stable_max" ]]; then
    echo "HorizontalPodAutoscaler/$svc: not found, canary not scaled"
    return
  fi
  min="$(canary_min "$p" "${stable_min:-1}" "$stable_max")"
  old="$(hpa_field "$svc-canary" minReplicas)"
  canary_max="$(hpa_field "$svc-canary" maxReplicas)"
  if [[ -n "$canary_max" ]]; then
    ops="[{\"op\":\"add\",\"path\":\"/spec/minReplicas\",\"value\":$min}"
    # The API server refuses min > max: the canary may grow as far as the stable one.
    if ((canary_max < min)); then ops+=",{\"op\":\"replace\",\"path\":\"/spec/maxReplicas\",\"value\":$min}"; fi
    ops+="]"
    kubectl -n "$namespace" patch hpa "$svc-canary" --type json -p "$ops" --field-manager=portcullis-promote >/dev/null
    echo "HorizontalPodAutoscaler/$svc-canary: minReplicas ${old:-1} -> $min (stable $svc: min ${stable_min:-1}, max $stable_max)"
  else
    # No canary autoscaler: scale the canary Deployment itself.
    kubectl -n "$namespace" scale deployment "$svc-canary" --replicas="$min" >/dev/null
    echo "Deployment/$svc-canary: replicas -> $min (no HPA $svc-canary; stable min ${stable_min:-1}, max $stable_max)"
  fi
}

promote() {
  local p="$1" svc
  if [[ ! "$p" =~ ^[0-9]{1,3}$ ]] || ((10#$p > 100)); then
    die "promote takes a canary percentage from 0 to 100, not '${p}'"
  fi
  p=$((10#$p))
  for svc in "${CANARY_SERVICES[@]}"; do set_split "$p" "$svc"; done
  echo "canary (v2) now takes ${p}% in namespace $namespace"
}

# ---------------------------------------------------------------------------------------
# Commands

cmd_apply() {
  if [[ "$dry_run" == true ]]; then
    # Namespaced objects can only be dry-run inside an existing namespace.
    kubectl get namespace "$namespace" >/dev/null 2>&1 ||
      die "namespace $namespace does not exist: a server dry run needs it (kubectl create namespace $namespace)"
  else
    kubectl get namespace "$namespace" >/dev/null 2>&1 || kubectl create namespace "$namespace"
  fi
  if [[ "$istio" == true ]]; then
    # Before any pod starts, so every pod gets its sidecar.
    local label_args=()
    if [[ "$dry_run" == true ]]; then label_args=(--dry-run=server); fi
    kubectl label namespace "$namespace" istio-injection=enabled --overwrite "${label_args[@]}"
  fi
  ensure_secret

  render >"$work/rendered.yaml"
  # Re-applying keeps the live split that promote/rollback set (the manifests say 90/10).
  local svc weights canary_min_live keep=()
  for svc in "${CANARY_SERVICES[@]}"; do
    weights="$(live_weights "$svc")"
    canary_min_live="$(hpa_field "$svc-canary" minReplicas)"
    if [[ -n "$weights" ]]; then keep+=("VirtualService/$svc=$weights"); fi
    if [[ -n "$canary_min_live" ]]; then keep+=("HorizontalPodAutoscaler/$svc-canary=$canary_min_live"); fi
  done
  if ((${#keep[@]} > 0)); then
    "$(node_bin)" "$ROOT/deploy/checks/keep-live.ts" "$work/rendered.yaml" "${keep[@]}"
  fi

  local args=()
  if [[ "$dry_run" == true ]]; then args=(--dry-run=server); fi
  server_apply "${args[@]}" -f "$work/rendered.yaml"
  if [[ "$dry_run" == true ]]; then
    echo "dry run: the API server accepted every object for namespace $namespace; nothing was changed"
    return
  fi
  echo "deployed to namespace $namespace. The OAuth client's credentials:"
  echo "  kubectl -n $namespace get secret $SECRET -o go-template='{{index .data \"auth-clients\" | base64decode}}'"
}

cmd_render() { render; }

cmd_validate() {
  local rendered="$work/rendered.yaml" failed=0
  if [[ -n "$file" ]]; then
    [[ -f "$file" ]] || die "no such file: $file"
    rendered="$file"
  else
    istio=true
    monitoring=true
    render >"$rendered"
  fi
  echo "== checks (deploy/checks): probes, weights, selectors, canary parity, autoscalers, subsets"
  if "$(node_bin)" "$ROOT/deploy/checks/main.ts" "$rendered"; then
    echo "checks: ok"
  else
    echo "checks: REFUSED (above)"
    failed=1
  fi
  if [[ "$server" == true ]]; then
    echo "== API server: server-side apply, dry run, strict field validation (namespace $namespace)"
    kubectl get namespace "$namespace" >/dev/null 2>&1 ||
      die "namespace $namespace does not exist: create it, or pass --no-server for the checks alone"
    if server_apply --dry-run=server -f "$rendered" >"$work/dry-run.out" 2>&1; then
      echo "api-server: ok ($(grep -c 'serverside-applied' "$work/dry-run.out") objects)"
    else
      grep -v 'serverside-applied' "$work/dry-run.out" >&2 || true
      echo "api-server: REFUSED (above)"
      failed=1
    fi
  fi
  if ((failed)); then
    echo "validate: FAILED"
    return 1
  fi
  echo "validate: ok"
}

cmd_status() {
  kubectl get namespace "$namespace" >/dev/null 2>&1 || die "no namespace $namespace"
  echo "== rollouts (namespace $namespace)"
  kubectl -n "$namespace" get deployments,statefulsets -o custom-columns='NAME:.metadata.name,DESIRED:.spec.replicas,UPDATED:.status.updatedReplicas,READY:.status.readyReplicas,AVAILABLE:.status.availableReplicas,IMAGE:.spec.template.spec.containers[*].image' 2>&1
  echo "== autoscalers"
  kubectl -n "$namespace" get hpa -o custom-columns='NAME:.metadata.name,TARGET:.spec.scaleTargetRef.name,MIN:.spec.minReplicas,MAX:.spec.maxReplicas,CURRENT:.status.currentReplicas,DESIRED:.status.desiredReplicas' 2>&1
  echo "== pods"
  kubectl -n "$namespace" get pods -o wide 2>&1
  echo "== traffic split (VirtualService v1/v2 weights per http route)"
  local svc weights
  if kubectl get crd virtualservices.networking.istio.io >/dev/null 2>&1; then
    for svc in "${CANARY_SERVICES[@]}"; do
      weights="$(live_weights "$svc")"
      echo "$svc: ${weights:-no VirtualService}"
    done
  else
    echo "no Istio CRDs on this cluster: no split (the Services spread requests over all pods)"
  fi
  echo "== readiness"
  local desired ready deployments
  deployments="$(kubectl -n "$namespace" get deployments,statefulsets -o 'jsonpath={range .items[*]}{.kind}/{.metadata.name} {.spec.replicas} {.status.readyReplicas}{"\n"}{end}')"
  local total_desired=0 total_ready=0 name
  while read -r name desired ready; do
    [[ -n "$name" ]] || continue
    total_desired=$((total_desired + ${desired:-0}))
    total_ready=$((total_ready + ${ready:-0}))
    echo "$name: ${ready:-0}/${desired:-0} ready"
  done <<<"$deployments"
  if ((total_desired > 0 && total_ready == 0)); then
    echo "0 of $total_desired pods ready: no pods yet (an API server without controllers or nodes, like verify's, never starts any)"
  else
    echo "$total_ready of $total_desired pods ready"
  fi
}

cmd_promote() {
  [[ -n "$percent" ]] || die "usage: deploy.sh promote <percent> [namespace]"
  promote "$percent"
}

cmd_rollback() {
  promote 0
  echo "rolled back: stable (v1) takes all traffic, canary autoscalers back to min 1"
}

cmd_verify() { "$ROOT/deploy/tools/verify.sh"; }

"cmd_$command"
