#!/usr/bin/env bash
# `deploy/deploy.sh verify`: proves deploy.sh against a real kube-apiserver and etcd started
# on loopback for the occasion (no Docker, no cluster, no controllers or nodes):
#   1. builds or finds kube-apiserver, kubectl, etcd and the Istio/Prometheus-operator CRDs
#      (deploy/tools/build-kube.sh, cached outside the repository);
#   2. makes a CA, a serving certificate for 127.0.0.1, a service-account key and a token,
#      starts etcd and kube-apiserver on free loopback ports, writes a kubeconfig, installs
#      the CRDs;
#   3. for the overlays dev and prod, each in its own namespace: apply --dry-run, apply,
#      re-apply, validate, status, promote 10/50/100 (and re-apply keeping the split),
#      rollback, asserting the weights and canary autoscaler minimums;
#   4. broken copies of the rendered manifests, each of which must be refused (naming the
#      object) by the API server, by deploy/checks, or both; the line says which.
# One PASS/FAIL line per check, then `RESULT deploy-verify checks=N failed=F seconds=S`;
# exits 1 on any failure. PORTCULLIS_VERIFY_KEEP=1 keeps the temporary directory (logs).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DEPLOY="$ROOT/deploy/deploy.sh"
started=$SECONDS
checks=0
failed=0

say() { echo "verify: $*" >&2; }
for tool in openssl; do
  command -v "$tool" >/dev/null || { say "$tool not found"; exit 1; }
done
if [[ -x "$ROOT/node_modules/.bin/node" ]]; then NODE="$ROOT/node_modules/.bin/node"; else NODE="$(command -v node)" || { say "node not found (npm ci)"; exit 1; }; fi

# 1. Tools
say "tools: deploy/tools/build-kube.sh (the first run builds kube-apiserver: 10-35 min on 2 cores)"
tools_env="$("$ROOT/deploy/tools/build-kube.sh" --env all)"
tool() { sed -n "s/^$1=//p" <<<"$tools_env"; }
KUBE_APISERVER="$(tool kube_apiserver)"
KUBECTL="$(tool kubectl)"
ETCD="$(tool etcd)"
CRDS="$(tool crds)"
if [[ -z "$KUBE_APISERVER" || -z "$KUBECTL" || -z "$ETCD" || -z "$CRDS" ]]; then
  say "build-kube.sh did not produce every tool:"
  echo "$tools_env" >&2
  exit 1
fi
export KUBECTL
kubectl() { command "$KUBECTL" "$@"; }

dir="$(mktemp -d "${TMPDIR:-/tmp}/portcullis-verify.XXXXXX")"
chmod 700 "$dir"
etcd_pid=""
apiserver_pid=""
stop() {
  local pid
  for pid in "$apiserver_pid" "$etcd_pid"; do
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  if [[ "${PORTCULLIS_VERIFY_KEEP:-}" == 1 ]]; then say "kept $dir"; else rm -rf "$dir"; fi
}
trap stop EXIT
trap 'exit 130' INT TERM

# 2. A throw-away control plane
say "certificates, token and kubeconfig in $dir"
(
  cd "$dir"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=portcullis-verify-ca 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=kube-apiserver 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n' >server.ext
  openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile server.ext 2>/dev/null
  openssl genrsa -out sa.key 2048 2>/dev/null
  openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  printf '%s,portcullis-verify,portcullis-verify,"system:masters"\n' "$(openssl rand -hex 24)" >tokens.csv
)
token="$(cut -d, -f1 "$dir/tokens.csv")"

# Three free loopback ports, held together while chosen so they differ.
read -r etcd_port peer_port api_port < <("$NODE" -e '
  const net = require("node:net");
  const servers = [0, 1, 2].map(() => net.createServer());
  Promise.all(servers.map((s) => new Promise((ok) => s.listen(0, "127.0.0.1", ok)))).then(() => {
    console.log(servers.map((s) => s.address().port).join(" "));
    servers.forEach((s) => s.close());
  });')

say "etcd on 127.0.0.1:$etcd_port, kube-apiserver on https://127.0.0.1:$api_port"
"$ETCD" --name verify --data-dir "$dir/etcd" \
  --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
  --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
  --initial-cluster "verify=http://127.0.0.1:$peer_port" --unsafe-no-fsync --log-level warn >"$dir/etcd.log" 2>&1 &
etcd_pid=$!
# No controller manager runs here to create service accounts (or their tokens): the
# ServiceAccount admission plugin, which waits for them, is switched off.
"$KUBE_APISERVER" --etcd-servers="http://127.0.0.1:$etcd_port" \
  --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$api_port" \
  --tls-cert-file="$dir/server.crt" --tls-private-key-file="$dir/server.key" --cert-dir="$dir/certs" \
  --token-auth-file="$dir/tokens.csv" --authorization-mode=AlwaysAllow \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$dir/sa.pub" --service-account-signing-key-file="$dir/sa.key" \
  --service-cluster-ip-range=10.96.0.0/16 --disable-admission-plugins=ServiceAccount \
  >"$dir/apiserver.log" 2>&1 &
apiserver_pid=$!

export KUBECONFIG="$dir/kubeconfig"
kubectl config set-cluster verify --server="https://127.0.0.1:$api_port" --certificate-authority="$dir/ca.crt" --embed-certs >/dev/null
kubectl config set-credentials verify --token="$token" >/dev/null
kubectl config set-context verify --cluster=verify --user=verify >/dev/null
kubectl config use-context verify >/dev/null

ready_started=$SECONDS
until kubectl get --raw /readyz >/dev/null 2>&1; do
  if ! kill -0 "$apiserver_pid" 2>/dev/null || ! kill -0 "$etcd_pid" 2>/dev/null || ((SECONDS - ready_started > 90)); then
    say "the control plane did not become ready; last lines of its logs:"
    tail -n 15 "$dir/etcd.log" "$dir/apiserver.log" >&2
    exit 1
  fi
  sleep 0.5
done
say "API server ready after $((SECONDS - ready_started)) s ($(kubectl version -o yaml | sed -n 's/^  gitVersion: //p' | tr '\n' ' '))"

# Checks
n=0
out() { echo "$dir/out.$n"; }
pass() { checks=$((checks + 1)); echo "PASS $*"; }
fail() {
  checks=$((checks + 1))
  failed=$((failed + 1))
  echo "FAIL $1"
  shift
  if (($# > 0)); then printf '%s\n' "$@" | sed 's/^/     /'; fi
}
# expect_ok <name> <command...>: the command succeeds (its output is kept for the next check).
expect_ok() {
  local name="$1"
  shift
  n=$((n + 1))
  if "$@" >"$(out)" 2>&1; then pass "$name"; else fail "$name" "exit $?: $*" "$(tail -n 12 "$(out)")"; fi
}
# expect_eq <name> <expected> <actual>
expect_eq() {
  if [[ "$2" == "$3" ]]; then pass "$1 ($3)"; else fail "$1" "expected: $2" "actual:   $3"; fi
}
# expect_in_output <name> <regex>: the last command's output matches.
expect_in_output() {
  if grep -Eq -- "$2" "$(out)"; then pass "$1"; else fail "$1" "no line matching /$2/ in:" "$(tail -n 20 "$(out)")"; fi
}

say "CRDs: Istio and the Prometheus operator's ServiceMonitor/PrometheusRule"
expect_ok "install CRDs" kubectl apply --server-side --field-manager=portcullis-verify -f "$CRDS"
expect_ok "CRDs established" kubectl wait --for=condition=Established --timeout=60s -f "$CRDS"

weights() { kubectl -n "$1" get virtualservice "$2" -o 'jsonpath={range .spec.http[*]}{.route[0].weight}/{.route[1].weight} {end}' | sed 's/ $//'; }
hpa() { kubectl -n "$1" get hpa "$2" -o "jsonpath={.spec.$3}"; }
# The canary's expected minimum, computed here independently of deploy.sh (floating point ceil).
expected_min() {
  awk -v p="$1" -v m="$2" -v M="$3" 'BEGIN {
    if (p >= 100) r = m; else { r = m * p / (100 - p); if (r > int(r)) r = int(r) + 1 }
    if (r < 1) r = 1; if (r > M) r = M; print r }'
}
split_is() { # <namespace> <percent>: both VirtualServices and both canary HPAs
  local ns="$1" p="$2" svc min max want
  for svc in auth-service policy-service; do
    expect_eq "$svc weights at $p% ($ns)" "$((100 - p))/$p" "$(weights "$ns" "$svc")"
    min="$(hpa "$ns" "$svc" minReplicas)"
    max="$(hpa "$ns" "$svc" maxReplicas)"
    want="$(expected_min "$p" "$min" "$max")"
    expect_eq "$svc-canary minReplicas at $p% (stable $min-$max) ($ns)" "$want" "$(hpa "$ns" "$svc-canary" minReplicas)"
  done
}
secret_digest() { kubectl -n "$1" get secret portcullis-secrets -o 'jsonpath={.data}' | sha256sum | cut -c1-16; }

# 3. The overlays
for overlay in dev prod; do
  ns="verify-$overlay"
  say "overlay $overlay in namespace $ns"
  kubectl create namespace "$ns" >/dev/null
  expect_ok "apply --dry-run ($overlay)" "$DEPLOY" apply --overlay "$overlay" --istio --monitoring --dry-run "$ns"
  expect_eq "dry run changed nothing ($overlay)" "" "$(kubectl -n "$ns" get deployments,virtualservices,secrets -o name)"
  expect_ok "apply ($overlay)" "$DEPLOY" apply --overlay "$overlay" --istio --monitoring "$ns"
  expect_eq "deployments ($overlay)" "auth-service auth-service-canary policy-service policy-service-canary" \
    "$(kubectl -n "$ns" get deployments -o 'jsonpath={.items[*].metadata.name}')"
  expect_eq "autoscalers ($overlay)" "auth-service auth-service-canary policy-service policy-service-canary" \
    "$(kubectl -n "$ns" get hpa -o 'jsonpath={.items[*].metadata.name}')"
  expect_eq "Istio objects ($overlay)" "2 2 1" "$(kubectl -n "$ns" get virtualservices -o name | wc -l) $(kubectl -n "$ns" get destinationrules -o name | wc -l) $(kubectl -n "$ns" get peerauthentications -o name | wc -l)"
  expect_eq "monitoring objects ($overlay)" "servicemonitor/portcullis prometheusrule/portcullis configmap/portcullis-dashboard" \
    "$(kubectl -n "$ns" get servicemonitors,prometheusrules -o name | sed 's#\.monitoring\.coreos\.com##' | tr '\n' ' ')$(kubectl -n "$ns" get configmap portcullis-dashboard -o name)"
  # shellcheck disable=SC2016 # a Go template
  expect_eq "secret keys ($overlay)" "auth-clients jwt-secret policy-admin-token redis-password redis-url" \
    "$(kubectl -n "$ns" get secret portcullis-secrets -o go-template='{{range $k, $v := .data}}{{$k}} {{end}}' | sed 's/ $//')"
  expect_eq "namespace labelled for sidecars ($overlay)" enabled "$(kubectl get namespace "$ns" -o 'jsonpath={.metadata.labels.istio-injection}')"
  expect_eq "hosts retargeted ($overlay)" "auth-service.$ns.svc.cluster.local" "$(kubectl -n "$ns" get virtualservice auth-service -o 'jsonpath={.spec.hosts[0]}')"
  expect_eq "field manager portcullis-deploy ($overlay)" portcullis-deploy \
    "$(kubectl -n "$ns" get deployment auth-service --show-managed-fields -o 'jsonpath={.metadata.managedFields[?(@.operation=="Apply")].manager}')"
  digest="$(secret_digest "$ns")"
  expect_ok "re-apply ($overlay)" "$DEPLOY" apply --overlay "$overlay" --istio --monitoring "$ns"
  expect_eq "re-apply keeps the secret values ($overlay)" "$digest" "$(secret_digest "$ns")"
  expect_ok "validate ($overlay)" "$DEPLOY" validate --overlay "$overlay" "$ns"
  expect_ok "status ($overlay)" "$DEPLOY" status "$ns"
  expect_in_output "status shows the split 90/10 ($overlay)" '^auth-service: 90/10$'
  expect_in_output "status shows the autoscalers ($overlay)" '^auth-service-canary +auth-service-canary +1 '
  expect_in_output "status says 0 ready, no controllers ($overlay)" '^0 of [0-9]+ pods ready: no pods yet'
  split_is "$ns" 10
  for p in 10 50 100; do
    expect_ok "promote $p ($overlay)" "$DEPLOY" promote "$p" "$ns"
    expect_in_output "promote $p prints the change ($overlay)" "^VirtualService/auth-service: v1/v2 weights [0-9/]+ -> $((100 - p))/$p$"
    split_is "$ns" "$p"
    if [[ "$p" == 50 ]]; then
      expect_ok "re-apply at 50% ($overlay)" "$DEPLOY" apply --overlay "$overlay" --istio --monitoring "$ns"
      split_is "$ns" 50
    fi
  done
  expect_ok "rollback ($overlay)" "$DEPLOY" rollback "$ns"
  split_is "$ns" 0
done

# 4. Broken copies: refused, with the object named, by the API server and/or deploy/checks.
# An empty namespace: the API server judges each copy as a creation.
ns=verify-broken
kubectl create namespace "$ns" >/dev/null
good="$dir/good.yaml"
"$DEPLOY" render --overlay dev --istio --monitoring "$ns" >"$good"
# break <case> <out>: a copy of the rendered manifests with one mistake.
break_copy() {
  "$NODE" - "$good" "$1" "$2" <<'EOF'
const fs = require('node:fs');
const YAML = require(require.resolve('yaml', { paths: [process.env.ROOT + '/node_modules'] }));
const [input, mistake, output] = process.argv.slice(2);
const docs = YAML.parseAllDocuments(fs.readFileSync(input, 'utf8'));
const find = (kind, name) => docs.find((d) => d.get('kind') === kind && d.getIn(['metadata', 'name']) === name);
const mistakes = {
  'unknown-field': () => find('Deployment', 'auth-service').setIn(['spec', 'replicass'], 3),
  'weights-80-10': () => {
    const vs = find('VirtualService', 'auth-service');
    vs.setIn(['spec', 'http', 0, 'route', 0, 'weight'], 80);
    vs.setIn(['spec', 'http', 0, 'route', 1, 'weight'], 10);
  },
  'string-weight': () => find('VirtualService', 'policy-service').setIn(['spec', 'http', 0, 'route', 0, 'weight'], '90'),
  'no-probes': () => {
    const d = find('Deployment', 'policy-service');
    for (const probe of ['readinessProbe', 'livenessProbe', 'startupProbe']) d.deleteIn(['spec', 'template', 'spec', 'containers', 0, probe]);
  },
  'selector-mismatch': () => find('Deployment', 'auth-service-canary').setIn(['spec', 'selector', 'matchLabels', 'version'], 'v3'),
};
mistakes[mistake]();
fs.writeFileSync(output, docs.map((d) => d.toString().replace(/^---\n/, '')).join('---\n'));
EOF
}
export ROOT
expect_ok "validate passes the unbroken copy" "$DEPLOY" validate --file "$good" "$ns"
while read -r mistake kind name; do
  copy="$dir/broken-$mistake.yaml"
  break_copy "$mistake" "$copy"
  n=$((n + 1))
  "$DEPLOY" validate --file "$copy" "$ns" </dev/null >"$(out)" 2>&1 && status=0 || status=$?
  # Which layer refused it: each must name the object (Kind/name, or the API server's
  # "name" / namespace/name in its error).
  refused=()
  checks_said="$(grep -m1 "^$kind/$name: " "$(out)" || true)"
  api_said="$(grep -v -e '^==' -e '^checks' -e '^api-server: ' -e '^[A-Za-z]*/[a-z0-9-]*: ' "$(out)" | awk -v pattern="\"${name}\"|/${name}[;,) ]" '
    found { print line " " $0; done = 1; exit }
    $0 ~ pattern { line = $0; if (line ~ /: $/) found = 1; else { print line; done = 1; exit } }
    END { if (found && !done) print line }' || true)"
  if grep -q '^checks: REFUSED' "$(out)" && [[ -n "$checks_said" ]]; then refused+=("checks: ${checks_said:0:160}"); fi
  if grep -q '^api-server: REFUSED' "$(out)" && [[ -n "$api_said" ]]; then refused+=("api-server: ${api_said:0:220}"); fi
  if ((status != 0)) && ((${#refused[@]} > 0)); then
    pass "refused: $mistake ($kind/$name) by ${#refused[@]} layer(s)"
    printf '     %s\n' "${refused[@]}"
  else
    fail "refused: $mistake ($kind/$name)" "validate exit $status" "$(tail -n 15 "$(out)")"
  fi
done <<'EOF'
unknown-field Deployment auth-service
weights-80-10 VirtualService auth-service
string-weight VirtualService policy-service
no-probes Deployment policy-service
selector-mismatch Deployment auth-service-canary
EOF

echo "RESULT deploy-verify checks=$checks failed=$failed seconds=$((SECONDS - started))"
((failed == 0))
