// deploy/checks: each check refuses a broken input (naming the object) and passes a good
// one; main.ts prints `<Kind>/<name>: <message>` lines and exits 1 on any problem.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import {
  checkAutoscalers,
  checkCanaryParity,
  checkProbes,
  checkSelectors,
  checkSubsets,
  checkWeights,
  format,
  parseManifests,
  selects,
  type Manifest,
} from '../checks/checks.ts';

const probe = { httpGet: { path: '/alive', port: 'http' } };
const container = (extra: Record<string, unknown> = {}) => ({
  name: 'app',
  image: 'ghcr.io/portcullis/app:1',
  readinessProbe: probe,
  livenessProbe: probe,
  startupProbe: probe,
  ...extra,
});
const deployment = (name: string, version: string, containerExtra: Record<string, unknown> = {}): Manifest => ({
  kind: 'Deployment',
  name,
  body: {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: {
      selector: { matchLabels: { app: 'app', version } },
      template: { metadata: { labels: { app: 'app', version } }, spec: { containers: [container(containerExtra)] } },
    },
  },
});
const virtualService = (weights: unknown[]): Manifest => ({
  kind: 'VirtualService',
  name: 'app',
  body: {
    kind: 'VirtualService',
    metadata: { name: 'app' },
    spec: {
      hosts: ['app'],
      http: [{ route: weights.map((weight, i) => ({ destination: { host: 'app', subset: `v${i + 1}` }, weight })) }],
    },
  },
});
const destinationRule = (subsets: string[]): Manifest => ({
  kind: 'DestinationRule',
  name: 'app',
  body: { kind: 'DestinationRule', metadata: { name: 'app' }, spec: { host: 'app', subsets: subsets.map((name) => ({ name })) } },
});
const hpa = (target: string, min: number, max: number): Manifest => ({
  kind: 'HorizontalPodAutoscaler',
  name: target,
  body: {
    kind: 'HorizontalPodAutoscaler',
    metadata: { name: target },
    spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: target }, minReplicas: min, maxReplicas: max },
  },
});
const lines = (problems: ReturnType<typeof checkProbes>): string[] => problems.map(format);

test('probes: every container needs readiness, liveness and startup probes', () => {
  assert.deepEqual(checkProbes([deployment('app', 'v1')]), []);
  const broken = deployment('app', 'v1', { startupProbe: undefined, livenessProbe: undefined });
  assert.deepEqual(lines(checkProbes([broken])), ['Deployment/app: container app has no livenessProbe, startupProbe']);
});

test('weights: integers from 0 to 100 summing to 100', () => {
  assert.deepEqual(checkWeights([virtualService([90, 10])]), []);
  assert.deepEqual(checkWeights([virtualService([100, 0])]), []);
  assert.deepEqual(lines(checkWeights([virtualService([80, 10])])), ['VirtualService/app: http[0]: weights 80/10 sum to 90, not 100']);
  assert.deepEqual(lines(checkWeights([virtualService(['90', 10])])), [
    'VirtualService/app: http[0]: weights must be integers from 0 to 100, got "90"',
  ]);
  assert.match(format(checkWeights([virtualService([90.5, 9.5])])[0]!), /^VirtualService\/app: .*90\.5, 9\.5$/);
  assert.equal(checkWeights([virtualService([undefined, 100])]).length, 1, 'a missing weight beside another');
  assert.deepEqual(checkWeights([virtualService([undefined])]), [], 'a single destination may omit its weight');
});

test('selectors: the selector selects the pod template', () => {
  assert.deepEqual(checkSelectors([deployment('app', 'v1')]), []);
  const broken = deployment('app', 'v1');
  (broken.body.spec as any).selector = { matchLabels: { app: 'other' } };
  assert.match(lines(checkSelectors([broken]))[0]!, /^Deployment\/app: spec\.selector .* does not match/);
  const empty = deployment('app', 'v1');
  (empty.body.spec as any).selector = {};
  assert.deepEqual(lines(checkSelectors([empty])), ['Deployment/app: spec.selector is empty']);
  assert.ok(selects({ matchExpressions: [{ key: 'version', operator: 'In', values: ['v1', 'v2'] }] }, { version: 'v2' }));
  assert.ok(!selects({ matchExpressions: [{ key: 'version', operator: 'NotIn', values: ['v2'] }] }, { version: 'v2' }));
  assert.ok(selects({ matchExpressions: [{ key: 'app', operator: 'Exists' }] }, { app: 'x' }));
  assert.ok(!selects({ matchExpressions: [{ key: 'app', operator: 'DoesNotExist' }] }, { app: 'x' }));
});

test('canary parity: only images and the version label may differ', () => {
  const stable = deployment('app', 'v1');
  assert.deepEqual(checkCanaryParity([stable, deployment('app-canary', 'v2', { image: 'ghcr.io/portcullis/app:2' })]), []);
  const drifted = deployment('app-canary', 'v2', { env: [{ name: 'X', value: '1' }] });
  assert.deepEqual(lines(checkCanaryParity([stable, drifted])), [
    'Deployment/app-canary: differs from app beyond images: spec.template.spec.containers',
  ]);
  assert.deepEqual(lines(checkCanaryParity([stable, deployment('app-canary', 'v1')])), [
    'Deployment/app-canary: has the same version label as app (v1)',
  ]);
  assert.deepEqual(lines(checkCanaryParity([deployment('app-canary', 'v2')])), ['Deployment/app-canary: no stable Deployment app']);
});

test('autoscalers: the target exists and min <= max', () => {
  assert.deepEqual(checkAutoscalers([deployment('app', 'v1'), hpa('app', 1, 3)]), []);
  assert.deepEqual(lines(checkAutoscalers([hpa('app', 1, 3)])), [
    'HorizontalPodAutoscaler/app: scaleTargetRef Deployment/app is not in the manifests',
  ]);
  assert.deepEqual(lines(checkAutoscalers([deployment('app', 'v1'), hpa('app', 4, 3)])), [
    'HorizontalPodAutoscaler/app: minReplicas 4 > maxReplicas 3',
  ]);
});

test('subsets: every routed subset is defined by the host’s DestinationRule', () => {
  assert.deepEqual(checkSubsets([virtualService([90, 10]), destinationRule(['v1', 'v2'])]), []);
  assert.deepEqual(lines(checkSubsets([virtualService([90, 10]), destinationRule(['v1'])])), [
    'VirtualService/app: subset v2 of app is not defined by DestinationRule/app',
  ]);
  assert.equal(checkSubsets([virtualService([100])]).length, 1);
});

test('parseManifests: multi-document text, List items, documents without a name', () => {
  const text = ['kind: A\nmetadata: { name: a }', '', 'kind: List\nitems: [{ kind: B, metadata: { name: b } }]', 'kind: C'].join('\n---\n');
  const { manifests, errors } = parseManifests(text);
  assert.deepEqual(
    manifests.map((m) => `${m.kind}/${m.name}`),
    ['A/a', 'B/b'],
  );
  assert.equal(errors.length, 1);
});

test('main.ts: exit 0 on good manifests, 1 with a line per problem on broken ones', () => {
  const main = join(dirname(fileURLToPath(import.meta.url)), '../checks/main.ts');
  const run = (docs: Manifest[]) =>
    spawnSync(process.execPath, [main, '-'], { input: docs.map((d) => YAML.stringify(d.body)).join('---\n'), encoding: 'utf8' });
  const good = run([deployment('app', 'v1'), deployment('app-canary', 'v2'), virtualService([90, 10]), destinationRule(['v1', 'v2'])]);
  assert.equal(good.status, 0, good.stdout + good.stderr);
  assert.equal(good.stdout, '');
  const bad = run([deployment('app', 'v1', { readinessProbe: undefined }), virtualService([80, 10]), destinationRule(['v1', 'v2'])]);
  assert.equal(bad.status, 1);
  assert.deepEqual(bad.stdout.trim().split('\n'), [
    'Deployment/app: container app has no readinessProbe',
    'VirtualService/app: http[0]: weights 80/10 sum to 90, not 100',
  ]);
});
