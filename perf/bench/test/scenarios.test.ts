import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadDefinition } from '../src/suite/scenarios.ts';
import { targetsFor } from '../src/suite/targets.ts';

const endpoints = { authUrl: 'http://a', policyUrl: 'http://p', token: 't', client: { id: 'c', secret: 's' } };

test('perf/scenarios.json is well-formed and every scenario builds requests', () => {
  const definition = loadDefinition();
  assert.ok(definition.scenarios.length >= 9);
  for (const scenario of definition.scenarios) {
    const targets = targetsFor(scenario, endpoints, 50, 0);
    assert.ok(targets.length > 0, scenario.name);
    for (const target of targets) {
      assert.equal(target.method, 'POST');
      if (target.headers?.['content-type'] === 'application/json') JSON.parse(target.body ?? '');
    }
  }
  const batch = definition.scenarios.find((s) => s.name === 'evaluate-batch-50');
  assert.ok(batch);
  assert.equal((JSON.parse(targetsFor(batch, endpoints, 1, 0)[0]?.body ?? '{}') as { requests: unknown[] }).requests.length, 50);
});

test('cold bodies are all different; the mix is mostly views of a few hot resources', () => {
  const definition = loadDefinition();
  const cold = definition.scenarios.find((s) => s.request === 'authenticate-cold')!;
  const bodies = targetsFor(cold, endpoints, 500, 7).map((t) => t.body);
  assert.equal(new Set(bodies).size, 500);
  const mix = definition.scenarios.find((s) => s.request === 'authenticate-mix')!;
  const requests = targetsFor(mix, endpoints, 2000, 0).map(
    (t) => JSON.parse(t.body ?? '{}') as { action: string; resource: { id: string } },
  );
  const views = requests.filter((r) => r.action === 'view').length / requests.length;
  assert.ok(views > 0.85 && views < 0.95, `views: ${views}`);
  const top = requests.filter((r) => r.resource.id === 'doc-1').length / requests.length;
  assert.ok(top > 0.15, `the hottest resource's share: ${top}`);
});

test('a malformed definition is refused naming the scenario and the field', () => {
  const dir = mkdtempSync(join(tmpdir(), 'scenarios-'));
  const write = (definition: unknown): string => {
    const file = join(dir, 'scenarios.json');
    writeFileSync(file, JSON.stringify(definition));
    return file;
  };
  const smoke = { seconds: 1, rate: 1, workers: 1 };
  const good = { name: 'x', description: '', request: 'token', executor: 'constant-arrival-rate', rate: 1, seconds: 1, thresholds: {} };
  assert.throws(() => loadDefinition(write({ smoke, scenarios: [{ ...good, request: 'nope' }] })), /scenario "x": request/);
  assert.throws(() => loadDefinition(write({ smoke, scenarios: [{ ...good, executor: 'constant-vus' }] })), /needs executor/);
  assert.throws(() => loadDefinition(write({ smoke, scenarios: [good, good] })), /unique/);
  assert.throws(() => loadDefinition(write({ smoke, scenarios: [{ ...good, thresholds: { p99: 1 } }] })), /bad threshold p99/);
  assert.throws(() => loadDefinition(write({ smoke, scenarios: [{ ...good, request: 'evaluate-batch' }] })), /items/);
  assert.throws(() => loadDefinition(write({ smoke: {}, scenarios: [good] })), /smoke/);
});
