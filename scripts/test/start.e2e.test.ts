// `npm start` as a user runs it (scripts/start.mjs: a private redis-server, both services,
// the auth-service a worker per core), then the README walk-through's main path over
// HTTP, then Ctrl-C. Its data goes to a temporary PORTCULLIS_DATA_DIR, so a suite already
// running from this checkout keeps its .data/.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort, startProcess, type ProcessHandle } from '@portcullis/testing';

const START = fileURLToPath(new URL('../start.mjs', import.meta.url));
const EDIT_DOC = { action: 'edit', resource: { type: 'Document', id: 'doc-3' } };
const DELETE_PHOTO = { action: 'delete', resource: { type: 'Photo', id: 'photo-3.jpg' } };

/** Whether anything accepts connections on `port`. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

describe('npm start (scripts/start.mjs)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-start-'));
  let suite: ProcessHandle;
  let auth: string;
  let policy: string;
  let redisPort: number;
  const workers = 2;
  before(async () => {
    const [authPort, policyPort] = [await freePort(), await freePort()];
    auth = `http://127.0.0.1:${authPort}`;
    policy = `http://127.0.0.1:${policyPort}`;
    suite = await startProcess({
      command: process.execPath,
      args: [START],
      env: {
        AUTH_PORT: String(authPort),
        POLICY_PORT: String(policyPort),
        PORTCULLIS_DATA_DIR: dataDir,
        AUTH_WORKERS: String(workers),
        REDIS_URL: undefined,
        LOG_LEVEL: 'info',
      },
      readyWhen: /Portcullis is up\./,
      readyTimeoutMs: 120_000,
    });
    redisPort = Number(/redis\s+redis:\/\/127\.0\.0\.1:(\d+)/.exec(suite.output())?.[1]);
  });
  after(async () => {
    if (suite?.child.exitCode === null) await suite.stop('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('the walk-through’s main path: token, allow, deny, policy update, revoke; then Ctrl-C stops everything', async () => {
    // The banner names where the credentials really are (PORTCULLIS_DATA_DIR here, not .data/).
    const escaped = (path: string) => path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    await suite.waitForLine(new RegExp(`admin token .*\\(also in ${escaped(join(dataDir, 'admin-token'))}\\)`));
    await suite.waitForLine(new RegExp(`dev client .*\\(also in ${escaped(join(dataDir, 'dev-client.json'))}\\)`));
    const client = JSON.parse(readFileSync(join(dataDir, 'dev-client.json'), 'utf8')) as { client_id: string; client_secret: string };
    const adminToken = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
    const basic = `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}`;
    const form = (fields: Record<string, string>): RequestInit => ({
      method: 'POST',
      headers: { authorization: basic },
      body: new URLSearchParams(fields),
    });
    const issued = await fetch(`${auth}/token`, form({ grant_type: 'client_credentials' }));
    assert.equal(issued.status, 200);
    const token = ((await issued.json()) as { access_token: string }).access_token;
    const ask = async (body: unknown): Promise<{ status: number; body: Record<string, any> }> => {
      const res = await fetch(`${auth}/authenticate`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as Record<string, any> };
    };

    const allowed = await ask(EDIT_DOC);
    assert.equal(allowed.status, 200);
    assert.equal(allowed.body.allowed, true);
    assert.deepEqual(allowed.body.reasons, ['editor-documents']);
    assert.equal((await ask(DELETE_PHOTO)).body.allowed, false);

    const admin = { authorization: `Bearer ${adminToken}` };
    const before = (await (await fetch(`${policy}/policies`, { headers: admin })).json()) as { schema: string; entityCount: number };
    // As the walk-through sends it: the policies alone; the schema and entities stay.
    const put = await fetch(`${policy}/policies`, {
      method: 'PUT',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({ policies: '@id("view-only") permit(principal, action == Action::"view", resource);' }),
    });
    assert.equal(put.status, 200);
    const { version, schema, entityCount } = (await put.json()) as { version: string; schema: string; entityCount: number };
    assert.deepEqual([schema, entityCount], [before.schema, before.entityCount]);
    assert.ok(before.entityCount > 0);
    await suite.waitForLine(new RegExp(`"version":"${version}".*policy version changed`), 30_000, { count: workers });
    const after = await ask(EDIT_DOC);
    assert.equal(after.body.allowed, false);
    assert.equal(after.body.policyVersion, version);

    assert.equal((await fetch(`${auth}/revoke`, form({ token }))).status, 200);
    await suite.waitForLine(/token revoked/, 30_000, { count: workers });
    assert.equal((await ask(EDIT_DOC)).body.error?.code, 'E_TOKEN_REVOKED');
    assert.deepEqual(await (await fetch(`${auth}/introspect`, form({ token }))).json(), { active: false });

    const ports = [Number(new URL(auth).port), Number(new URL(policy).port), redisPort];
    for (const port of ports) assert.equal(await listening(port), true, `something listens on ${port}`);
    assert.equal(await suite.stop('SIGINT'), 0);
    for (const port of ports) assert.equal(await listening(port), false, `port ${port} is free again`);
  });
});
