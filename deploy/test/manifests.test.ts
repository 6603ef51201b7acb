// Contracts between the manifests (deploy/base, istio/), deploy/deploy.sh and the services'
// source: the mistakes that kubectl accepts and a cluster only shows at run time (a typo in
// an env var name, a probe on a path that does not exist, a subset without pods, a secret
// key the deploy script never creates). The apps are read as text, never imported.
import { strict as assert } from 'node:assert';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

type Obj = Record<string, any>;
interface Doc {
  file: string;
  kind: string;
  name: string;
  body: Obj;
}

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const read = (path: string): string => readFileSync(join(root, path), 'utf8');

function loadDocs(dir: string): Doc[] {
  return readdirSync(join(root, dir))
    .filter((name) => name.endsWith('.yaml') && name !== 'kustomization.yaml')
    .flatMap((name) => {
      const file = `${dir}/${name}`;
      return YAML.parseAllDocuments(read(file)).map((document: any) => {
        assert.deepEqual(document.errors.map(String), [], `${file} parses`);
        const body = document.toJSON() as Obj;
        assert.ok(body?.kind && body.metadata?.name, `${file}: every document has a kind and a name`);
        return { file, kind: body.kind, name: body.metadata.name, body };
      });
    });
}

const kustomization = YAML.parse(read('deploy/base/kustomization.yaml')) as Obj;
const namespace: string = kustomization.namespace;
const baseDocs = loadDocs('deploy/base');
const istioDocs = loadDocs('istio');
const docs = [...baseDocs, ...istioDocs];
const deployScript = read('deploy/deploy.sh');

const ofKind = (kind: string): Doc[] => docs.filter((doc) => doc.kind === kind);
const find = (kind: string, name: string): Doc | undefined => ofKind(kind).find((doc) => doc.name === name);
const workloads = docs.filter((doc) => doc.kind === 'Deployment' || doc.kind === 'StatefulSet');
const podSpec = (w: Doc): Obj => w.body.spec.template.spec;
const podLabels = (w: Doc): Record<string, string> => w.body.spec.template.metadata.labels ?? {};
const containersOf = (w: Doc): Obj[] => [...(podSpec(w).initContainers ?? []), ...podSpec(w).containers];
const matches = (selector: Record<string, string>, labels: Record<string, string>): boolean =>
  Object.entries(selector).every(([key, value]) => labels[key] === value);
const selectedBy = (selector: Record<string, string>): Doc[] => workloads.filter((w) => matches(selector, podLabels(w)));
const allContainers = workloads.flatMap((w) => containersOf(w).map((c) => ({ w, c, where: `${w.kind}/${w.name} container ${c.name}` })));

/** `NAME:` keys of an object literal in source text (the zod schemas of config.ts). */
const keysIn = (source: string): Set<string> => new Set([...source.matchAll(/^\s*([A-Z][A-Z0-9_]*):/gm)].map((m) => m[1]!));
const tracingSource = read('libs/observability/src/tracing-sdk.ts');
const tracingBlock = /export const TRACING_ENV = \{([\s\S]*?)\n\};/.exec(tracingSource)?.[1];
assert.ok(tracingBlock, 'TRACING_ENV found in libs/observability/src/tracing-sdk.ts');
const TRACING_KEYS = keysIn(tracingBlock);
/** Containers of other images and the variables they are known to read. */
const THIRD_PARTY_ENV: Record<string, string[]> = { redis: ['REDIS_PASSWORD', 'REDISCLI_AUTH'] };

/** Keys of the Secret that deploy.sh creates. */
const secretName = /^SECRET=(\S+)$/m.exec(deployScript)?.[1];
const secretKeys = /^SECRET_KEYS=\(([^)]*)\)/m.exec(deployScript)?.[1]?.trim().split(/\s+/) ?? [];

test('every env var a Portcullis container sets is one its config.ts or TRACING_ENV reads', () => {
  assert.ok(TRACING_KEYS.has('OTEL_EXPORTER_OTLP_ENDPOINT') && TRACING_KEYS.has('OTEL_TRACES_SAMPLER_ARG'));
  for (const { c, where } of allContainers) {
    const app = /^ghcr\.io\/portcullis\/([a-z-]+):/.exec(c.image)?.[1];
    const repo = String(c.image).split(':')[0]!;
    let known: Set<string>;
    if (app !== undefined) {
      assert.ok(existsSync(join(root, 'apps', app, 'src/config.ts')), `${where}: apps/${app}/src/config.ts exists`);
      known = new Set([...keysIn(read(`apps/${app}/src/config.ts`)), ...TRACING_KEYS]);
      assert.ok(known.has('LOG_LEVEL'), `the config.ts key pattern still finds apps/${app}'s keys`);
    } else {
      assert.ok(THIRD_PARTY_ENV[repo], `${where}: image ${c.image} is listed in THIRD_PARTY_ENV`);
      known = new Set(THIRD_PARTY_ENV[repo]);
    }
    const names = (c.env ?? []).map((e: Obj) => e.name as string);
    for (const name of names) assert.ok(known.has(name), `${where}: ${name} is read by nothing`);
    // Kubernetes leaves an unknown $(VAR) as literal text: redis would get "$(REDIS_PASSWORD)" as its password.
    for (const arg of [...(c.command ?? []), ...(c.args ?? [])]) {
      for (const m of String(arg).matchAll(/\$\(([A-Z0-9_]+)\)/g))
        assert.ok(names.includes(m[1]!), `${where}: ${arg} refers to an env var it sets`);
    }
  }
});

test('probes use /alive, /ready or /health on a declared port; liveness never on /ready', () => {
  let seen = 0;
  for (const { c, where } of allContainers) {
    const portNames = (c.ports ?? []).map((p: Obj) => p.name);
    const portNumbers = (c.ports ?? []).map((p: Obj) => p.containerPort);
    for (const kind of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
      const get = c[kind]?.httpGet;
      if (!get) continue;
      seen++;
      assert.ok(['/alive', '/ready', '/health'].includes(get.path), `${where} ${kind}: ${get.path} is not a probe route`);
      // /ready turns 503 while Redis or the policy-service is away: restarting for that would make it worse.
      if (kind !== 'readinessProbe') assert.equal(get.path, '/alive', `${where} ${kind} must use /alive`);
      assert.ok(portNames.includes(get.port) || portNumbers.includes(get.port), `${where} ${kind}: port ${get.port} is declared`);
    }
  }
  assert.ok(seen >= 6, 'the HTTP probes were found');
});

test('every workload selector matches its own pod labels and no other workload', () => {
  for (const w of workloads) {
    const selector = w.body.spec.selector.matchLabels;
    assert.ok(matches(selector, podLabels(w)), `${w.kind}/${w.name}: selector matches its pod labels`);
    assert.deepEqual(
      selectedBy(selector).map((o) => o.name),
      [w.name],
      `${w.kind}/${w.name}: selector overlaps another workload`,
    );
  }
});

test('Services select pods whose containers have the target ports, with Istio protocol names', () => {
  const protocols = /^(http|http2|https|grpc|grpc-web|tcp|tls|mongo|mysql|redis|udp)(-|$)/;
  for (const svc of ofKind('Service')) {
    const pods = selectedBy(svc.body.spec.selector);
    assert.ok(pods.length > 0, `Service/${svc.name} selects some pods`);
    for (const port of svc.body.spec.ports) {
      assert.match(port.appProtocol ?? port.name, protocols, `Service/${svc.name} port ${port.name}: Istio would treat it as opaque TCP`);
      for (const w of pods) {
        const ok = containersOf(w).some((c) =>
          (c.ports ?? []).some((p: Obj) => p.name === port.targetPort || p.containerPort === port.targetPort),
        );
        assert.ok(ok, `Service/${svc.name} targetPort ${port.targetPort} exists on ${w.kind}/${w.name}`);
      }
    }
  }
});

test('http:// and redis:// addresses name an existing Service and port', () => {
  const addresses = [
    ...allContainers.flatMap(({ c, where }) =>
      (c.env ?? [])
        .filter((e: Obj) => typeof e.value === 'string')
        .map((e: Obj) => ({ value: e.value as string, where: `${where} ${e.name}` })),
    ),
    ...[...deployScript.matchAll(/redis:\/\/[^'"\s]*/g)].map((m) => ({ value: m[0], where: 'deploy.sh' })),
  ];
  let checked = 0;
  for (const { value, where } of addresses) {
    const m = /^(?:https?|rediss?):\/\/(?:[^@/]*@)?([a-z0-9-]+):(\d+)/.exec(value);
    if (!m || m[1]!.includes('.')) continue;
    checked++;
    const svc = find('Service', m[1]!);
    assert.ok(svc, `${where}: Service ${m[1]} exists`);
    assert.ok(
      svc.body.spec.ports.some((p: Obj) => p.port === Number(m[2])),
      `${where}: Service ${m[1]} has port ${m[2]}`,
    );
  }
  assert.ok(checked >= 3, 'POLICY_URL and the redis-url were checked');
});

test('*_FILE and *_DIR variables point into a mounted volume (and at a projected key)', () => {
  for (const { w, c, where } of allContainers) {
    for (const e of c.env ?? []) {
      if (!/_(FILE|DIR)$/.test(e.name) || typeof e.value !== 'string') continue;
      const mount = (c.volumeMounts ?? []).find((v: Obj) => e.value === v.mountPath || e.value.startsWith(`${v.mountPath}/`));
      assert.ok(mount, `${where}: ${e.name}=${e.value} is inside a volume mount`);
      const volume = podSpec(w).volumes.find((v: Obj) => v.name === mount.name);
      const items = volume?.secret?.items ?? volume?.configMap?.items;
      if (e.name.endsWith('_FILE') && items) {
        assert.ok(
          items.some((i: Obj) => i.path === relative(mount.mountPath, e.value)),
          `${where}: ${e.name} names a projected key`,
        );
      }
    }
  }
});

test('every secret reference is a key deploy.sh creates, and it creates none that is unused', () => {
  assert.ok(secretName && secretKeys.length > 0, 'deploy.sh declares SECRET and SECRET_KEYS');
  const used = new Set<string>();
  for (const { w, c, where } of allContainers) {
    for (const e of c.env ?? []) {
      const ref = e.valueFrom?.secretKeyRef;
      if (!ref) continue;
      assert.equal(ref.name, secretName, `${where} ${e.name}`);
      assert.ok(secretKeys.includes(ref.key), `${where} ${e.name}: deploy.sh does not create key ${ref.key}`);
      used.add(ref.key);
    }
    for (const v of podSpec(w).volumes ?? []) {
      if (!v.secret) continue;
      assert.equal(v.secret.secretName, secretName, `${w.name} volume ${v.name}`);
      for (const item of v.secret.items ?? []) {
        assert.ok(secretKeys.includes(item.key), `${w.name} volume ${v.name}: deploy.sh does not create key ${item.key}`);
        used.add(item.key);
      }
    }
  }
  for (const key of secretKeys) {
    assert.ok(used.has(key), `deploy.sh creates ${key}, which nothing uses`);
    assert.match(deployScript, new RegExp(`^\\s+${key}\\)`, 'm'), `deploy.sh generates a value for ${key}`);
  }
});

test('kustomization: resources and generator files exist, nothing in base/ is left out', () => {
  const listed = kustomization.resources as string[];
  for (const file of listed) assert.ok(existsSync(join(root, 'deploy/base', file)), `resource ${file} exists`);
  for (const file of new Set(baseDocs.map((d) => d.file.replace('deploy/base/', '')))) {
    assert.ok(listed.includes(file), `deploy/base/${file} is not in kustomization.yaml resources, so never deployed`);
  }
  for (const generator of kustomization.configMapGenerator ?? []) {
    const files = (generator.files as string[]).map((f) => resolve(root, 'deploy/base', f.split('=').pop()!));
    for (const file of files) assert.ok(existsSync(file), `${generator.name}: ${relative(root, file)} exists`);
    // A policy file added next to the others but not listed here would silently not be deployed.
    // Subfolders are not read by the policy-service (policies/peer holds the Rego of the OPA benchmark).
    for (const dir of new Set(files.map((f) => dirname(f)))) {
      for (const entry of readdirSync(dir, { withFileTypes: true }).filter((e) => e.isFile()))
        assert.ok(files.includes(join(dir, entry.name)), `${generator.name}: ${relative(root, join(dir, entry.name))} is not listed`);
    }
    if (files.some((f) => !f.startsWith(join(root, 'deploy/base')))) {
      assert.match(deployScript, /--load-restrictor LoadRestrictionsNone/, 'files outside deploy/base need the load restrictor off');
    }
    const mounted = workloads.some((w) => (podSpec(w).volumes ?? []).some((v: Obj) => v.configMap?.name === generator.name));
    assert.ok(mounted, `ConfigMap ${generator.name} is mounted somewhere`);
  }
});

test('HPAs and PDBs point at existing workloads', () => {
  for (const hpa of ofKind('HorizontalPodAutoscaler')) {
    const target = hpa.body.spec.scaleTargetRef;
    assert.ok(find(target.kind, target.name), `HPA/${hpa.name} targets ${target.kind}/${target.name}`);
  }
  for (const pdb of ofKind('PodDisruptionBudget')) {
    assert.ok(selectedBy(pdb.body.spec.selector.matchLabels).length > 0, `PDB/${pdb.name} selects some pods`);
  }
});

test('a canary Deployment has the stable pod spec, apart from its image and version label', () => {
  const canaries = ofKind('Deployment').filter((d) => d.name.endsWith('-canary'));
  assert.ok(canaries.length >= 2);
  for (const canary of canaries) {
    const stable = find('Deployment', canary.name.replace(/-canary$/, ''));
    assert.ok(stable, `${canary.name} has a stable Deployment`);
    const strip = (d: Doc): Obj => {
      const template = structuredClone(d.body.spec.template);
      delete template.metadata.labels.version;
      for (const c of template.spec.containers) delete c.image;
      return template;
    };
    assert.deepEqual(strip(canary), strip(stable), `${canary.name} drifted from ${stable.name}`);
    assert.notEqual(podLabels(canary).version, podLabels(stable).version);
  }
});

test('containers run hardened: non-root, read-only root, no privilege escalation, no capabilities', () => {
  for (const { w, c, where } of allContainers) {
    const pod = podSpec(w).securityContext ?? {};
    const own = c.securityContext ?? {};
    assert.equal(own.runAsNonRoot ?? pod.runAsNonRoot, true, `${where}: runAsNonRoot`);
    assert.equal((own.seccompProfile ?? pod.seccompProfile)?.type, 'RuntimeDefault', `${where}: seccomp`);
    assert.equal(own.readOnlyRootFilesystem, true, `${where}: readOnlyRootFilesystem`);
    assert.equal(own.allowPrivilegeEscalation, false, `${where}: allowPrivilegeEscalation`);
    assert.deepEqual(own.capabilities?.drop, ['ALL'], `${where}: drop ALL capabilities`);
    assert.ok(c.resources?.limits?.memory && c.resources?.requests?.cpu, `${where}: resources`);
  }
});

test("termination grace covers preStop plus http-kit's SIGTERM drain deadline", () => {
  const source = read('libs/http-kit/src/service.ts');
  const drainMs = /timeoutMs \?\? ([\d_]+)/.exec(source)?.[1];
  const hardStopMs = /timeoutMs \+ ([\d_]+)/.exec(source)?.[1];
  assert.ok(drainMs && hardStopMs, 'drain and hard-stop deadlines found in libs/http-kit/src/service.ts');
  const drainSec = (Number(drainMs.replaceAll('_', '')) + Number(hardStopMs.replaceAll('_', ''))) / 1000;
  for (const w of workloads.filter((o) => containersOf(o).some((c) => c.image.startsWith('ghcr.io/portcullis/')))) {
    const preStop = Math.max(0, ...containersOf(w).map((c) => c.lifecycle?.preStop?.sleep?.seconds ?? 0));
    const grace = podSpec(w).terminationGracePeriodSeconds ?? 30;
    assert.ok(grace >= preStop + drainSec, `${w.name}: grace ${grace}s < preStop ${preStop}s + drain ${drainSec}s`);
  }
});

test('Istio: hosts are Services of the namespace, subsets have pods, routes add up to 100', () => {
  for (const doc of istioDocs)
    assert.equal(doc.body.metadata.namespace, namespace, `${doc.file} ${doc.kind}/${doc.name}: deploy.sh retargets this namespace`);
  const serviceOf = (host: string): Doc => {
    const m = /^([a-z0-9-]+)\.([a-z0-9-]+)\.svc\.cluster\.local$/.exec(host);
    assert.ok(m && m[2] === namespace, `${host} is a Service FQDN in ${namespace}`);
    const svc = find('Service', m[1]!);
    assert.ok(svc, `${host}: Service ${m[1]} exists`);
    return svc;
  };
  const rules = ofKind('DestinationRule');
  for (const dr of rules) {
    const svc = serviceOf(dr.body.spec.host);
    for (const subset of dr.body.spec.subsets ?? []) {
      const pods = selectedBy({ ...svc.body.spec.selector, ...subset.labels });
      assert.ok(
        pods.length > 0,
        `DestinationRule/${dr.name} subset ${subset.name}: no Deployment has pods labelled ${JSON.stringify(subset.labels)}`,
      );
    }
  }
  for (const vs of ofKind('VirtualService')) {
    for (const host of vs.body.spec.hosts) serviceOf(host);
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

test('Istio: AuthorizationPolicies select pods and name service accounts that pods run as', () => {
  for (const policy of ofKind('AuthorizationPolicy')) {
    assert.ok(selectedBy(policy.body.spec.selector.matchLabels).length > 0, `AuthorizationPolicy/${policy.name} selects some pods`);
    for (const rule of policy.body.spec.rules) {
      for (const from of rule.from ?? []) {
        for (const principal of from.source.principals ?? []) {
          const m = /^cluster\.local\/ns\/([a-z0-9-]+)\/sa\/([a-z0-9-]+)$/.exec(principal);
          assert.ok(m && m[1] === namespace, `${principal} is a service account of ${namespace}`);
          assert.ok(find('ServiceAccount', m[2]!), `ServiceAccount ${m[2]} exists`);
          assert.ok(
            workloads.some((w) => podSpec(w).serviceAccountName === m[2]),
            `some pod runs as ${m[2]}`,
          );
        }
      }
    }
  }
});

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
    const policies = ofKind('AuthorizationPolicy').filter((p) => p.body.spec.selector?.matchLabels?.app === app);
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
