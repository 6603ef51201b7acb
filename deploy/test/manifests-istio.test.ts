// Istio (istio/, checked together with each rendering that runs the in-cluster Redis): hosts,
// subsets and weights, AuthorizationPolicies against the routes the services serve (read from
// their source as text), the public gateway, deploy.sh promote's contract and retries.
import { strict as assert } from 'node:assert';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { baseMesh, istioDocs, meshViews, namespace, podLabels, podSpec, read, root, selects, type Doc, type Obj } from './_manifests.ts';

/** Every (method, path) a service serves, read from its route definitions and http-kit's standard routes. */
function servedRoutes(app: string): { method: string; path: string }[] {
  const sources = [
    ...readdirSync(join(root, `apps/${app}/src/routes`)).map((file) => read(`apps/${app}/src/routes/${file}`)),
    read('libs/http-kit/src/probes.ts'),
    read('libs/http-kit/src/service.ts'),
  ];
  const routes: { method: string; path: string }[] = [];
  for (const source of sources) {
    for (const m of source.matchAll(/method:\s*'(GET|POST|PUT|DELETE)',\s*path:\s*(?:'([^']+)'|`([^`$]+)\$\{[^`]*`)/g)) {
      if (m[2] !== undefined) routes.push({ method: m[1]!, path: m[2] });
      // A path with a computed suffix (the RFC 8414 issuer path): both forms it can take.
      else routes.push({ method: m[1]!, path: m[3]! }, { method: m[1]!, path: `${m[3]!}/tenant` });
    }
  }
  return routes;
}

/** Istio's path matching: exact, `prefix*` or `*suffix`. */
const pathMatches = (pattern: string, path: string): boolean =>
  pattern.endsWith('*')
    ? path.startsWith(pattern.slice(0, -1))
    : pattern.startsWith('*')
      ? path.endsWith(pattern.slice(1))
      : pattern === path;

const istioFind = (kind: string, name: string): Doc => {
  const doc = istioDocs.find((d) => d.kind === kind && d.name === name);
  assert.ok(doc, `istio/ has ${kind}/${name}`);
  return doc;
};

for (const v of meshViews) {
  test(`${v.name}: Istio hosts are Services of the namespace or the gateway's, subsets have pods, routes add up to 100`, () => {
    for (const doc of istioDocs)
      assert.equal(doc.body.metadata.namespace, namespace, `${doc.file} ${doc.kind}/${doc.name}: deploy.sh retargets this namespace`);
    const serviceOf = (host: string): Doc => {
      const m = /^([a-z0-9-]+)\.([a-z0-9-]+)\.svc\.cluster\.local$/.exec(host);
      assert.ok(m && m[2] === namespace, `${host} is a Service FQDN in ${namespace}`);
      const svc = v.find('Service', m[1]!);
      assert.ok(svc, `${host}: Service ${m[1]} exists`);
      return svc;
    };
    const rules = v.ofKind('DestinationRule');
    for (const dr of rules) {
      const svc = serviceOf(dr.body.spec.host);
      for (const subset of dr.body.spec.subsets ?? []) {
        const pods = v.selectedBy({ ...svc.body.spec.selector, ...subset.labels });
        assert.ok(
          pods.length > 0,
          `DestinationRule/${dr.name} subset ${subset.name}: no Deployment has pods labelled ${JSON.stringify(subset.labels)}`,
        );
      }
    }
    for (const vs of v.ofKind('VirtualService')) {
      const gateways = (vs.body.spec.gateways ?? ['mesh']) as string[];
      const gatewayHosts = gateways
        .filter((g) => g !== 'mesh')
        .flatMap((g) => {
          const gateway = v.find('Gateway', g);
          assert.ok(gateway, `VirtualService/${vs.name}: Gateway ${g} exists`);
          return gateway.body.spec.servers.flatMap((s: Obj) => s.hosts as string[]);
        });
      for (const host of vs.body.spec.hosts) {
        if (host.endsWith('.svc.cluster.local')) serviceOf(host);
        else assert.ok(gatewayHosts.includes(host), `VirtualService/${vs.name}: ${host} is a host of one of its gateways`);
      }
      assert.ok(
        vs.body.spec.hosts.some((h: string) => h.endsWith('.svc.cluster.local')),
        `VirtualService/${vs.name} names its Service`,
      );
      for (const route of vs.body.spec.http) {
        let total = 0;
        for (const { destination, weight } of route.route) {
          const dr = rules.find((r) => r.body.spec.host === destination.host);
          assert.ok(dr, `VirtualService/${vs.name}: a DestinationRule for ${destination.host}`);
          assert.ok(
            dr.body.spec.subsets.some((s: Obj) => s.name === destination.subset),
            `VirtualService/${vs.name}: subset ${destination.subset} exists`,
          );
          total += weight ?? 100;
        }
        assert.equal(total, 100, `VirtualService/${vs.name}: weights add up to 100`);
      }
    }
  });

  test(`${v.name}: Istio AuthorizationPolicies select pods and name service accounts that pods run as`, () => {
    for (const policy of v.ofKind('AuthorizationPolicy')) {
      assert.ok(v.selectedBy(policy.body.spec.selector.matchLabels).length > 0, `AuthorizationPolicy/${policy.name} selects some pods`);
      for (const rule of policy.body.spec.rules) {
        for (const from of rule.from ?? []) {
          for (const principal of from.source.principals ?? []) {
            const m = /^cluster\.local\/ns\/([a-z0-9-]+)\/sa\/([a-z0-9-]+)$/.exec(principal);
            assert.ok(m && m[1] === namespace, `${principal} is a service account of ${namespace}`);
            assert.ok(v.find('ServiceAccount', m[2]!), `ServiceAccount ${m[2]} exists`);
            assert.ok(
              v.workloads.some((w) => podSpec(w).serviceAccountName === m[2]),
              `some pod runs as ${m[2]}`,
            );
          }
        }
      }
    }
  });
}

test('Istio: every path of both services is in an allow rule that says who may call it; none is open to all but the public ones', () => {
  // Open to any caller by design: probes and metrics everywhere; the auth-service's API,
  // whose callers authenticate to the service itself (client secrets, bearer tokens).
  const PROBES = ['/health', '/alive', '/ready', '/metrics', '/openapi.json'];
  const openByDesign: Record<string, (path: string) => boolean> = {
    'policy-service': (path) => PROBES.includes(path),
    'auth-service': () => true,
  };
  for (const app of ['policy-service', 'auth-service']) {
    const routes = servedRoutes(app);
    assert.ok(routes.length >= 8, `${app}: its routes were found in its source (${routes.length})`);
    const policies = baseMesh.ofKind('AuthorizationPolicy').filter((p) => p.body.spec.selector?.matchLabels?.app === app);
    assert.equal(policies.length, 1, `one AuthorizationPolicy selects ${app}`);
    const spec = policies[0]!.body.spec;
    assert.equal(spec.action ?? 'ALLOW', 'ALLOW', `${app}: an allow-list, so what is not listed is refused`);
    for (const rule of spec.rules as Obj[]) {
      assert.ok(
        Array.isArray(rule.to) && rule.to.length > 0,
        `${app}: every rule names the paths it opens (a rule without "to" opens them all)`,
      );
      for (const to of rule.to) {
        assert.ok(Array.isArray(to.operation.paths) && to.operation.methods?.length > 0, `${app}: every operation names methods and paths`);
        for (const pattern of to.operation.paths) assert.ok(!['*', '/*'].includes(pattern), `${app}: no catch-all path`);
      }
    }
    for (const { method, path } of routes) {
      const allowing = (spec.rules as Obj[]).filter((rule) =>
        rule.to.some((to: Obj) => to.operation.methods.includes(method) && to.operation.paths.some((p: string) => pathMatches(p, path))),
      );
      assert.ok(allowing.length > 0, `${app}: ${method} ${path} is in a rule (else the mesh refuses it)`);
      if (allowing.some((rule) => rule.from === undefined))
        assert.ok(openByDesign[app]!(path), `${app}: ${method} ${path} is open to any caller, and it must not be`);
    }
  }
});

test("Istio: Redis accepts only the two services' identities, on its port", () => {
  const policies = baseMesh.ofKind('AuthorizationPolicy').filter((p) => selects(p.body.spec.selector, { app: 'redis' }));
  assert.equal(policies.length, 1, 'one AuthorizationPolicy selects redis');
  const spec = policies[0]!.body.spec;
  assert.equal(spec.action ?? 'ALLOW', 'ALLOW');
  const accounts = ['auth-service', 'policy-service'];
  for (const account of accounts) {
    const pods = baseMesh.workloads.filter((w) => podLabels(w).app === account);
    assert.ok(pods.length > 0 && pods.every((w) => podSpec(w).serviceAccountName === account), `${account}'s pods run as ${account}`);
  }
  const principals = (spec.rules as Obj[]).flatMap((rule) => {
    assert.ok(rule.from?.length > 0, 'every rule names its sources');
    for (const to of rule.to ?? []) {
      assert.equal(to.operation.paths, undefined, 'Redis is TCP: no paths (Istio would deny every connection)');
      assert.deepEqual(to.operation.ports, ['6379'], 'the Redis port only');
    }
    return rule.from.flatMap((f: Obj) => {
      assert.deepEqual(Object.keys(f.source), ['principals'], 'sources are principals only');
      return f.source.principals as string[];
    });
  });
  assert.deepEqual(
    principals.sort(),
    accounts.map((a) => `cluster.local/ns/${namespace}/sa/${a}`),
  );
});

/** Whether a request through `gateway` for `path` takes one of the VirtualService's routes. */
function routed(vs: Doc, gateway: string, path: string): boolean {
  const vsGateways = (vs.body.spec.gateways ?? ['mesh']) as string[];
  return (vs.body.spec.http as Obj[]).some((route) => {
    if (!route.match) return vsGateways.includes(gateway);
    return (route.match as Obj[]).some((m) => {
      if (!((m.gateways ?? vsGateways) as string[]).includes(gateway)) return false;
      for (const key of Object.keys(m))
        assert.ok(['gateways', 'uri', 'name'].includes(key), `VirtualService/${vs.name}: match on ${key} is not evaluated here`);
      if (!m.uri) return true;
      if (m.uri.exact !== undefined) return path === m.uri.exact;
      if (m.uri.prefix !== undefined) return path.startsWith(m.uri.prefix);
      return assert.fail(`VirtualService/${vs.name}: uri ${JSON.stringify(m.uri)} is not evaluated here`);
    });
  });
}

test('Istio: the public gateway serves HTTPS for a host, redirects HTTP, and opens only the API and the OAuth endpoints', () => {
  const gateway = istioFind('Gateway', 'portcullis-gateway');
  const { selector, servers } = gateway.body.spec;
  assert.deepEqual(selector, { istio: 'ingressgateway' });
  const https = servers.find((s: Obj) => s.port.protocol === 'HTTPS');
  const http = servers.find((s: Obj) => s.port.protocol === 'HTTP');
  assert.equal(https?.port.number, 443);
  assert.equal(https.tls.mode, 'SIMPLE');
  assert.ok(https.tls.credentialName, 'the certificate comes from a Secret (credentialName)');
  assert.equal(http?.port.number, 80);
  assert.equal(http.tls?.httpsRedirect, true, 'plain HTTP is redirected');
  assert.deepEqual(http.hosts, https.hosts);
  for (const host of https.hosts) assert.ok(!host.includes('*') && !host.endsWith('.svc.cluster.local'), `${host}: one public host`);

  const bound = istioDocs.filter((d) => d.kind === 'VirtualService' && (d.body.spec.gateways ?? []).includes('portcullis-gateway'));
  assert.deepEqual(
    bound.map((d) => d.name),
    ['auth-service'],
    'the gateway reaches the auth-service through its VirtualService (one split for deploy.sh promote to move)',
  );
  const vs = bound[0]!;
  const PUBLIC = (path: string): boolean =>
    ['/authenticate', '/token', '/revoke', '/introspect'].includes(path) || path.startsWith('/.well-known/');
  const routes = servedRoutes('auth-service');
  for (const path of ['/authenticate', '/token', '/.well-known/jwks.json', '/.well-known/oauth-authorization-server'])
    assert.ok(
      routes.some((r) => r.path === path),
      `the auth-service serves ${path}`,
    );
  for (const { path } of routes) {
    assert.equal(
      routed(vs, 'portcullis-gateway', path),
      PUBLIC(path),
      `through the gateway, ${path} is ${PUBLIC(path) ? 'open' : 'closed'}`,
    );
    assert.ok(routed(vs, 'mesh', path), `in the mesh, ${path} is routed`);
  }
});

test("Istio: deploy.sh promote's contract: VirtualServices auth-service and policy-service have one route, [v1, v2], and no other splits them", () => {
  for (const app of ['auth-service', 'policy-service']) {
    const vs = istioFind('VirtualService', app);
    const http = vs.body.spec.http as Obj[];
    assert.equal(http.length, 1, `VirtualService/${app}: one http route (promote patches /spec/http/0)`);
    assert.deepEqual(
      http[0]!.route.map((r: Obj) => r.destination.subset),
      ['v1', 'v2'],
      `VirtualService/${app}: route/0 is v1 and route/1 is v2`,
    );
    for (const other of istioDocs.filter((d) => d.kind === 'VirtualService' && d.name !== app)) {
      const hosts = (other.body.spec.http as Obj[]).flatMap((r) => (r.route as Obj[]).map((d) => d.destination.host as string));
      assert.ok(
        !hosts.some((h) => h.startsWith(`${app}.`)),
        `VirtualService/${other.name} routes to ${app}: promote would not move its weights`,
      );
    }
  }
});

test('Istio: no retries on the policy-service (its client retries); the auth-service retries only what never reached a pod', () => {
  for (const route of istioFind('VirtualService', 'policy-service').body.spec.http)
    assert.deepEqual(route.retries, { attempts: 0 }, 'policy-service: retries off, libs/service-client retries itself');
  assert.match(read('libs/service-client/src/options.ts'), /retries\?: number/, 'libs/service-client still retries');
  for (const route of istioFind('VirtualService', 'auth-service').body.spec.http) {
    const { attempts, retryOn } = route.retries ?? {};
    assert.ok(attempts !== undefined && attempts <= 1, 'auth-service: retries are set explicitly, at most one');
    for (const condition of String(retryOn ?? '').split(','))
      assert.ok(
        ['connect-failure', 'refused-stream', ''].includes(condition),
        `auth-service: no retry on ${condition} (a 503 is the service failing closed)`,
      );
  }
});

test("Istio: an auth-service pod is ejected for its own failures, never for answering 503 (failing closed is every pod's answer at once)", () => {
  const outlier = istioFind('DestinationRule', 'auth-service').body.spec.trafficPolicy.outlierDetection;
  assert.equal(outlier.consecutive5xxErrors, 0, '5xx-based ejection off: a 503 is the service failing closed');
  assert.equal(outlier.consecutiveGatewayErrors ?? 0, 0, 'gateway-error ejection (502/503/504) off too');
  assert.equal(outlier.splitExternalLocalOriginErrors, true, 'local-origin failures counted on their own');
  assert.ok(outlier.consecutiveLocalOriginFailures >= 1, 'connect failures, resets and timeouts still eject a pod');
  assert.ok(outlier.maxEjectionPercent <= 50, 'never more than half the pods');
});

test("Istio: route timeouts are backstops above the services' own bounds, so a caller gets the service's answer, not Envoy's 504", () => {
  const seconds = (value: string): number => Number(/^(\d+)s$/.exec(value)?.[1] ?? NaN);
  const impactMs = Number(/POLICY_IMPACT_TIME_LIMIT_MS: env\.positiveInt\(([\d_]+)\)/.exec(read('apps/policy-service/src/config.ts'))?.[1]);
  const storeMs = Number(/timeoutMs \?\? ([\d_]+)/.exec(read('apps/policy-service/src/live-set/store.ts'))?.[1]);
  assert.ok(impactMs > 0 && storeMs > 0, 'the impact time limit and the live-set store deadline are found in the source');
  for (const name of ['policy-service', 'auth-service'])
    for (const route of istioFind('VirtualService', name).body.spec.http) {
      const timeout = seconds(route.timeout);
      assert.ok(timeout * 1000 > impactMs + storeMs, `${name}: route timeout ${route.timeout} above ${impactMs + storeMs} ms`);
    }
});
