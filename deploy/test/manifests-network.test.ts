// NetworkPolicies: who may open a connection to whom, evaluated as a CNI would, in every
// rendering (deploy/base and every overlay, from _manifests.ts): default deny, DNS, and
// exactly the expected callers of each service.
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { namespace, podLabels, selects, views, type Doc, type Labels, type Obj, type View } from './_manifests.ts';

/** A pod, by its namespace's labels (null: an address outside the cluster) and its own. */
interface Endpoint {
  what: string;
  namespace: Labels | null;
  pod: Labels;
}
const nsLabels = (name: string, extra: Labels = {}): Labels => ({ 'kubernetes.io/metadata.name': name, ...extra });
/** This namespace as deploy.sh --istio leaves it: the broadest case for namespace selectors. */
const OWN_NAMESPACE = nsLabels(namespace, { 'istio-injection': 'enabled' });
const OUTSIDERS: Endpoint[] = [
  { what: 'the Istio ingress gateway', namespace: nsLabels('istio-system'), pod: { app: 'istio-ingressgateway', istio: 'ingressgateway' } },
  { what: 'Prometheus', namespace: nsLabels('monitoring'), pod: { 'app.kubernetes.io/name': 'prometheus' } },
  { what: 'a pod of a mesh namespace', namespace: nsLabels('shop', { 'istio-injection': 'enabled' }), pod: { app: 'shop' } },
  { what: 'a pod of a revision-injected namespace', namespace: nsLabels('shop2', { 'istio.io/rev': 'stable' }), pod: { app: 'shop' } },
  { what: 'a pod outside the mesh', namespace: nsLabels('default'), pod: { app: 'web' } },
  { what: 'another pod of this namespace', namespace: OWN_NAMESPACE, pod: { app: 'debug' } },
  { what: "an operator's pod", namespace: OWN_NAMESPACE, pod: { 'portcullis.io/operator': 'true' } },
  { what: 'an address outside the cluster', namespace: null, pod: {} },
];
const DNS: Endpoint = { what: 'kube-dns', namespace: nsLabels('kube-system'), pod: { 'k8s-app': 'kube-dns' } };
/** An ipBlock is taken to cover any address: the checks below then see the widest it could be. */
function peerMatches(peer: Obj, other: Endpoint): boolean {
  if (peer.ipBlock) return true;
  if (other.namespace === null) return false;
  const inNamespace = peer.namespaceSelector
    ? selects(peer.namespaceSelector, other.namespace)
    : other.namespace['kubernetes.io/metadata.name'] === namespace;
  return inNamespace && selects(peer.podSelector, other.pod);
}

function portMatches(ports: Obj[] | undefined, port: number, protocol: string): boolean {
  return (
    !ports ||
    ports.some((p) => {
      assert.ok(p.port === undefined || typeof p.port === 'number', `NetworkPolicy ports are numbers (${p.port})`);
      return (
        (p.protocol ?? 'TCP') === protocol &&
        (p.port === undefined || p.port === port || (p.endPort && port >= p.port && port <= p.endPort))
      );
    })
  );
}

/** Whether `direction` traffic of a pod of this namespace with `labels`, to or from `other`, is allowed. */
function allowed(v: View, direction: 'Ingress' | 'Egress', labels: Labels, other: Endpoint, port: number, protocol = 'TCP'): boolean {
  const policies = v
    .ofKind('NetworkPolicy')
    .filter((np) => (np.body.spec.policyTypes ?? ['Ingress']).includes(direction) && selects(np.body.spec.podSelector, labels));
  if (policies.length === 0) return true;
  const rules = policies.flatMap((np) => (direction === 'Ingress' ? np.body.spec.ingress : np.body.spec.egress) ?? []) as Obj[];
  return rules.some((rule) => {
    const peers = (direction === 'Ingress' ? rule.from : rule.to) as Obj[] | undefined;
    return (!peers || peers.some((peer) => peerMatches(peer, other))) && portMatches(rule.ports, port, protocol);
  });
}

/** Whether `from` may connect to `to` on `port`: its egress and the target's ingress, where each is in this namespace. */
function reaches(v: View, from: Endpoint, to: Endpoint, port: number): boolean {
  const mine = (e: Endpoint): boolean => e.namespace?.['kubernetes.io/metadata.name'] === namespace;
  return (!mine(from) || allowed(v, 'Egress', from.pod, to, port)) && (!mine(to) || allowed(v, 'Ingress', to.pod, from, port));
}

const endpointOf = (w: Doc): Endpoint => ({ what: `${w.kind}/${w.name}`, namespace: OWN_NAMESPACE, pod: podLabels(w) });

/** Who may reach each app's port: the whole list, so anything more is an error too. */
const EXPECTED_CALLERS: Record<string, { port: number; callers: string[] }> = {
  'auth-service': {
    port: 8080,
    callers: [
      'the Istio ingress gateway',
      'Prometheus',
      'a pod of a mesh namespace',
      'a pod of a revision-injected namespace',
      "an operator's pod",
    ],
  },
  'policy-service': {
    port: 8181,
    callers: ['Prometheus', "an operator's pod", 'Deployment/auth-service', 'Deployment/auth-service-canary'],
  },
  redis: {
    port: 6379,
    callers: ['Deployment/auth-service', 'Deployment/auth-service-canary', 'Deployment/policy-service', 'Deployment/policy-service-canary'],
  },
};

for (const v of views) {
  test(`${v.name}: NetworkPolicies deny by default and select every pod`, () => {
    const deny = v
      .ofKind('NetworkPolicy')
      .find((np) => Object.keys(np.body.spec.podSelector).length === 0 && !np.body.spec.ingress && !np.body.spec.egress);
    assert.ok(deny, 'a default-deny policy selecting every pod');
    assert.deepEqual([...deny.body.spec.policyTypes].sort(), ['Egress', 'Ingress']);
    for (const w of v.workloads) {
      const own = v
        .ofKind('NetworkPolicy')
        .filter((np) => Object.keys(np.body.spec.podSelector).length > 0 && selects(np.body.spec.podSelector, podLabels(w)));
      assert.ok(own.length > 0, `${w.name}: a policy of its own says what it accepts`);
      assert.ok(
        reaches(v, endpointOf(w), DNS, 53) && allowed(v, 'Egress', podLabels(w), DNS, 53, 'UDP'),
        `${w.name}: DNS (UDP and TCP 53)`,
      );
    }
  });

  test(`${v.name}: NetworkPolicies let exactly the expected callers reach each service; Redis only from the two services`, () => {
    for (const [app, { port, callers }] of Object.entries(EXPECTED_CALLERS)) {
      const targets = v.workloads.filter((w) => podLabels(w).app === app);
      if (app === 'redis' && !v.inClusterRedis) continue;
      assert.ok(targets.length > 0, `${app} runs`);
      for (const target of targets) {
        const sources = [...OUTSIDERS, ...v.workloads.map(endpointOf)];
        const reaching = sources.filter((source) => reaches(v, source, endpointOf(target), port)).map((s) => s.what);
        assert.deepEqual(reaching.sort(), [...callers].sort(), `${target.name}:${port} is reachable from`);
      }
    }
    // Prometheus also scrapes the sidecars' merged metrics.
    for (const w of v.workloads.filter((o) => ['auth-service', 'policy-service'].includes(podLabels(o).app!)))
      assert.ok(reaches(v, OUTSIDERS[1]!, endpointOf(w), 15020), `${w.name}: Prometheus reaches the sidecar's metrics`);
    if (!v.inClusterRedis) {
      const cluster = OUTSIDERS.find((o) => o.namespace === null)!;
      for (const w of v.ofKind('Deployment')) assert.ok(reaches(v, endpointOf(w), cluster, 6379), `${w.name} reaches the Redis Cluster`);
    }
  });
}
