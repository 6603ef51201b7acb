import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FailureRun } from '../src/index.ts';

describe('FailureRun', () => {
  test('waits grow with the run and stay under the cap; the 1st, 2nd, 4th, 8th… failures are logged', () => {
    const run = new FailureRun({ baseMs: 100, maxMs: 1000 });
    const failures = Array.from({ length: 40 }, () => run.fail());
    assert.deepEqual(
      failures.flatMap((failure, index) => (failure.log ? [index + 1] : [])),
      [1, 2, 4, 8, 16, 32],
    );
    // Equal jitter: each wait is between half its nominal delay and all of it.
    failures.forEach(({ retryInMs }, index) => {
      const nominal = Math.min(1000, 100 * 2 ** index);
      assert.ok(retryInMs >= nominal / 2 - 1 && retryInMs <= nominal + 1, `failure ${index + 1}: ${retryInMs}`);
    });
    assert.equal(run.succeed(), 40);
    assert.equal(run.succeed(), 0, 'a success after a success ends no run');
    assert.deepEqual(run.fail().log, true, 'a new run is logged from its first failure');
  });
});
