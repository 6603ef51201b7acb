// The admin API (GET/PUT /policies, GET /audit/principals) against real processes (issue 13):
// anything but `Authorization: Bearer <the admin token>` (the scheme in any case) is 401 E_UNAUTHORIZED with
// WWW-Authenticate, a valid token of the auth-service included; with no admin token
// configured every admin route is 403 E_ADMIN_DISABLED, whatever is presented.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { ERROR_CODES } from '@portcullis/contracts';
import { startAuthPeer } from './auth-peer.ts';
import { freePort, startProcess, type ProcessHandle } from '@portcullis/testing';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const ADMIN = 'test-admin-token-0123456789';
// A client whose token even claims the admin role: a role in a JWT is not the admin token.
const CLIENT = { client_id: 'ops-console', client_secret: 'ops-console-secret-0123456789', roles: ['admin'] };
const ROUTES = [
  { method: 'GET', path: '/policies' },
  { method: 'PUT', path: '/policies' },
  { method: 'POST', path: '/policies/impact' },
  { method: 'GET', path: '/audit/principals' },
] as const;

async function startPolicy(env: Record<string, string>): Promise<{ process: ProcessHandle; url: string }> {
  const port = await freePort();
  const process_ = await startProcess({
    command: process.execPath,
    args: [MAIN],
    env: { POLICY_PORT: String(port), POLICY_WATCH: 'false', ...env },
    readyWhen: /policy-service ready on/,
  });
  return { process: process_, url: `http://127.0.0.1:${port}` };
}

const call = (base: string, route: (typeof ROUTES)[number], authorization?: string) =>
  fetch(`${base}${route.path}`, {
    method: route.method,
    headers: { 'content-type': 'application/json', ...(authorization === undefined ? {} : { authorization }) },
    ...(route.method === 'PUT' ? { body: '{}' } : {}),
  });

describe('admin API credentials (real policy-service and auth-service)', () => {
  let dir: string;
  let policy: { process: ProcessHandle; url: string };
  let adminOff: { process: ProcessHandle; url: string };
  let auth: ProcessHandle;
  let jwt: string;
  let versionBefore: string;
  const liveVersion = async () =>
    ((await (await fetch(`${policy.url}/policies`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as { version: string })
      .version;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'admin-auth-'));
    [policy, adminOff] = await Promise.all([startPolicy({ POLICY_ADMIN_TOKEN: ADMIN }), startPolicy({})]);
    const peer = await startAuthPeer({ dir, policyUrl: policy.url, client: CLIENT });
    auth = peer.process;
    jwt = peer.token;
    versionBefore = await liveVersion();
  });
  after(async () => {
    await Promise.all([auth?.stop('SIGKILL'), policy?.process.stop('SIGKILL'), adminOff?.process.stop('SIGKILL')]);
    await rm(dir, { recursive: true, force: true });
  });

  test('the admin token itself is accepted (the control for the refusals below), the scheme in any case (RFC 9110 §11.1)', async () => {
    for (const route of ROUTES.filter((r) => r.method === 'GET')) {
      for (const authorization of [`Bearer ${ADMIN}`, `bearer ${ADMIN}`, `BEARER ${ADMIN}`, `Bearer  ${ADMIN}`]) {
        assert.equal((await call(policy.url, route, authorization)).status, 200, `${route.path}: ${authorization.slice(0, 8)}`);
      }
    }
  });

  test('missing, wrong, wrong-length and non-admin credentials: 401 E_UNAUTHORIZED with WWW-Authenticate on every admin route', async () => {
    const last = ADMIN.at(-1) === 'x' ? 'y' : 'x';
    const refused: Record<string, string | undefined> = {
      missing: undefined,
      empty: '',
      'scheme only': 'Bearer',
      'wrong, same length': `Bearer ${ADMIN.slice(0, -1)}${last}`,
      'a prefix of the token': `Bearer ${ADMIN.slice(0, -1)}`,
      'the token and more': `Bearer ${ADMIN}x`,
      'one character': 'Bearer x',
      '512 characters': `Bearer ${'a'.repeat(512)}`,
      '513 characters': `Bearer ${'a'.repeat(513)}`,
      '8 KiB': `Bearer ${'a'.repeat(8192)}`,
      'the token in upper case': `Bearer ${ADMIN.toUpperCase()}`,
      'the token twice': `Bearer ${ADMIN},${ADMIN}`,
      'no space after the scheme': `Bearer${ADMIN}`,
      'no scheme': ADMIN,
      'another scheme': `Token ${ADMIN}`,
      'Basic with the token as password': `Basic ${btoa(`admin:${ADMIN}`)}`,
      'Basic with the token as user': `Basic ${btoa(`${ADMIN}:`)}`,
      'Basic with the raw token': `Basic ${ADMIN}`,
      "a valid auth-service JWT (roles: ['admin'])": `Bearer ${jwt}`,
    };
    for (const route of ROUTES) {
      for (const [name, authorization] of Object.entries(refused)) {
        const what = `${route.method} ${route.path}: ${name}`;
        const res = await call(policy.url, route, authorization);
        assert.equal(res.status, 401, what);
        assert.equal(((await res.json()) as { error: { code: string } }).error.code, ERROR_CODES.unauthorized, what);
        assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer /, what);
      }
    }
  });

  test('with no admin token configured, every admin route is 403 E_ADMIN_DISABLED whatever is presented', async () => {
    for (const route of ROUTES) {
      for (const authorization of [undefined, `Bearer ${ADMIN}`, `Bearer ${jwt}`, `Basic ${btoa(`admin:${ADMIN}`)}`]) {
        const what = `${route.method} ${route.path}: ${authorization?.slice(0, 12) ?? 'none'}`;
        const res = await call(adminOff.url, route, authorization);
        assert.equal(res.status, 403, what);
        assert.equal(((await res.json()) as { error: { code: string } }).error.code, ERROR_CODES.adminDisabled, what);
      }
    }
  });

  test('the refused PUTs left the live policy set as it was', async () => {
    assert.equal(await liveVersion(), versionBefore);
  });
});
