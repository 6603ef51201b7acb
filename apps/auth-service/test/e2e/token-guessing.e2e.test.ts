// Client-secret guessing against a real auth-service (issue 13): after AUTH_CLIENT_MAX_FAILURES
// wrong secrets from one address a client id, registered or made up, is answered 429
// E_TOO_MANY_ATTEMPTS with Retry-After on /token, /introspect and /revoke, even with the right
// secret, until the lockout ends; other ids, and the same id from other addresses, are
// unaffected, and no presented secret reaches the logs. The test plays a trusted proxy on
// loopback (AUTH_TRUST_PROXY=loopback): requests without X-Forwarded-For come from 127.0.0.1.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { ERROR_CODES } from '@portcullis/contracts';
import { CLIENT, EDIT_DOC, authenticate, startStack, type Stack } from './stack.ts';

const MAX_FAILURES = 5;
/** Short, so the test can wait it out; long enough that the checks made inside it finish first. */
const LOCKOUT_MS = 1000;
const A = { client_id: 'guess-a', client_secret: 'guess-a-secret-0123456789' };
const B = { client_id: 'guess-b', client_secret: 'guess-b-secret-0123456789' };
const C = { client_id: 'guess-c', client_secret: 'guess-c-secret-0123456789' };
const D = { client_id: 'guess-d', client_secret: 'guess-d-secret-0123456789' };
const wrong = (client: { client_secret: string }, i: number) => `${client.client_secret}-wrong-${i}`;

describe('client-secret guessing is locked out per client id and address (real auth-service)', () => {
  let stack: Stack;
  let dir: string;
  let url: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'token-guessing-'));
    const clients = join(dir, 'clients.json');
    await writeFile(clients, JSON.stringify([CLIENT, A, B, C, D].map((c) => ({ ...c, roles: ['editor'] }))));
    stack = await startStack(1, {
      AUTH_CLIENTS_FILE: clients,
      AUTH_CLIENT_MAX_FAILURES: String(MAX_FAILURES),
      AUTH_CLIENT_LOCKOUT_MS: String(LOCKOUT_MS),
      AUTH_TRUST_PROXY: 'loopback',
      LOG_LEVEL: 'debug',
    });
    url = stack.auth[0]!.url;
  });
  after(async () => {
    await stack.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** A /token request; `forwardedFor` is the X-Forwarded-For the test, as the proxy, sends. */
  const tokenRequest = (clientId: string, secret: string, forwardedFor?: string) =>
    fetch(`${url}/token`, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: secret }),
      ...(forwardedFor === undefined ? {} : { headers: { 'x-forwarded-for': forwardedFor } }),
    });
  const basic = (clientId: string, secret: string) => ({ authorization: `Basic ${btoa(`${clientId}:${secret}`)}` });
  /** `n` wrong secrets, one after the other, each a 401 invalid_client; resolves when the last answer is in. */
  const guess = async (clientId: string, n: number, secret = (i: number) => `not-the-secret-${i}`, forwardedFor?: string) => {
    for (let i = 0; i < n; i += 1) {
      const res = await tokenRequest(clientId, secret(i), forwardedFor);
      assert.equal(res.status, 401, `wrong secret ${i + 1} of ${n} for ${clientId}`);
      assert.equal(((await res.json()) as { error: string }).error, 'invalid_client');
    }
    return Date.now();
  };
  /** 429 E_TOO_MANY_ATTEMPTS in the RFC 6749 §5.2 shape, with Retry-After (whole seconds) and no-store. */
  const assertLocked = async (res: Response, what: string, retryAfterS = 1) => {
    assert.equal(res.status, 429, what);
    const body = (await res.json()) as Record<string, unknown>;
    assert.deepEqual(Object.keys(body), ['error', 'error_description'], what);
    assert.equal(body['error'], ERROR_CODES.tooManyAttempts, what);
    assert.equal(res.headers.get('retry-after'), String(retryAfterS), what);
    assert.equal(res.headers.get('cache-control'), 'no-store', what);
  };
  /** Waits out a lockout that began at most when the answer that started it arrived. */
  const waitOut = (lockedBy: number, lockoutMs = LOCKOUT_MS) => sleep(Math.max(0, lockedBy + lockoutMs - Date.now()) + 50);

  test('N wrong secrets, then the right one: 429 E_TOO_MANY_ATTEMPTS with Retry-After on every client endpoint; others unaffected; afterwards the right secret works', async () => {
    const lockedBy = await guess(A.client_id, MAX_FAILURES, (i) => wrong(A, i));
    // Inside the lockout: no scrypt work is done, so these answer well within it.
    await assertLocked(await tokenRequest(A.client_id, A.client_secret), '/token (body)');
    const during = await Promise.all([
      fetch(`${url}/token`, {
        method: 'POST',
        headers: basic(A.client_id, A.client_secret),
        body: new URLSearchParams({ grant_type: 'client_credentials' }),
      }),
      fetch(`${url}/introspect`, {
        method: 'POST',
        headers: basic(A.client_id, A.client_secret),
        body: new URLSearchParams({ token: 'x' }),
      }),
      fetch(`${url}/revoke`, { method: 'POST', headers: basic(A.client_id, A.client_secret), body: new URLSearchParams({ token: 'x' }) }),
    ]);
    assert.ok(Date.now() < lockedBy + LOCKOUT_MS, 'the checks ran inside the lockout');
    for (const [res, what] of during.map((r, i) => [r, ['/token (Basic)', '/introspect', '/revoke'][i]!] as const))
      await assertLocked(res, what);

    // Another registered client, and the stack's own, are not affected.
    assert.equal((await tokenRequest(B.client_id, B.client_secret)).status, 200);
    const token = await stack.token();
    assert.equal((await authenticate(url, token, EDIT_DOC)).status, 200);

    await waitOut(lockedBy);
    const res = await tokenRequest(A.client_id, A.client_secret);
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { token_type: string }).token_type, 'Bearer');
    // The success started A afresh: N - 1 wrong secrets do not lock it.
    await guess(A.client_id, MAX_FAILURES - 1, (i) => wrong(A, 100 + i));
    assert.equal((await tokenRequest(A.client_id, A.client_secret)).status, 200);
  });

  test('a wrong secret right after a lockout locks again, for twice as long', async () => {
    const lockedBy = await guess(C.client_id, MAX_FAILURES, (i) => wrong(C, i));
    await waitOut(lockedBy);
    await guess(C.client_id, 1, (i) => wrong(C, 10 + i));
    await assertLocked(await tokenRequest(C.client_id, C.client_secret), 'second lockout', (2 * LOCKOUT_MS) / 1000);
  });

  test("a guesser locks the id out from its own address only: the owner's token requests from elsewhere still succeed", async () => {
    const guesser = '203.0.113.7';
    const lockedBy = await guess(D.client_id, MAX_FAILURES, (i) => wrong(D, i), guesser);
    await assertLocked(await tokenRequest(D.client_id, D.client_secret, guesser), 'the right secret, from the guesser');
    // Addresses the client wrote before the proxy's entry are not believed: no way around the lockout.
    await assertLocked(await tokenRequest(D.client_id, D.client_secret, `198.51.100.9, ${guesser}`), 'a forged X-Forwarded-For');
    const owner = await tokenRequest(D.client_id, D.client_secret, '198.51.100.9');
    assert.equal(owner.status, 200, 'the owner, from another address');
    assert.equal((await tokenRequest(D.client_id, D.client_secret)).status, 200, 'the owner, from the proxy itself');
    assert.ok(Date.now() < lockedBy + LOCKOUT_MS, 'the checks ran inside the lockout');
  });

  test('made-up client ids are limited by the presented id; other ids are unaffected', async () => {
    await guess('no-such-client', MAX_FAILURES);
    await assertLocked(await tokenRequest('no-such-client', 'anything-at-all-0123'), 'a made-up id');
    const other = await tokenRequest('another-made-up-client', 'anything-at-all-0123');
    assert.equal(other.status, 401);
    assert.equal(((await other.json()) as { error: string }).error, 'invalid_client');
  });

  test('no presented secret, right or wrong, appears in any log line', () => {
    const logs = stack.auth[0]!.process.output();
    assert.match(logs, /auth-service ready on/);
    // The wrong secrets of A and C start with the right ones, so this covers them too.
    for (const client of [A, B, C, D, CLIENT])
      assert.equal(logs.includes(client.client_secret), false, `${client.client_id}'s secret is in the logs`);
    assert.equal(logs.includes('not-the-secret-'), false);
    assert.equal(logs.includes('anything-at-all-0123'), false);
  });
});
