import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CLIENT, EDIT_DOC, startStack, type Stack } from './stack.ts';

const AUTH_MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));

/** The workers of a primary: its children, from /proc. */
const workersOf = (pid: number): number[] =>
  readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
    readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ').filter(Boolean).map(Number),
  );
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const count = (text: string, pattern: RegExp): number => text.split('\n').filter((line) => pattern.test(line)).length;
/** Polls `condition` until it holds (a wait for an event, not a timing assertion). */
async function until(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  for (const started = Date.now(); !condition(); await new Promise((resolve) => setTimeout(resolve, 25)))
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
}

type Answer = { status: number; body: Record<string, any> };
function send(agent: Agent, url: string, method: string, path: string, token?: string, body?: unknown): Promise<Answer & { port: number }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json' };
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    const req = request(`${url}${path}`, { method, agent, headers }, (res) => {
      const port = res.socket.localPort ?? 0;
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, any>, port }));
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/**
 * One new connection (the primary hands connections to workers round-robin): `GET /health`
 * says which worker holds it, then `POST /authenticate` on the same connection.
 */
async function onNewConnection(url: string, token: string, body: unknown = EDIT_DOC): Promise<Answer & { pid: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const health = await send(agent, url, 'GET', '/health');
    const answer = await send(agent, url, 'POST', '/authenticate', token, body);
    assert.equal(answer.port, health.port, 'both requests went over one connection');
    return { ...answer, pid: Number(health.body.components['cluster-worker']?.detail?.pid) };
  } finally {
    agent.destroy();
  }
}

/** /authenticate over new connections until every worker in `pids` has answered; every answer, by worker. */
async function fromEveryWorker(url: string, token: string, pids: number[], body?: unknown): Promise<Map<number, Answer[]>> {
  const answers = new Map<number, Answer[]>();
  for (let n = 0; n < 40 && !pids.every((pid) => answers.has(pid)); n += 1) {
    const { pid, ...answer } = await onNewConnection(url, token, body);
    answers.set(pid, [...(answers.get(pid) ?? []), answer]);
  }
  assert.deepEqual([...answers.keys()].sort(), [...pids].sort(), 'the workers answering are exactly the primary’s children');
  return answers;
}

describe('auth-service with AUTH_WORKERS=2 (node:cluster)', () => {
  let stack: Stack;
  let auth: Stack['auth'][number];
  let token: string;
  const primary = (): number => auth.process.child.pid as number;
  before(async () => {
    stack = await startStack(0);
    auth = await stack.addAuth({ AUTH_WORKERS: '2', LOG_LEVEL: 'info' });
    token = await stack.token();
  });
  after(() => stack.close());

  test('one ready line, printed after both workers are ready; /ready 200; both workers answer /authenticate', async () => {
    const output = auth.process.output();
    assert.equal(count(output, /auth-service ready on/), 1);
    assert.equal(count(output, /auth-service listening on/), 1);
    const beforeReady = output.slice(0, output.indexOf('auth-service ready on'));
    assert.equal(count(beforeReady, /"msg":"worker ready"/), 2, 'both workers reported ready before the line');
    assert.equal((await fetch(`${auth.url}/ready`)).status, 200);
    const workers = workersOf(primary());
    assert.equal(workers.length, 2);
    for (const answers of (await fromEveryWorker(auth.url, token, workers)).values())
      for (const answer of answers) assert.equal(answer.status, 200, JSON.stringify(answer.body));
  });

  test('/metrics on either worker is every worker’s, merged by the primary', async () => {
    /** The /authenticate requests counted in a /metrics text, over every status. */
    const authenticated = (text: string): number =>
      [...text.matchAll(/^http_request_duration_seconds_count\{[^}]*route="\/authenticate"[^}]*\} (\d+)$/gm)].reduce(
        (sum, match) => sum + Number(match[1]),
        0,
      );
    const before = authenticated(await (await fetch(`${auth.url}/metrics`)).text());
    const answers = await fromEveryWorker(auth.url, token, workersOf(primary()));
    const sent = [...answers.values()].reduce((sum, list) => sum + list.length, 0);
    // Twice, over new connections, so each worker is likely asked once: either must say the whole count.
    for (let i = 0; i < 2; i++) {
      const text = await (await fetch(`${auth.url}/metrics`, { headers: { connection: 'close' } })).text();
      assert.equal(authenticated(text) - before, sent, 'both workers’ requests are in the count');
      for (const match of text.matchAll(/^portcullis_circuit_state\{[^}]*\} (\S+)$/gm))
        assert.ok(Number(match[1]) <= 2, `a circuit state is the worst worker's, not a sum: ${match[0]}`);
    }
  });

  test('token.revoked reaches both workers: a token revoked on one is refused by both', async () => {
    const victim = await stack.token();
    const workers = workersOf(primary());
    for (const answers of (await fromEveryWorker(auth.url, victim, workers)).values()) assert.equal(answers[0]?.status, 200);
    const res = await fetch(`${auth.url}/revoke`, {
      method: 'POST',
      body: new URLSearchParams({ token: victim, client_id: CLIENT.client_id, client_secret: CLIENT.client_secret }),
    });
    assert.equal(res.status, 200);
    const { jti } = JSON.parse(Buffer.from(victim.split('.')[1] as string, 'base64url').toString()) as { jti: string };
    // Each worker logs the event when it applies it: wait for both, not for a clock.
    await until(
      () => count(auth.process.output(), new RegExp(`"jti":"${jti}".*token revoked`)) === 2,
      'both workers to apply token.revoked',
    );
    for (const answers of (await fromEveryWorker(auth.url, victim, workers)).values())
      for (const answer of answers) {
        assert.equal(answer.status, 401);
        assert.equal(answer.body.error.code, 'E_TOKEN_REVOKED');
      }
  });

  test('policy.updated reaches both workers: their cached allows are gone', async () => {
    const workers = workersOf(primary());
    for (const answers of (await fromEveryWorker(auth.url, token, workers)).values()) assert.equal(answers[0]?.body.allowed, true);
    const version = await stack.putPolicies('@id("view-only") permit(principal, action == Action::"view", resource);');
    await until(
      () => count(auth.process.output(), new RegExp(`"version":"${version}".*policy version changed`)) === 2,
      'both workers to apply policy.updated',
    );
    for (const answers of (await fromEveryWorker(auth.url, token, workers)).values())
      for (const answer of answers) {
        assert.equal(answer.status, 200);
        assert.equal(answer.body.allowed, false, JSON.stringify(answer.body));
        assert.equal(answer.body.policyVersion, version);
      }
  });

  test('a worker killed with SIGKILL is replaced; the service keeps answering', async () => {
    const [victim, survivor] = workersOf(primary()) as [number, number];
    const restarted = auth.process.waitForLine(/worker exited unexpectedly; restarting it/, 20_000, { fromNow: true });
    const readyAgain = auth.process.waitForLine(/"msg":"worker ready"/, 30_000, { fromNow: true });
    process.kill(victim, 'SIGKILL');
    assert.match(await restarted, new RegExp(`"pid":${victim}.*"signal":"SIGKILL"`));
    // Meanwhile the other worker answers.
    assert.equal((await onNewConnection(auth.url, token)).status, 200);
    await readyAgain;
    const workers = workersOf(primary());
    assert.equal(workers.length, 2);
    assert.ok(workers.includes(survivor) && !workers.includes(victim));
    for (const answers of (await fromEveryWorker(auth.url, token, workers)).values())
      for (const answer of answers) assert.equal(answer.status, 200);
    assert.equal(count(auth.process.output(), /auth-service ready on/), 1, 'the ready line is not printed again');
  });

  test('SIGTERM to the primary: every worker drains, the primary exits 0, no worker is left', async () => {
    const workers = workersOf(primary());
    assert.equal(await auth.process.stop('SIGTERM'), 0);
    // Their last lines may still be in the pipe when the primary's exit is seen.
    await until(() => count(auth.process.output(), /"msg":"drained; bye"/) === 2, 'both workers’ "drained" lines', 5_000);
    assert.deepEqual(workers.filter(alive), []);
  });

  test('a primary killed with SIGKILL leaves no worker running', async () => {
    const killed = await stack.addAuth({ AUTH_WORKERS: '2' });
    const workers = workersOf(killed.process.child.pid as number);
    assert.equal(workers.length, 2);
    await killed.process.stop('SIGKILL');
    await until(() => !workers.some(alive), 'the workers to exit');
  });
});

describe('AUTH_WORKERS configuration', () => {
  for (const value of ['0', 'abc', '65', '1.5']) {
    test(`AUTH_WORKERS=${value} is refused at start, naming the variable`, () => {
      const run = spawnSync(process.execPath, [AUTH_MAIN], {
        env: { ...process.env, AUTH_WORKERS: value, AUTH_PORT: '0' },
        encoding: 'utf8',
        timeout: 20_000,
      });
      assert.equal(run.status, 2, run.stderr);
      assert.match(run.stderr, /auth-service: invalid configuration: AUTH_WORKERS: must be an integer from 1 to 64, or auto/);
    });
  }

  // Settings that would fail open are refused too: workers without Redis would not share
  // revocations, and keys fetched over plain http could be swapped on the way.
  for (const [name, settings, message] of [
    ['AUTH_WORKERS=2 without REDIS_URL', { AUTH_WORKERS: '2' }, /AUTH_WORKERS: must be 1 without REDIS_URL/],
    ['JWT_JWKS_URL over plain http', { JWT_JWKS_URL: 'http://issuer.example/jwks.json' }, /JWT_JWKS_URL: must be an https URL/],
  ] as const) {
    test(`${name} is refused at start, naming the variable`, () => {
      const env: NodeJS.ProcessEnv = { ...process.env, ...settings, AUTH_PORT: '0' };
      delete env['REDIS_URL'];
      const run = spawnSync(process.execPath, [AUTH_MAIN], { env, encoding: 'utf8', timeout: 20_000 });
      assert.equal(run.status, 2, run.stderr);
      assert.match(run.stderr, message);
    });
  }
});
