import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ClientAuthBusyError, ClientAuthError, ClientRegistry, HashingGate } from '../../src/tokens/index.ts';

/** Work that finishes when the test says so, counting how much runs at once. */
function heldWork() {
  const state = { running: 0, most: 0, releases: [] as (() => void)[] };
  const work = () =>
    new Promise<void>((resolve) => {
      state.running += 1;
      state.most = Math.max(state.most, state.running);
      state.releases.push(() => {
        state.running -= 1;
        resolve();
      });
    });
  return { state, work };
}

describe('HashingGate', () => {
  it('runs at most `running` at once, queues `waiting` in order, and refuses the rest before they start', async () => {
    const gate = new HashingGate({ running: 2, waiting: 3 });
    const { state, work } = heldWork();
    const finished: number[] = [];
    const calls = Array.from({ length: 8 }, (_, i) =>
      gate.run(work).then(
        () => finished.push(i),
        (error: unknown) => error,
      ),
    );
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(state.running, 2);
    // Three beyond the two running and three waiting were refused at once.
    const refused = (await Promise.all(calls.slice(5))) as unknown[];
    assert.ok(refused.every((error) => error instanceof ClientAuthBusyError));
    while (state.releases.length > 0 || state.running > 0) {
      state.releases.shift()?.();
      await new Promise((resolve) => setImmediate(resolve));
    }
    await Promise.all(calls.slice(0, 5));
    assert.deepEqual(finished, [0, 1, 2, 3, 4]);
    assert.equal(state.most, 2);
    // Drained: a new call runs at once.
    const again = gate.run(async () => 'ok');
    assert.equal(await again, 'ok');
  });

  it('a failing work frees its slot too', async () => {
    const gate = new HashingGate({ running: 1, waiting: 0 });
    await assert.rejects(
      gate.run(() => Promise.reject(new Error('boom'))),
      /boom/,
    );
    assert.equal(await gate.run(async () => 1), 1);
  });
});

describe('ClientRegistry under a flood of attempts', () => {
  it('refuses attempts beyond the gate as busy (never as a wrong secret), and the right secret works once it drains', async () => {
    const params = { N: 1024, r: 8, p: 1 };
    const clients = new ClientRegistry({ params, gate: new HashingGate({ running: 2, waiting: 10 }) });
    await clients.register({ clientId: 'app', clientSecret: 'app-secret-0123456789' });
    const flood = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => clients.authenticate(`made-up-${i}`, 'guess-0123456789')));
    const reasons = flood.map((result) => (result.status === 'rejected' ? (result.reason as Error) : undefined));
    assert.equal(reasons.filter((error) => error instanceof ClientAuthBusyError).length, 38);
    assert.equal(reasons.filter((error) => error instanceof ClientAuthError).length, 12);
    assert.equal((await clients.authenticate('app', 'app-secret-0123456789')).clientId, 'app');
  });
});
