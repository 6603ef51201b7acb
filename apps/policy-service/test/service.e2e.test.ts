import assert from 'node:assert/strict';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { freePort, h2Connect, h2Request, startProcess, type ProcessHandle } from '@portcullis/testing';
import { readPolicyDir } from '../src/engine/loader.ts';

const SAMPLE = fileURLToPath(new URL('../policies', import.meta.url));
const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const ADMIN = 'test-admin-token-0123456789';
const req = (user: string, action: string, resource: [string, string], context: Record<string, unknown> = {}) => ({
  principal: { type: 'User', id: user },
  action: { type: 'Action', id: action },
  resource: { type: resource[0], id: resource[1] },
  context,
});

describe('policy-service as a real process', () => {
  let service: ProcessHandle;
  let dir: string;
  let base: string;
  let port: number;
  const post = async (path: string, body: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${base}${path}`, {
      method: 'POST',
      body: typeof body === 'string' ? body : JSON.stringify(body),
      headers: { 'content-type': 'application/json', ...headers },
    });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };
  const put = async (body: unknown, token = ADMIN) => {
    const res = await fetch(`${base}/policies`, {
      method: 'PUT',
      body: JSON.stringify(body),
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };
  const version = async () =>
    ((await (await fetch(`${base}/policies`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as { version: string }).version;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'policies-'));
    await cp(SAMPLE, dir, { recursive: true });
    port = await freePort();
    base = `http://127.0.0.1:${port}`;
    service = await startProcess({
      command: process.execPath,
      args: [MAIN],
      env: { POLICY_PORT: String(port), POLICY_DIR: dir, POLICY_ADMIN_TOKEN: ADMIN, POLICY_MAX_BATCH: '5', POLICY_MAX_BODY_BYTES: '65536' },
      readyWhen: /policy-service ready on/,
    });
  });
  after(async () => {
    await service.stop('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  test('decisions over HTTP/1.1: allow with its reason, deny by default, forbid wins', async () => {
    const allow = await post('/evaluate', req('alice', 'edit', ['Document', 'doc-3']));
    assert.equal(allow.status, 200);
    assert.equal(allow.body.decision, 'allow');
    assert.deepEqual(allow.body.reasons, ['editor-documents']);
    assert.match(allow.body.policyVersion, /^[0-9a-f]{16}$/);
    const deny = await post('/evaluate', req('bob', 'edit', ['Document', 'doc-3']));
    assert.equal(deny.body.decision, 'deny');
    const risky = await post('/evaluate', req('alice', 'edit', ['Document', 'doc-3'], { riskScore: 99 }));
    assert.equal(risky.body.decision, 'deny');
    assert.deepEqual(risky.body.reasons, ['deny-high-risk']);
  });

  test('a batch over h2c answers in order with per-item errors', async () => {
    const session = h2Connect(port);
    try {
      const body = JSON.stringify({
        requests: [
          req('alice', 'edit', ['Document', 'doc-3']),
          { principal: 'not-an-object' },
          req('bob', 'view', ['Nope', 'x']),
          req('bob', 'view', ['Document', 'doc-4']),
        ],
      });
      const res = await h2Request(session, 'POST', '/evaluate/batch', body, { 'content-type': 'application/json' });
      assert.equal(res.status, 200);
      const { results } = JSON.parse(res.body) as { results: Record<string, any>[] };
      assert.equal(results.length, 4);
      assert.equal(results[0]?.decision, 'allow');
      assert.equal(results[1]?.error.code, 'E_VALIDATION');
      assert.equal(results[2]?.error.code, 'E_REQUEST_REJECTED');
      assert.match(results[2]?.error.message, /not declared in the schema/);
      assert.equal(results[3]?.decision, 'allow');
    } finally {
      session.close();
    }
  });

  test('bad input: each gets a 4xx with a stable code, never a 500', async () => {
    const cases: [unknown, string, number, string][] = [
      ['{"principal":', '/evaluate', 400, 'E_MALFORMED_JSON'],
      [{ principal: { type: 'User' } }, '/evaluate', 400, 'E_VALIDATION'],
      [req('bob', 'view', ['Spaceship', 'x']), '/evaluate', 400, 'E_REQUEST_REJECTED'],
      [req('bob', 'view', ['Document', 'doc-1'], { riskScore: 'high' }), '/evaluate', 400, 'E_REQUEST_REJECTED'],
      [req('bob', 'view', ['Document', 'doc-1'], { sourceIp: '999.1.1.1' }), '/evaluate', 400, 'E_REQUEST_REJECTED'],
      [{ ...req('bob', 'view', ['Document', 'doc-1']), context: { pad: 'x'.repeat(70_000) } }, '/evaluate', 413, 'E_PAYLOAD_TOO_LARGE'],
      [
        { requests: Array.from({ length: 6 }, () => req('bob', 'view', ['Document', 'doc-1'])) },
        '/evaluate/batch',
        413,
        'E_BATCH_TOO_LARGE',
      ],
      [{ requests: [] }, '/evaluate/batch', 400, 'E_VALIDATION'],
      [{ requests: 'all of them' }, '/evaluate/batch', 400, 'E_VALIDATION'],
    ];
    for (const [body, path, status, code] of cases) {
      const res = await post(path, body);
      assert.equal(res.status, status, `${path} ${JSON.stringify(body).slice(0, 80)}`);
      assert.equal(res.body.error.code, code);
    }
  });

  test('PUT /policies: refused without the admin token; invalid sets leave the old one live', async () => {
    const before = await version();
    assert.equal((await put({ policies: 'permit(principal, action, resource);' }, 'wrong-token')).status, 401);
    const unauthenticated = await fetch(`${base}/policies`, { method: 'PUT', body: '{}', headers: { 'content-type': 'application/json' } });
    assert.equal(unauthenticated.status, 401);
    assert.equal((await fetch(`${base}/policies`)).status, 401, 'reading the policies needs the admin token too');
    assert.equal((await fetch(`${base}/policies`, { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status, 401);
    const syntax = await put({ policies: 'permit(principal, action resource);' });
    assert.equal(syntax.status, 422);
    assert.equal(syntax.body.error.code, 'E_POLICY_INVALID');
    assert.equal(syntax.body.error.details.stage, 'policies');
    const current = (await (await fetch(`${base}/policies`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as {
      schema: string;
      policies: string;
    };
    const typeError = await put({ policies: 'permit(principal, action, resource) when { resource.owner == 3 };', schema: current.schema });
    assert.equal(typeError.status, 422);
    assert.equal(typeError.body.error.details.stage, 'validation');
    assert.equal(await version(), before);
    assert.equal((await post('/evaluate', req('alice', 'edit', ['Document', 'doc-3']))).body.decision, 'allow');
  });

  test('PUT /policies swaps atomically: a new version, and no decision of the old one is served', async () => {
    const current = (await (await fetch(`${base}/policies`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as {
      version: string;
      schema: string;
    };
    const first = await post('/evaluate', req('bob', 'view', ['Document', 'doc-4']));
    assert.equal(first.body.decision, 'allow');
    const swapped = await put({ policies: '@id("nobody") forbid(principal, action, resource);', schema: current.schema });
    assert.equal(swapped.status, 200);
    assert.notEqual(swapped.body.version, current.version);
    assert.deepEqual(swapped.body.policyIds, ['nobody']);
    const after = await post('/evaluate', req('bob', 'view', ['Document', 'doc-4']));
    assert.equal(after.body.decision, 'deny');
    assert.equal(after.body.policyVersion, swapped.body.version);
  });

  test('PUT /policies: a schema or entities left out stay as live; null and [] remove them', async () => {
    const sample = await readPolicyDir(dir);
    // The swap above sent policies and schema only: the entities loaded from the files stayed.
    const live = (await (await fetch(`${base}/policies`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as {
      schema: string;
      entityCount: number;
    };
    assert.deepEqual([live.schema, live.entityCount], [sample.schema, sample.entities?.length]);
    const kept = await put({ policies: sample.policies });
    assert.equal(kept.status, 200);
    assert.deepEqual([kept.body.schema, kept.body.entityCount], [sample.schema, sample.entities?.length]);
    // Still checked against the schema, and still deciding on the loaded entities.
    const illTyped = await post('/evaluate', req('bob', 'view', ['Document', 'doc-1'], { riskScore: 'high' }));
    assert.equal(illTyped.body.error.code, 'E_REQUEST_REJECTED');
    assert.equal((await post('/evaluate', req('alice', 'edit', ['Document', 'doc-3']))).body.decision, 'allow');

    const bare = await put({ policies: sample.policies, schema: null, entities: [] });
    assert.equal(bare.status, 200);
    assert.deepEqual([bare.body.schema, bare.body.entityCount], [null, 0]);
    const withoutEntities = await post('/evaluate', req('alice', 'edit', ['Document', 'doc-3']));
    assert.equal(withoutEntities.body.decision, 'deny', 'alice is an editor by the entities');

    const restored = await put(sample);
    assert.deepEqual([restored.body.schema, restored.body.entityCount], [sample.schema, sample.entities?.length]);
  });

  test('files changed on disk are reloaded; a broken file keeps the live set', async () => {
    await writeFile(
      join(dir, '20-extra.cedar'),
      '@id("dave-views-doc-1") permit(principal == User::"dave", action == Action::"view", resource == Document::"doc-1");',
    );
    await service.waitForLine(/"reason":"file change".*"msg":"policies loaded"|"msg":"policies loaded".*"reason":"file change"/);
    const body = (await (await fetch(`${base}/policies`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as {
      policyIds: string[];
      version: string;
    };
    assert.ok(body.policyIds.includes('dave-views-doc-1'));
    await writeFile(join(dir, '30-broken.cedar'), 'permit(principal,');
    await service.waitForLine(/could not load policies/);
    assert.equal(await version(), body.version);
  });

  test('probes, metrics and the OpenAPI document', async () => {
    assert.equal((await fetch(`${base}/ready`)).status, 200);
    assert.equal((await fetch(`${base}/alive`)).status, 200);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /portcullis_policy_evaluations_total\{decision="allow"\} [1-9]/);
    assert.match(metrics, /portcullis_policy_version_info\{version="[0-9a-f]{16}"\} 1/);
    const doc = (await (await fetch(`${base}/openapi.json`)).json()) as { openapi: string; paths: Record<string, unknown> };
    assert.equal(doc.openapi, '3.1.0');
    for (const path of ['/evaluate', '/evaluate/batch', '/policies', '/health', '/ready']) assert.ok(path in doc.paths, path);
  });
});

test('a bad configuration value stops the process with a message naming the variable', async () => {
  await assert.rejects(
    startProcess({ command: process.execPath, args: [MAIN], env: { POLICY_PORT: 'eighty' }, readyWhen: /listening/ }),
    /POLICY_PORT/,
  );
});

test('SIGTERM drains and exits 0', async () => {
  const port = await freePort();
  const service = await startProcess({
    command: process.execPath,
    args: [MAIN],
    env: { POLICY_PORT: String(port), POLICY_WATCH: 'false' },
    readyWhen: /policy-service ready on/,
  });
  assert.equal(await service.stop('SIGTERM'), 0);
  assert.match(service.output(), /drained; bye/);
});
