// The kustomizations and overlays: every file listed and used, each overlay built on base, the
// renderer of _manifests.ts cross-checked against `kubectl kustomize` where kubectl is
// installed, and the sizes, scaling, disruption budgets and spread a production deployment
// relies on (prod's numbers are the design's; dev runs one small pod of each).
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import YAML from 'yaml';
import {
  base,
  baseDocs,
  containersOf,
  deployScript,
  isObj,
  kustomization,
  matches,
  namespace,
  OVERLAYS,
  parseDocs,
  podLabels,
  podSpec,
  read,
  root,
  under,
  view,
  views,
  type Doc,
  type Obj,
} from './_manifests.ts';

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
    const mounted = base.workloads.some((w) => (podSpec(w).volumes ?? []).some((vol: Obj) => vol.configMap?.name === generator.name));
    assert.ok(mounted, `ConfigMap ${generator.name} is mounted somewhere`);
  }
});

test('overlays: dev and prod exist over base, and every file in an overlay is used', () => {
  for (const dir of ['deploy/overlays/dev', 'deploy/overlays/prod']) assert.ok(OVERLAYS.includes(dir), `${dir} exists`);
  for (const dir of OVERLAYS) {
    const k = YAML.parse(read(`${dir}/kustomization.yaml`)) as Obj;
    const used = new Set(['kustomization.yaml', ...(k.resources ?? []), ...(k.patches ?? []).map((p: Obj) => p.path).filter(Boolean)]);
    for (const name of readdirSync(join(root, dir)))
      assert.ok(used.has(name), `${dir}/${name} is not referenced by its kustomization.yaml`);
    // Every overlay builds on base, directly or through another overlay.
    const chain = (d: string): string[] => {
      const resources = (YAML.parse(read(`${d}/kustomization.yaml`)) as Obj).resources ?? [];
      return resources.map((r: string) => under(d, r)).filter((r: string) => existsSync(join(root, r, 'kustomization.yaml')));
    };
    const reaches = (d: string): boolean => d === 'deploy/base' || chain(d).some(reaches);
    assert.ok(reaches(dir), `${dir} builds on deploy/base`);
  }
});

test('istio/kustomization.yaml lists every file of istio/', () => {
  const k = YAML.parse(read('istio/kustomization.yaml')) as Obj;
  const files = readdirSync(join(root, 'istio')).filter((name) => name.endsWith('.yaml') && name !== 'kustomization.yaml');
  assert.deepEqual([...k.resources].sort(), files.sort(), 'istio/kustomization.yaml resources');
});

/** Objects as kubectl prints them, compared with this test's rendering: no namespace, generated names without their hash, named lists sorted. */
function normalize(body: Obj, generated: string[]): Obj {
  let text = JSON.stringify(body);
  for (const name of generated) text = text.replaceAll(new RegExp(`"${name}-[a-z0-9]{10}"`, 'g'), JSON.stringify(name));
  const sortNamed = (value: unknown): unknown => {
    if (Array.isArray(value)) {
      const items = value.map(sortNamed);
      return items.every((i) => isObj(i) && typeof i.name === 'string')
        ? [...items].sort((a: any, b: any) => a.name.localeCompare(b.name))
        : items;
    }
    return isObj(value) ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, sortNamed(v)])) : value;
  };
  const out = sortNamed(JSON.parse(text)) as Obj;
  delete out.metadata.namespace;
  return out;
}

test('kubectl kustomize renders what these tests check (where kubectl is installed)', (t) => {
  for (const v of views) {
    const run = spawnSync('kubectl', ['kustomize', '--load-restrictor', 'LoadRestrictionsNone', join(root, v.name)], {
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    if ((run.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
      t.diagnostic("kubectl is not installed: the overlays were checked with this test file's renderer only");
      return;
    }
    assert.equal(run.status, 0, `kubectl kustomize ${v.name}: ${run.stderr}`);
    const rendered = parseDocs(`kubectl kustomize ${v.name}`, run.stdout);
    const generated = v.ofKind('ConfigMap').map((d) => d.name);
    const id = (d: Doc): string => `${d.kind}/${d.name.replace(new RegExp(`^(${generated.join('|')})-[a-z0-9]{10}$`), '$1')}`;
    assert.deepEqual(rendered.map(id).sort(), v.docs.map(id).sort(), `${v.name}: the same objects`);
    for (const doc of rendered) {
      assert.equal(doc.body.metadata.namespace, namespace, `${v.name} ${id(doc)}: namespace`);
      if (doc.kind === 'ConfigMap') continue;
      const mine = v.docs.find((d) => id(d) === id(doc))!;
      assert.deepEqual(
        normalize(doc.body, generated),
        normalize(mine.body, generated),
        `${v.name} ${id(doc)}: kubectl renders it differently`,
      );
    }
  }
});

// ---------------------------------------------------------------------------------------
// Sizes, scaling and disruption.

/** What production runs (the design's numbers): pods of the stable version (its HPA's minimum) and every container's resources. */
const PROD: Record<string, { kind: string; replicas: number; resources: Obj }> = {
  'auth-service': {
    kind: 'Deployment',
    replicas: 5,
    resources: { requests: { cpu: '200m', memory: '384Mi' }, limits: { cpu: '1000m', memory: '768Mi' } },
  },
  'policy-service': {
    kind: 'Deployment',
    replicas: 3,
    resources: { requests: { cpu: '150m', memory: '256Mi' }, limits: { cpu: '750m', memory: '512Mi' } },
  },
  redis: {
    kind: 'StatefulSet',
    replicas: 1,
    resources: { requests: { cpu: '100m', memory: '256Mi' }, limits: { cpu: '500m', memory: '512Mi' } },
  },
};

test("prod: replicas and resources are the design's, for stable and canary alike", () => {
  for (const dir of ['deploy/overlays/prod', 'deploy/overlays/prod-redis-cluster']) {
    const v = view(dir);
    for (const [app, want] of Object.entries(PROD)) {
      if (app === 'redis' && !v.inClusterRedis) continue;
      const stable = v.find(want.kind, app);
      assert.ok(stable, `${dir}: ${want.kind}/${app}`);
      const replicas =
        want.kind === 'Deployment' ? v.find('HorizontalPodAutoscaler', app)?.body.spec.minReplicas : stable.body.spec.replicas;
      assert.equal(replicas ?? 1, want.replicas, `${dir}: ${app} replicas`);
      const versions = [stable, ...v.ofKind('Deployment').filter((d) => d.name === `${app}-canary`)];
      if (want.kind === 'Deployment') assert.equal(versions.length, 2, `${dir}: ${app} has a canary`);
      for (const w of versions)
        for (const c of containersOf(w)) assert.deepEqual(c.resources, want.resources, `${dir}: ${w.name} container ${c.name} resources`);
    }
    const hpa = (name: string): Obj => v.find('HorizontalPodAutoscaler', name)!.body.spec;
    assert.equal(hpa('auth-service').minReplicas, 5, `${dir}: HPA auth-service minReplicas`);
    assert.equal(hpa('policy-service').minReplicas, 3, `${dir}: HPA policy-service minReplicas`);
  }
});

test('dev: one pod of each, small requests', () => {
  const v = view('deploy/overlays/dev');
  const millicores = (cpu: string): number => (cpu.endsWith('m') ? Number(cpu.slice(0, -1)) : Number(cpu) * 1000);
  for (const w of v.workloads) {
    assert.equal(w.body.spec.replicas ?? 1, 1, `dev: ${w.name} replicas`);
    for (const c of containersOf(w)) {
      assert.ok(millicores(c.resources.requests.cpu) <= 100, `dev: ${w.name} requests ${c.resources.requests.cpu} CPU`);
      assert.ok(bytes(c.resources.requests.memory) <= 256 * 2 ** 20, `dev: ${w.name} requests ${c.resources.requests.memory}`);
    }
  }
  for (const hpa of v.ofKind('HorizontalPodAutoscaler')) assert.equal(hpa.body.spec.minReplicas, 1, `dev: HPA/${hpa.name} minReplicas`);
});

/** Kubernetes quantities (512Mi, 1Gi) and Redis's (768mb, 1gb: binary units too) in bytes. */
function bytes(quantity: string): number {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|kb|mb|gb|k|M|G)?$/.exec(quantity);
  assert.ok(m, `${quantity} is a memory quantity`);
  const unit = { Ki: 2 ** 10, kb: 2 ** 10, Mi: 2 ** 20, mb: 2 ** 20, Gi: 2 ** 30, gb: 2 ** 30, k: 1e3, M: 1e6, G: 1e9 }[m[2] ?? ''] ?? 1;
  return Number(m[1]) * unit;
}

for (const v of views) {
  test(`${v.name}: a Deployment with an HPA sets no replicas, so an apply does not undo what the HPA scaled to`, () => {
    for (const hpa of v.ofKind('HorizontalPodAutoscaler')) {
      const target = v.find(hpa.body.spec.scaleTargetRef.kind, hpa.body.spec.scaleTargetRef.name);
      assert.ok(target, `HPA/${hpa.name}: its target exists`);
      assert.equal(target.body.spec.replicas, undefined, `${target.kind}/${target.name}: replicas are its HPA's`);
    }
  });

  test(`${v.name}: each Deployment has its own CPU HPA; the canary's starts at 1 and may grow as far as the stable one`, () => {
    const hpas = v.ofKind('HorizontalPodAutoscaler');
    for (const d of v.ofKind('Deployment')) {
      const own = hpas.filter((h) => h.body.spec.scaleTargetRef.kind === 'Deployment' && h.body.spec.scaleTargetRef.name === d.name);
      assert.equal(own.length, 1, `${d.name}: one HPA`);
      const hpa = own[0]!;
      // deploy.sh promote patches HorizontalPodAutoscaler/<app>-canary by that name.
      assert.equal(hpa.name, d.name, `the HPA of ${d.name} is named after it`);
      const { minReplicas, maxReplicas, metrics } = hpa.body.spec;
      assert.ok(
        metrics.some((m: Obj) => m.type === 'Resource' && m.resource.name === 'cpu'),
        `HPA/${hpa.name} scales on CPU`,
      );
      assert.ok(minReplicas >= 1 && minReplicas <= maxReplicas, `HPA/${hpa.name}: 1 <= min <= max`);
      if (d.name.endsWith('-canary')) {
        assert.equal(minReplicas, 1, `HPA/${hpa.name}: the canary starts with one pod`);
        const stable = v.find('HorizontalPodAutoscaler', d.name.replace(/-canary$/, ''));
        assert.ok(stable, `${d.name}: the stable version has an HPA`);
        assert.equal(
          maxReplicas,
          stable.body.spec.maxReplicas,
          `HPA/${hpa.name}: maxReplicas is the stable one's (at 100% it carries everything)`,
        );
      }
    }
  });

  test(`${v.name}: one PodDisruptionBudget per version, selecting app and version, never blocking a drain`, () => {
    const pdbs = v.ofKind('PodDisruptionBudget');
    for (const d of v.ofKind('Deployment')) {
      const selector = d.body.spec.selector.matchLabels;
      assert.ok(selector.app && selector.version, `${d.name}: selects by app and version`);
      const own = pdbs.filter((p) => matches(p.body.spec.selector.matchLabels, podLabels(d)));
      assert.equal(own.length, 1, `${d.name}: one PDB selects its pods (the eviction API refuses pods with two)`);
      const pdb = own[0]!;
      assert.equal(pdb.name, d.name, `the PDB of ${d.name} is named after it`);
      assert.deepEqual(pdb.body.spec.selector.matchLabels, selector, `PDB/${pdb.name} selects app and version`);
      const { maxUnavailable, minAvailable } = pdb.body.spec;
      assert.ok(
        maxUnavailable === 1 ||
          (minAvailable !== undefined && minAvailable < (v.find('HorizontalPodAutoscaler', d.name)?.body.spec.minReplicas ?? 1)),
        `PDB/${pdb.name} lets a drain evict a pod`,
      );
    }
    for (const pdb of pdbs)
      assert.equal(v.selectedBy(pdb.body.spec.selector.matchLabels).length, 1, `PDB/${pdb.name} selects one workload`);
  });

  test(`${v.name}: the services spread over zones and nodes and have a startup probe`, () => {
    const deployments = v.ofKind('Deployment');
    assert.equal(deployments.length, 4, 'stable and canary of both services');
    for (const d of deployments) {
      const constraints = (podSpec(d).topologySpreadConstraints ?? []) as Obj[];
      const zone = constraints.find((c) => c.topologyKey === 'topology.kubernetes.io/zone');
      const host = constraints.find((c) => c.topologyKey === 'kubernetes.io/hostname');
      assert.ok(zone && host, `${d.name}: spread over zones and nodes`);
      // A cluster in one zone (or with fewer nodes than pods) must still schedule them.
      assert.equal(zone.whenUnsatisfiable, 'ScheduleAnyway', `${d.name}: zone spread is a preference`);
      for (const c of constraints)
        assert.ok(matches(c.labelSelector.matchLabels, podLabels(d)), `${d.name}: ${c.topologyKey} counts its own pods`);
      for (const c of containersOf(d)) assert.equal(c.startupProbe?.httpGet?.path, '/alive', `${d.name} container ${c.name}: startupProbe`);
    }
  });

  test(`${v.name}: Redis's maxmemory stays below its container's memory limit`, () => {
    for (const { c, where } of v.allContainers.filter(({ c }) => String(c.image).startsWith('redis:'))) {
      const args = (c.args ?? []) as string[];
      let value = args[args.indexOf('--maxmemory') + 1];
      assert.ok(args.includes('--maxmemory') && value, `${where}: --maxmemory is set`);
      value = value.replace(/^\$\(([A-Z0-9_]+)\)$/, (_, name: string) => c.env.find((e: Obj) => e.name === name)?.value);
      const ratio = bytes(value) / bytes(c.resources.limits.memory);
      // The AOF rewrite forks: copy-on-write pages and buffers need the rest.
      assert.ok(ratio <= 0.8, `${where}: maxmemory ${value} is ${Math.round(ratio * 100)}% of the ${c.resources.limits.memory} limit`);
    }
  });
}
