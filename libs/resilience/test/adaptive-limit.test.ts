import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AdaptiveLimit } from '../src/index.ts';

describe('AdaptiveLimit', () => {
  test('starts at max; slow or failed work lowers it by the ratio, down to min and no further', () => {
    const limit = new AdaptiveLimit({ min: 5, max: 100, slowMs: 10 });
    assert.equal(limit.limit, 100);
    limit.start(50);
    limit.finish(50, 11, true);
    assert.equal(limit.limit, 90, 'slower than slowMs');
    limit.start(10);
    limit.finish(10, 1, false);
    assert.equal(limit.limit, 81, 'a failure, however fast');
    for (let i = 0; i < 100; i++) {
      limit.start(1);
      limit.finish(1, 50, true);
    }
    assert.equal(limit.limit, 5);
    assert.equal(limit.inFlight, 0);
  });

  test('work finished in time raises it by one while at least half of it was in use, up to max', () => {
    const limit = new AdaptiveLimit({ min: 2, max: 12, slowMs: 10, backoffRatio: 0.5 });
    limit.start(10);
    limit.finish(10, 20, true);
    assert.equal(limit.limit, 6);
    limit.start(1);
    limit.finish(1, 1, true);
    assert.equal(limit.limit, 6, 'one unit of six in use: the limit held nothing back, so it says nothing');
    for (let i = 0; i < 20; i++) {
      limit.start(limit.limit);
      limit.finish(limit.limit, 1, true);
    }
    assert.equal(limit.limit, 12);
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
