import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { closeRedis, openRedis } from '@portcullis/redis';
import { ADMIN, DELETE_PHOTO, EDIT_DOC, authenticate, startStack, type Stack } from './stack.ts';

describe('auth-service end to end (real processes, real Redis)', () => {
  let stack: Stack;
  let token: string;
  before(async () => {
    stack = await startStack(2);
    token = await stack.token();
  });
  after(() => stack.close());

  test('allow and deny, then the repeat is served from L1', async () => {
    const [a] = stack.auth;
    const allow = await authenticate(a!.url, token, EDIT_DOC);
    assert.equal(allow.status, 200);
    assert.equal(allow.body.allowed, true);
    assert.deepEqual(allow.body.reasons, ['editor-documents']);
    assert.equal(allow.body.principal.id, 'e2e-client');
    const deny = await authenticate(a!.url, token, DELETE_PHOTO);
    assert.equal(deny.body.allowed, false);
    assert.equal(deny.body.decision, 'deny');
    const again = await authenticate(a!.url, token, EDIT_DOC);
    assert.equal(again.body.cache, 'l1');
    assert.equal(again.body.allowed, true);
  });

  test("decisions reach the policy-service's audit log and per-principal statistics over the bus", async () => {
    await stack.policy.waitForLine(/"principal":"e2e-client".*"msg":"auth decision"/);
    const res = await fetch(`${stack.policyUrl}/audit/principals`, { headers: { authorization: `Bearer ${ADMIN}` } });
    const { principals } = (await res.json()) as { principals: { principal: string; allow: number; deny: number }[] };
    const mine = principals.find((p) => p.principal === 'e2e-client');
    assert.ok(mine !== undefined && mine.allow + mine.deny >= 1, JSON.stringify(principals));
    assert.equal((await fetch(`${stack.policyUrl}/audit/principals`)).status, 401);
  });

  test('missing, malformed and forged tokens get 401 with WWW-Authenticate; bad bodies a 4xx code', async () => {
    const url = stack.auth[0]!.url;
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    const claims = Buffer.from(JSON.stringify({ sub: 'admin', iss: 'portcullis', aud: 'portcullis', exp: 4102444800 })).toString(
      'base64url',
    );
    for (const bad of [undefined, 'garbage', `${header}.${claims}.`, token.slice(0, -4) + 'AAAA', `${token}.${'x'.repeat(9000)}`]) {
      const res = await authenticate(url, bad, EDIT_DOC);
      assert.equal(res.status, 401, String(bad).slice(0, 40));
      assert.match(res.headers.get('www-authenticate') ?? '', /Bearer error="invalid_token"/);
      assert.match(res.body.error.code, /^E_/);
    }
    const bodies: [unknown, number, string][] = [
      ['{"action":', 400, 'E_MALFORMED_JSON'],
      [{ action: 'edit' }, 400, 'E_VALIDATION'],
      [{ ...EDIT_DOC, admin: true }, 400, 'E_VALIDATION'],
      [{ ...EDIT_DOC, context: { pad: 'x'.repeat(20_000) } }, 413, 'E_PAYLOAD_TOO_LARGE'],
      [{ action: 'fly', resource: { type: 'Document', id: 'doc-3' } }, 400, 'E_REQUEST_REJECTED'],
    ];
    for (const [body, status, code] of bodies) {
      const res = await authenticate(url, token, body);
      assert.equal(res.status, status, JSON.stringify(body).slice(0, 60));
      assert.equal(res.body.error.code, code);
    }
  });

  test('a policy update flips cached decisions on every instance', async () => {
    for (const { url } of stack.auth) assert.equal((await authenticate(url, token, EDIT_DOC)).body.allowed, true);
    const version = await stack.putPolicies('@id("read-only") permit(principal, action == Action::"view", resource);');
    for (const { url } of stack.auth) {
      const after = await authenticate(url, token, EDIT_DOC);
      assert.equal(after.body.allowed, false);
      assert.equal(after.body.policyVersion, version);
    }
  });

  test('a revoked token is refused on every instance', async () => {
    const victim = await stack.token(1);
    assert.equal((await authenticate(stack.auth[1]!.url, victim, EDIT_DOC)).status, 200);
    const res = await fetch(`${stack.auth[0]!.url}/revoke`, {
      method: 'POST',
      body: new URLSearchParams({ token: victim, client_id: 'e2e-client', client_secret: 'e2e-secret-0123456789' }),
    });
    assert.equal(res.status, 200);
    assert.equal((await authenticate(stack.auth[0]!.url, victim, EDIT_DOC)).status, 401);
    await stack.auth[1]!.process.waitForLine(/token revoked/);
    const refused = await authenticate(stack.auth[1]!.url, victim, EDIT_DOC);
    assert.equal(refused.status, 401);
    assert.equal(refused.body.error.code, 'E_TOKEN_REVOKED');
    // Introspection on that other instance agrees, within the same bound (RFC 7662).
    const introspected = await fetch(`${stack.auth[1]!.url}/introspect`, {
      method: 'POST',
      body: new URLSearchParams({ token: victim, client_id: 'e2e-client', client_secret: 'e2e-secret-0123456789' }),
    });
    assert.deepEqual(await introspected.json(), { active: false });
    assert.equal((await authenticate(stack.auth[1]!.url, token, EDIT_DOC)).status, 200, 'other tokens still work');
  });

  test('an instance started after a revocation refuses the token too: it loads the stored revocations before it is ready', async () => {
    const victim = await stack.token(0);
    const res = await fetch(`${stack.auth[0]!.url}/revoke`, {
      method: 'POST',
      body: new URLSearchParams({ token: victim, client_id: 'e2e-client', client_secret: 'e2e-secret-0123456789' }),
    });
    assert.equal(res.status, 200);
    // Started once /revoke has answered: the token.revoked event went out before it existed.
    const late = await stack.addAuth();
    const refused = await authenticate(late.url, victim, EDIT_DOC);
    assert.equal(refused.status, 401);
    assert.equal(refused.body.error.code, 'E_TOKEN_REVOKED');
    const health = (await (await fetch(`${late.url}/health`)).json()) as {
      components: Record<string, { status: string; detail?: { held?: number; evicted?: number } }>;
    };
    assert.equal(health.components.revocations?.status, 'up');
    assert.ok((health.components.revocations?.detail?.held ?? 0) >= 1, 'the loaded revocation is held');
    assert.equal(health.components.revocations?.detail?.evicted, 0, 'none forgotten for lack of room');
    assert.equal((await authenticate(late.url, token, EDIT_DOC)).status, 200, 'other tokens still work there');
  });
  test('a revocation that cannot be sent is not done (503, retry), and running instances find it in the store at their resync', async () => {
    // An instance whose Redis user may not XADD: the store takes the revocation, the bus
    // cannot send it (a failed publish after a stored revocation, made deterministic).
    const admin = openRedis(stack.redis.url);
    try {
      await admin.call('ACL', 'SETUSER', 'cannot-publish', 'on', '>e2e-pass', '~*', '&*', '+@all', '-xadd');
    } finally {
      await closeRedis(admin);
    }
    const mute = await stack.addAuth({ REDIS_URL: `redis://cannot-publish:e2e-pass@127.0.0.1:${stack.redis.port}` });
    const listener = await stack.addAuth({ AUTH_REVOCATION_RESYNC_MS: '200' });
    const victim = await stack.token(0);
    assert.equal((await authenticate(listener.url, victim, EDIT_DOC)).status, 200);
    const res = await fetch(`${mute.url}/revoke`, {
      method: 'POST',
      body: new URLSearchParams({ token: victim, client_id: 'e2e-client', client_secret: 'e2e-secret-0123456789' }),
    });
    assert.equal(res.status, 503);
    assert.equal(((await res.json()) as { error: string }).error, 'temporarily_unavailable');
    assert.equal((await authenticate(mute.url, victim, EDIT_DOC)).status, 200, 'not revoked there: the retry must find the token');
    // No event will come; the listener's next read of the store brings the revocation in.
    await listener.process.waitForLine(/revocations found in the store that no event brought/);
    const refused = await authenticate(listener.url, victim, EDIT_DOC);
    assert.equal(refused.status, 401);
    assert.equal(refused.body.error.code, 'E_TOKEN_REVOKED');
  });
  test('with REDIS_WAIT_REPLICAS and no replica answering, a revocation still takes effect everywhere (master only, logged)', async () => {
    // A lone redis-server has no replica: every WAIT 1 answers 0 after its second.
    const waiting = await stack.addAuth({ REDIS_WAIT_REPLICAS: '1' });
    const other = stack.auth[1]!;
    const victim = await stack.token(0);
    assert.equal((await authenticate(other.url, victim, EDIT_DOC)).status, 200);
    const res = await fetch(`${waiting.url}/revoke`, {
      method: 'POST',
      body: new URLSearchParams({ token: victim, client_id: 'e2e-client', client_secret: 'e2e-secret-0123456789' }),
    });
    assert.equal(res.status, 200, 'refusing it would leave the token valid everywhere');
    await waiting.process.waitForLine(/revocation stored on the master only/);
    assert.equal((await authenticate(waiting.url, victim, EDIT_DOC)).body.error?.code, 'E_TOKEN_REVOKED');
    const { jti } = JSON.parse(Buffer.from(victim.split('.')[1] as string, 'base64url').toString()) as { jti: string };
    await other.process.waitForLine(new RegExp(`"jti":"${jti}".*token revoked`));
    assert.equal((await authenticate(other.url, victim, EDIT_DOC)).body.error?.code, 'E_TOKEN_REVOKED');
  });
});
