// Property-based hostile input against a real auth-service (fast-check drives the
// generators): whatever the body, headers or query, the answer is a decision or a 4xx
// with a stable code, never a 5xx, a hang or a crash; and the service still answers a
// good request afterwards.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { ERROR_CODES } from '@portcullis/contracts';
import { isCodedClientError, sendRaw as send, sendableHeader } from '@portcullis/testing';
import * as tokenErrors from '../../src/tokens/errors.ts';
import { ADMIN, CLIENT, EDIT_DOC, SECRET, authenticate, startStack, type Stack } from './stack.ts';

/** Redis requires it here, so both services hold it in their REDIS_URL. */
const REDIS_PASSWORD = 'e2e-redis-password-0123456789';

/** The contracts' codes and the token verifier's (each error class's static `code`). */
const KNOWN = {
  codes: new Set<string>([
    ...Object.values(ERROR_CODES),
    ...Object.values(tokenErrors).map((error) => (error as { code?: string }).code ?? ''),
  ]),
  oauthCodes: new Set([
    'invalid_request',
    'invalid_client',
    'invalid_grant',
    'unsupported_grant_type',
    'unauthorized_client',
    'invalid_scope',
  ]),
};
const coded = (status: number, body: unknown): boolean => isCodedClientError(status, body, KNOWN);
const RUNS = { numRuns: 120 };

/** Values shaped like an /authenticate body, with hostile members in every place. */
const shapedBody = fc.record(
  {
    action: fc.oneof(fc.string(), fc.constantFrom('view', 'edit', '__proto__', 'constructor', '', 'x'.repeat(300))),
    resource: fc.oneof(
      fc.record({ type: fc.oneof(fc.string(), fc.constant('Document')), id: fc.string() }, { requiredKeys: [] }),
      fc.jsonValue(),
    ),
    context: fc.oneof(fc.dictionary(fc.string(), fc.jsonValue()), fc.jsonValue(), fc.constant({ __proto__: { admin: true } })),
    principal: fc.jsonValue(),
  },
  { requiredKeys: [] },
);

describe('hostile input, property-based (real auth-service)', () => {
  let stack: Stack;
  let url: string;
  let token: string;
  before(async () => {
    // Every log line the services can write, for the secrets test at the end. Fuzzed forms
    // carry this client's id with wrong secrets: no lockout here (token-guessing tests it).
    stack = await startStack(1, { LOG_LEVEL: 'debug', AUTH_CLIENT_MAX_FAILURES: '1000000' }, {}, { redisPassword: REDIS_PASSWORD });
    url = stack.auth[0]!.url;
    token = await stack.token();
  });
  after(() => stack.close());

  test('/authenticate: any JSON value, or a body-shaped one with hostile members, is a decision or a coded 4xx', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.jsonValue(), shapedBody), async (value) => {
        const res = await authenticate(url, token, value);
        return res.status === 200 ? typeof res.body.allowed === 'boolean' : coded(res.status, res.body);
      }),
      RUNS,
    );
  });

  test('/authenticate: raw bytes under any content type are a coded 4xx', async () => {
    const contentType = fc.oneof(
      fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=utf-16', ''),
      fc.string({ maxLength: 80 }),
    );
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 2048 }), contentType, async (bytes, type) => {
        // A body that happens to be a valid request is fine too; what matters is no 5xx.
        const headers: Record<string, string> = { authorization: `Bearer ${token}` };
        if (sendableHeader(type) && type !== '') headers['content-type'] = type;
        const res = await send(`${url}/authenticate`, { method: 'POST', headers, body: bytes });
        return res.status === 200 || coded(res.status, res.body);
      }),
      RUNS,
    );
  });

  test('any Authorization header, and any query string, are refused with a code (401 or 4xx), never a 5xx', async () => {
    const header = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.string({ maxLength: 50 }).map((s) => `Bearer ${s}`),
      fc.constantFrom('Bearer', 'Bearer ', 'Basic Zm9vOmJhcg==', `Bearer ${'a'.repeat(9000)}`, 'bearer x.y.z'),
    );
    await fc.assert(
      fc.asyncProperty(header, fc.string({ maxLength: 100 }), async (authorization, query) => {
        if (!sendableHeader(authorization)) return true; // fetch cannot send it
        const res = await send(`${url}/authenticate?${encodeURIComponent(query)}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization },
          body: JSON.stringify(EDIT_DOC),
        });
        return coded(res.status, res.body);
      }),
      RUNS,
    );
  });

  test('/token and /introspect: any form body is a token or an RFC 6749 error, never a 5xx', async () => {
    const form = fc.dictionary(
      fc.oneof(fc.constantFrom('grant_type', 'client_id', 'client_secret', 'scope', 'token'), fc.string({ maxLength: 20 })),
      fc.oneof(fc.constantFrom('client_credentials', CLIENT.client_id, CLIENT.client_secret, 'password'), fc.string({ maxLength: 100 })),
    );
    await fc.assert(
      fc.asyncProperty(form, fc.constantFrom('/token', '/introspect'), async (fields, path) => {
        const res = await send(`${url}${path}`, { method: 'POST', body: new URLSearchParams(fields) });
        if (res.status === 200) return true;
        return coded(res.status, res.body);
      }),
      { numRuns: 60 },
    );
  });

  test('no token, client secret, admin token, Redis password or signing secret appears in any log line', async () => {
    // The paths that handle secrets, right and wrong: issue, use, introspect and revoke a
    // token; a wrong client secret; the admin API with a wrong and the right token.
    const fresh = await stack.token();
    assert.equal((await authenticate(url, fresh, EDIT_DOC)).status, 200);
    const basic = `Basic ${Buffer.from(`${CLIENT.client_id}:${CLIENT.client_secret}`).toString('base64')}`;
    await send(`${url}/introspect`, { method: 'POST', headers: { authorization: basic }, body: new URLSearchParams({ token: fresh }) });
    const wrong = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: CLIENT.client_id,
      client_secret: `${CLIENT.client_secret}x`,
    });
    assert.equal((await send(`${url}/token`, { method: 'POST', body: wrong })).status, 401);
    for (const bearer of [`${ADMIN}x`, ADMIN])
      await send(`${stack.policyUrl}/policies`, { headers: { authorization: `Bearer ${bearer}` } });
    assert.equal(
      (await send(`${url}/revoke`, { method: 'POST', headers: { authorization: basic }, body: new URLSearchParams({ token: fresh }) }))
        .status,
      200,
    );
    assert.equal((await authenticate(url, fresh, EDIT_DOC)).status, 401);
    // The revocation is the last step and its line the last one logged: wait for it to come
    // through the pipe (on a busy machine it may not have yet), then read everything.
    await Promise.any(stack.auth.map((a) => a.process.waitForLine(/"msg":"token revoked"/)));
    const logs = [stack.policy.output(), ...stack.auth.map((a) => a.process.output())].join('\n');
    assert.match(logs, /"msg":"token revoked"/, 'the paths that handle secrets did log');
    for (const [name, secret] of Object.entries({
      token: token,
      fresh,
      clientSecret: CLIENT.client_secret,
      admin: ADMIN,
      jwtSecret: SECRET,
      redisPassword: REDIS_PASSWORD,
    })) {
      assert.equal(logs.includes(secret), false, `${name} is in the logs`);
      // A token's signature alone is as good as leaking it.
      if (name === 'token' || name === 'fresh')
        assert.equal(logs.includes(secret.split('.')[2] as string), false, `${name}'s signature is in the logs`);
    }
  });

  test('afterwards the service is alive and still decides', async () => {
    assert.equal((await fetch(`${url}/alive`)).status, 200);
    const answer = await authenticate(url, token, EDIT_DOC);
    assert.equal(answer.status, 200);
    assert.equal(answer.body.allowed, true);
  });
});
