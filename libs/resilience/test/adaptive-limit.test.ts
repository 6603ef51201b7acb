import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AdaptiveLimit } from '../src/index.ts';

/** Starts `units` and finishes them at once, as one piece of work. */
const work = (limit: AdaptiveLimit, units: number, elapsedMs: number, succeeded = true): number => {
  limit.start(units);
  limit.finish(units, elapsedMs, succeeded);
  return limit.limit;
};

describe('AdaptiveLimit', () => {
  test('starts at max; slow or failed work lowers it by the ratio, down to min and no further', () => {
    const limit = new AdaptiveLimit({ min: 5, max: 100, slowMs: 10 });
    assert.equal(limit.limit, 100);
    assert.equal(work(limit, 50, 11), 90, 'slower than slowMs');
    assert.equal(work(limit, 45, 1, false), 81, 'a failure, however fast');
    for (let i = 0; i < 100; i++) work(limit, limit.limit, 50);
    assert.equal(limit.limit, 5);
    assert.equal(limit.inFlight, 0);
  });

  test('work finished in time raises it by one, up to max', () => {
    const limit = new AdaptiveLimit({ min: 2, max: 12, slowMs: 10, backoffRatio: 0.5 });
    assert.equal(work(limit, 10, 20), 6);
    for (let i = 0; i < 20; i++) work(limit, limit.limit, 1);
    assert.equal(limit.limit, 12);
  });

  test('learns only while at least half of it is in use: below that, slow, failed or fast work leaves it as it is', () => {
    const limit = new AdaptiveLimit({ min: 2, max: 20, slowMs: 10, backoffRatio: 0.5 });
    assert.equal(work(limit, 9, 500), 20, 'a pause at light load');
    assert.equal(work(limit, 9, 1, false), 20);
    assert.equal(work(limit, 10, 500), 10, 'half in use: a slow batch is a queue the limit can shorten');
    assert.equal(work(limit, 4, 1), 10, 'under half: nothing held back, nothing learnt');
    assert.equal(work(limit, 5, 1), 11);
  });

  test('is open while the work in flight is under the limit; a batch may take it past', () => {
    const limit = new AdaptiveLimit({ min: 1, max: 4, slowMs: 10 });
    limit.start(3);
    assert.equal(limit.open, true);
    limit.start(3);
    assert.equal(limit.open, false);
    assert.equal(limit.inFlight, 6);
    limit.finish(3, 1, true);
    assert.equal(limit.open, true);
  });

  test('bad options throw a RangeError naming the option', () => {
    assert.throws(() => new AdaptiveLimit({ min: 0, max: 4, slowMs: 1 }), /min must be/);
    assert.throws(() => new AdaptiveLimit({ min: 5, max: 4, slowMs: 1 }), /max must be/);
    assert.throws(() => new AdaptiveLimit({ min: 1, max: 4, slowMs: 0 }), /slowMs must be/);
    assert.throws(() => new AdaptiveLimit({ min: 1, max: 4, slowMs: 1, backoffRatio: 1 }), /backoffRatio must be/);
  });
});
