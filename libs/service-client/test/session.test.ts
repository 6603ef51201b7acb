import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import type { PolicyClient } from '../src/index.ts';
import { behaviours, useFakePolicyServer, req, next } from './fake-policy-server.ts';

const { server, client } = useFakePolicyServer();

/** Resolves at the next session transition to `open`. */
const nextConnection = (c: PolicyClient, open: boolean): Promise<void> => next((listener) => c.onConnectionChange(listener), open);

/** Keeps this process's event loop busy for `ms`: the stand-in for a slow, overloaded caller. */
function blockFor(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

describe('the kept session', () => {
  test('connect() opens the session before any call, and a lost session is reopened without one', async () => {
    const { client: c } = client();
    await c.connect();
    assert.equal(c.stats().connection.connects, 1);
    assert.equal(c.stats().calls, 0);
    assert.equal(server.received.length, 0, 'a session probe is not a batch');

    const lost = nextConnection(c, false);
    const reopened = nextConnection(c, true);
    server.dropSessions();
    await lost;
    await reopened;
    assert.equal(c.stats().connection.connects, 2, 'reopened by the keeper');
    assert.equal(c.stats().calls, 0, 'no call was needed to reopen it');

    // The next call finds the session open: it does not pay for a new one.
    assert.equal((await c.evaluate(req('alice'))).decision, 'allow');
    assert.equal(c.stats().connection.connects, 2);
  });

  test('a session closed for idling is reopened at once, and reported as no loss', async () => {
    const { client: c } = client({ sessionIdleMs: 100 });
    await c.connect();
    const changes: boolean[] = [];
    c.onConnectionChange((open) => changes.push(open));
    // Each keeper connect is a GET /alive: the second one is the reopening after the idle close.
    for (let pings = server.pings; server.pings < pings + 2;) await once(server, 'ping');
    assert.ok(c.stats().connection.connects >= 2, 'the idle session was closed and another opened');
    assert.deepEqual(changes, []);
  });

  test('a GOAWAY from the server is followed by a new session at once', async () => {
    server.script([behaviours.goaway]);
    const { client: c } = client();
    await c.connect();
    const reopened = nextConnection(c, true);
    // The GOAWAY'd call is retried on a new session; the keeper reopens one as well.
    assert.equal((await c.evaluate(req('bob'))).decision, 'allow');
    await reopened;
    assert.ok(c.stats().connection.connects >= 2);
    assert.equal(c.healthCheck().check().detail?.['connected'], true);
  });
});

describe('warm-up', () => {
  test('not ready until calls have gone through the whole path; failures are retried, rejections count', async () => {
    // The first batches fail (a service still starting), then items are rejected or answered.
    server.script([behaviours.status(503), behaviours.status(503), behaviours.status(503)]);
    const { client: c } = client({ retries: 0, breaker: { consecutiveFailures: 100 } });
    const health = c.healthCheck();
    const warmed = c.warmUp((n) => req(`w${n}`, n % 2 === 0 ? 'Bad' : 'Photo'), { rounds: 3, callsPerRound: 4 });
    assert.equal(health.check().status, 'down');
    assert.equal(health.check().detail?.['warmedUp'], false);
    assert.equal(await warmed, true);
    assert.equal(health.check().status, 'up');
    // Each try starts over: three first rounds failed, then three rounds of 4 distinct items went through.
    assert.equal(server.received.length, 3 + 3);
    assert.equal(server.itemsReceived, 3 * 4 + 3 * 4);
  });

  test('resolves false when the client closes before the service ever answers', async () => {
    server.reset(behaviours.status(503));
    const { client: c } = client({ retries: 0, breaker: { consecutiveFailures: 100 } });
    const warmed = c.warmUp((n) => req(`w${n}`), { rounds: 1, callsPerRound: 1 });
    await new Promise<void>((resolve) => server.once('request', () => resolve()));
    await c.close();
    assert.equal(await warmed, false);
    assert.equal(c.healthCheck().check().status, 'down', 'never proved, never ready');
  });
});

describe('deadlines missed by a busy caller', () => {
  test('do not open the breaker; the same misses with an idle caller do', async () => {
    // Any miss the breaker counts opens it (timeouts count in the rate rule, here from
    // the first call), so a single misjudged busy miss would fail this test.
    const options = { timeoutMs: 40, retries: 0, breaker: { volumeThreshold: 1 } };
    // The fake server runs in this process: while it holds the loop, the client cannot
    // read anything either, for three deadlines' worth. It never answers.
    server.reset(() => blockFor(120));
    const busy = client(options).client;
    for (let i = 0; i < 4; i++) await assert.rejects(busy.evaluate(req(`busy${i}`)), { code: 'E_DEADLINE_EXCEEDED' });
    assert.equal(busy.breakerState, 'closed', 'the service was not given its time; it is not blamed');

    // A caller that only waits: session open and code warm first, so the misses below
    // are nothing but waiting. On a starved machine one may still look busy; it only
    // takes one that does not.
    server.reset(behaviours.answer);
    const idle = client(options).client;
    await idle.connect();
    await idle.evaluate(req('warm'));
    server.reset(behaviours.hang);
    for (let i = 0; i < 10 && idle.breakerState === 'closed'; i++)
      await assert.rejects(idle.evaluate(req(`idle${i}`)), { code: 'E_DEADLINE_EXCEEDED' });
    assert.equal(idle.breakerState, 'open', 'an idle caller that waited in vain blames the service');
  });
});
