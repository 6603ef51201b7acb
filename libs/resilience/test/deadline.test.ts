import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DeadlineError, withDeadline } from '../src/index.ts';

test('withDeadline settles as its work does when the work is in time', async () => {
  assert.equal(await withDeadline(Promise.resolve(42), 60_000, 'the answer'), 42);
  await assert.rejects(withDeadline(Promise.reject(new Error('refused')), 60_000, 'the answer'), /refused/);
});

test('withDeadline rejects with a typed error naming the work when it does not settle in time', async () => {
  const never = new Promise<never>(() => undefined);
  const error = await withDeadline(never, 5, 'the store').catch((caught: unknown) => caught);
  assert.ok(error instanceof DeadlineError);
  assert.equal(error.code, 'E_DEADLINE');
  assert.match(error.message, /the store did not answer within 5 ms/);
});
