// POST /policies/impact and PUT /policies with expectedImpact (issue 15, second half),
// end to end: real decisions through a real auth-service, recorded by the policy-service's
// audit consumer from the real bus, then replayed against candidate sets.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { ERROR_CODES } from '@portcullis/contracts';
import { freePort, startProcess, startRedisServer, type ProcessHandle, type RedisServerHandle } from '@portcullis/testing';
import { readPolicyDir } from '../src/engine/loader.ts';
import type { ImpactReport } from '../src/impact/schema.ts';
import { startAuthPeer } from './auth-peer.ts';
import { policyDir, runCli, SAMPLE_DIR } from './cli/cli.ts';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const ADMIN = 'test-admin-token-0123456789';
const CLIENT = { client_id: 'impact-editor', client_secret: 'impact-editor-secret-0123456789', roles: ['editor'] };
/** A forbid that flips every edit the editor was allowed. */
const FREEZE = '\n@id("freeze-edits")\nforbid (principal, action == Action::"edit", resource);\n';

/** What the editor asks, and what the sample policies answer. */
const ASKED = [
  { action: 'edit', resource: { type: 'Document', id: 'doc-3' }, expect: 'allow' },
  { action: 'view', resource: { type: 'Document', id: 'doc-3' }, expect: 'allow' },
  { action: 'edit', resource: { type: 'Document', id: 'doc-4' }, expect: 'allow' },
  { action: 'delete', resource: { type: 'Photo', id: 'photo-3.jpg' }, expect: 'deny' },
  // Denied only by its context (deny-high-risk): a replay without the context would not see it.
  { action: 'edit', resource: { type: 'Document', id: 'doc-3' }, context: { riskScore: 95 }, expect: 'deny' },
] as const;

describe('policy impact (real auth-service, bus, audit consumer and policy-service)', () => {
  let dir: string;
  let redis: RedisServerHandle;
  let policy: ProcessHandle;
  let auth: ProcessHandle;
  let base: string;
  let sample: Awaited<ReturnType<typeof readPolicyDir>>;
  const admin = { authorization: `Bearer ${ADMIN}` };
  const post = (path: string, body: unknown, headers: Record<string, string> = admin, method = 'POST') =>
    fetch(`${base}${path}`, { method, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const impact = async (body: unknown): Promise<ImpactReport> => {
    const res = await post('/policies/impact', body);
    assert.equal(res.status, 200, await res.clone().text());
    return (await res.json()) as ImpactReport;
  };
  const liveVersion = async () => ((await (await fetch(`${base}/policies`, { headers: admin })).json()) as { version: string }).version;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'impact-e2e-'));
    redis = await startRedisServer();
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    policy = await startProcess({
      command: process.execPath,
      args: [MAIN],
      env: { POLICY_PORT: String(port), POLICY_ADMIN_TOKEN: ADMIN, REDIS_URL: redis.url, POLICY_WATCH: 'false', LOG_LEVEL: 'info' },
      readyWhen: /policy-service ready on/,
    });
    const peer = await startAuthPeer({ dir, policyUrl: base, redisUrl: redis.url, client: CLIENT });
    auth = peer.process;
    for (const asked of ASKED) {
      const res = await fetch(`${peer.url}/authenticate`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${peer.token}` },
        body: JSON.stringify({ action: asked.action, resource: asked.resource, ...('context' in asked ? { context: asked.context } : {}) }),
      });
      const answer = (await res.json()) as { decision: string; requestId: string };
      assert.equal(answer.decision, asked.expect, JSON.stringify(answer));
      // The audit consumer logs each decision once it is in the recent stream: wait for that line.
      await policy.waitForLine(new RegExp(`"requestId":"${answer.requestId}".*auth decision`));
    }
    sample = await readPolicyDir(SAMPLE_DIR);
  });
  after(async () => {
    await auth?.stop('SIGKILL');
    await policy?.stop('SIGKILL');
    await redis?.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('a candidate adding a forbid flips exactly the allowed edits, grouped, with examples; nothing goes live', async () => {
    const live = await liveVersion();
    const report = await impact({ ...sample, policies: sample.policies + FREEZE });
    assert.equal(report.liveVersion, live);
    assert.notEqual(report.candidateVersion, live);
    assert.deepEqual(
      { covered: report.covered, allowToDeny: report.allowToDeny, denyToAllow: report.denyToAllow, unchanged: report.unchanged },
      { covered: ASKED.length, allowToDeny: 2, denyToAllow: 0, unchanged: 3 },
    );
    assert.equal(report.complete, true);
    assert.equal(report.skipped + report.rejected, 0);
    assert.deepEqual(
      report.byTarget.map(({ action, resourceType, allowToDeny, denyToAllow }) => ({ action, resourceType, allowToDeny, denyToAllow })),
      [{ action: 'edit', resourceType: 'Document', allowToDeny: 2, denyToAllow: 0 }],
    );
    assert.deepEqual(
      report.byPolicy.map(({ policy, allowToDeny }) => ({ policy, allowToDeny })),
      [{ policy: 'freeze-edits', allowToDeny: 2 }],
    );
    const examples = report.byTarget[0]!.examples;
    assert.deepEqual(examples.map((e) => e.resource).sort(), ['Document::doc-3', 'Document::doc-4']);
    for (const example of examples) {
      assert.deepEqual(
        { ...example, resource: '', requestId: '', at: '' },
        {
          principal: CLIENT.client_id,
          action: 'edit',
          resource: '',
          before: 'allow',
          after: 'deny',
          reasons: ['freeze-edits'],
          requestId: '',
          at: '',
        },
      );
    }
    assert.equal(await liveVersion(), live);
  });

  test('the unchanged set flips nothing', async () => {
    const report = await impact(sample);
    assert.deepEqual([report.covered, report.allowToDeny, report.denyToAllow, report.unchanged], [ASKED.length, 0, 0, ASKED.length]);
    assert.deepEqual([report.byTarget, report.byPolicy], [[], []]);
  });

  test('the recorded context is replayed: raising the risk threshold flips the high-risk denial to allow', async () => {
    const report = await impact({ ...sample, policies: sample.policies.replace('context.riskScore > 80', 'context.riskScore > 99') });
    assert.deepEqual([report.allowToDeny, report.denyToAllow], [0, 1]);
    assert.deepEqual(
      report.byPolicy.map((g) => g.policy),
      ['editor-documents'],
    );
  });

  test('the window is bounded by last', async () => {
    const report = await impact({ ...sample, last: 2 });
    assert.deepEqual([report.covered, report.window.last], [2, 2]);
  });

  test('an invalid candidate is the 422 E_POLICY_INVALID of PUT /policies; a bad window a 400', async () => {
    const res = await post('/policies/impact', { policies: 'permit(principal, action, resource' });
    assert.equal(res.status, 422);
    assert.equal(((await res.json()) as any).error.code, ERROR_CODES.policyInvalid);
    const window = await post('/policies/impact', { ...sample, last: 100_001 });
    assert.equal(window.status, 400);
    assert.equal(((await window.json()) as any).error.code, ERROR_CODES.validation);
  });

  test('a missing or wrong admin token is 401', async () => {
    for (const headers of [{}, { authorization: 'Bearer not-the-admin-token-000' }] as Record<string, string>[]) {
      const res = await post('/policies/impact', sample, headers);
      assert.equal(res.status, 401);
      assert.equal(((await res.json()) as any).error.code, ERROR_CODES.unauthorized);
    }
  });

  test('npm run policy -- impact --fail-on-flip: exit 1 and a table for a flipping set, 0 for the unchanged one', async () => {
    const { dir: candidate, cleanup } = await policyDir({
      'policies.cedar': sample.policies + FREEZE,
      'schema.cedarschema': sample.schema ?? '',
      'entities.json': JSON.stringify(sample.entities),
    });
    try {
      const flips = await runCli(['impact', candidate, '--url', base, '--token', ADMIN, '--fail-on-flip']);
      assert.equal(flips.code, 1, flips.stdout + flips.stderr);
      assert.match(flips.stdout, /allow→deny\s+deny→allow\s+unchanged/);
      assert.match(flips.stdout, /^edit\s+Document\s+2\s+0$/m);
      assert.match(flips.stdout, /^freeze-edits\s+2\s+0$/m);
      assert.match(flips.stdout, /allow→deny {2}impact-editor edit Document::doc-3 {2}by \[freeze-edits\]/);
      const withToken = await runCli(['impact', SAMPLE_DIR, '--url', base, '--token', ADMIN, '--fail-on-flip']);
      assert.equal(withToken.code, 0, withToken.stdout + withToken.stderr);
      assert.match(withToken.stdout, new RegExp(`${ASKED.length} decisions replayed`));
      const wrong = await runCli(['impact', SAMPLE_DIR, '--url', base, '--token', 'not-the-admin-token-000']);
      assert.equal(wrong.code, 1);
      assert.match(wrong.stdout, /401 E_UNAUTHORIZED/);
    } finally {
      await cleanup();
    }
  });

  test('PUT /policies with expectedImpact: refused with 409 E_IMPACT_EXCEEDED and the report when exceeded, the live set unchanged', async () => {
    const live = await liveVersion();
    const res = await post(
      '/policies',
      { ...sample, policies: sample.policies + FREEZE, expectedImpact: { maxAllowToDeny: 0 } },
      admin,
      'PUT',
    );
    assert.equal(res.status, 409);
    const { error } = (await res.json()) as { error: { code: string; details: ImpactReport } };
    assert.equal(error.code, ERROR_CODES.impactExceeded);
    assert.equal(error.details.allowToDeny, 2);
    assert.equal(error.details.byPolicy[0]?.policy, 'freeze-edits');
    assert.equal(await liveVersion(), live);
  });

  test('PUT /policies with expectedImpact: an allowed request the candidate refuses outright counts as allow→deny', async () => {
    const live = await liveVersion();
    // Edits now apply to photos only: Cedar refuses the recorded document edits, which were allowed.
    const schema = (sample.schema ?? '').replace(
      'action view, edit, delete, share appliesTo {',
      'action edit appliesTo { principal: [User], resource: [Photo], context: RequestContext };\naction view, delete, share appliesTo {',
    );
    const candidate = { ...sample, schema };
    const report = await impact(candidate);
    assert.deepEqual([report.allowToDeny, report.rejected, report.allowToRejected], [0, 3, 2]);
    const res = await post('/policies', { ...candidate, expectedImpact: { maxAllowToDeny: 0 } }, admin, 'PUT');
    assert.equal(res.status, 409, await res.clone().text());
    const { error } = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(error.code, ERROR_CODES.impactExceeded);
    assert.match(error.message, /2 allow→deny, 2 of them now refused by the candidate's schema/);
    assert.equal(await liveVersion(), live);
  });

  test('PUT /policies with expectedImpact: a change within the limits goes live', async () => {
    const live = await liveVersion();
    const unused = '\n@id("admins-share-photos")\npermit (principal in Role::"admin", action == Action::"share", resource is Photo);\n';
    const res = await post(
      '/policies',
      { ...sample, policies: sample.policies + unused, expectedImpact: { maxAllowToDeny: 0, maxDenyToAllow: 0 } },
      admin,
      'PUT',
    );
    assert.equal(res.status, 200, await res.clone().text());
    const { version } = (await res.json()) as { version: string };
    assert.notEqual(version, live);
    assert.equal(await liveVersion(), version);
  });
});
