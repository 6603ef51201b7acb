import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isNotReplicated, NotReplicatedError } from '../src/index.ts';

test('isNotReplicated: the error itself or as the cause of a wrapper, by code; nothing else', () => {
  const error = new NotReplicatedError('0 of 1 replicas acknowledged the write within 1000 ms');
  assert.equal(isNotReplicated(error), true);
  assert.equal(isNotReplicated(new Error('publish failed', { cause: error })), true);
  // Another copy of the library: same code, another class.
  assert.equal(isNotReplicated({ code: 'E_NOT_REPLICATED' }), true);
  assert.equal(isNotReplicated(new Error('ECONNREFUSED')), false);
  assert.equal(isNotReplicated(new Error('wrapped', { cause: new Error('ECONNREFUSED') })), false);
  assert.equal(isNotReplicated(undefined), false);
  assert.equal(isNotReplicated(null), false);
});
