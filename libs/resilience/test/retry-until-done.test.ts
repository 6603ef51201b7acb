import assert from 'node:assert/strict';
import { test } from 'node:test';
import { retryUntilDone } from '../src/index.ts';

test('retryUntilDone tries again after each failure, waiting a growing backoff, until an attempt succeeds', async () => {
  const waits: number[] = [];
  let attempts = 0;
  const done = await retryUntilDone(
    async () => {
      attempts += 1;
      if (attempts < 4) throw new Error(`failure ${attempts}`);
    },
    { baseMs: 2, maxMs: 8, signal: new AbortController().signal, onFailure: (_error, retryInMs) => waits.push(retryInMs) },
  );
  assert.equal(done, true);
  assert.equal(attempts, 4);
  assert.equal(waits.length, 3);
  // Equal jitter: at least half of 2, 4, 8 ms, at most all of it.
  waits.forEach((wait, retry) => assert.ok(wait >= 2 ** retry && wait <= 2 ** (retry + 1), `${wait} for retry ${retry}`));
});

test('retryUntilDone resolves false when stopped, during its wait or before it starts', async () => {
  const stop = new AbortController();
  let attempts = 0;
  const done = await retryUntilDone(
    async () => {
      attempts += 1;
      throw new Error('always');
    },
    { baseMs: 60_000, signal: stop.signal, onFailure: () => stop.abort() },
  );
  assert.equal(done, false);
  assert.equal(attempts, 1, 'no attempt after the stop');
  assert.equal(await retryUntilDone(async () => undefined, { baseMs: 1, signal: stop.signal, onFailure: () => undefined }), false);
});
