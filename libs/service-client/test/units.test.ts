import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseJson } from '@portcullis/contracts';
import { canonicalJson } from '../src/index.ts';
import { withRetries } from '../src/retry.ts';
import { PolicyRejectedError, PolicyUnavailableError, isRetryable } from '../src/errors.ts';

describe('canonicalJson', () => {
  test('sorts keys at every level and drops undefined members', () => {
    assert.equal(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: undefined } }), '{"a":{"d":[1,{"y":2,"z":1}]},"b":1}');
    assert.equal(canonicalJson({ a: 1, b: 2 }), canonicalJson({ b: 2, a: 1 }));
    assert.deepEqual(JSON.parse(canonicalJson({ s: 'é"\n', n: null, arr: [undefined] })), { arr: [null], n: null, s: 'é"\n' });
    assert.equal(canonicalJson(undefined), 'null');
    assert.equal(canonicalJson({ toJSON: () => ({ b: 1, a: 2 }) }), '{"a":2,"b":1}');
    // Exact integers past 2^53 keep their digits; integer-like keys have one order too.
    assert.equal(canonicalJson(parseJson('{"z":9007199254740993,"a":[1]}')), '{"a":[1],"z":9007199254740993}');
    assert.equal(canonicalJson({ b: 1, 10: 1, 9: 1, a: 1 }), canonicalJson({ a: 1, 9: 1, b: 1, 10: 1 }));
  });
});

describe('retries', () => {
  test('retries only retryable errors, and never starts an attempt past the deadline', async () => {
    const retryable = new PolicyUnavailableError('503', { context: { retryable: true } });
    assert.equal(isRetryable(retryable), true);
    assert.equal(isRetryable(new PolicyRejectedError('400')), false);
    const signal = new AbortController().signal;
    let calls = 0;
    await assert.rejects(
      withRetries(
        async () => {
          calls++;
          throw new PolicyRejectedError('400');
        },
        { retries: 5, backoffBaseMs: 0, attemptTimeoutMs: 10, deadline: performance.now() + 1000, signal },
      ),
      { code: 'E_POLICY_REJECTED' },
    );
    assert.equal(calls, 1);
    calls = 0;
    const timeouts: number[] = [];
    await assert.rejects(
      withRetries(
        async (t) => {
          calls++;
          timeouts.push(t);
          throw retryable;
        },
        { retries: 2, backoffBaseMs: 0, attemptTimeoutMs: 10, deadline: performance.now() + 1000, signal },
      ),
      { code: 'E_POLICY_UNAVAILABLE' },
    );
    assert.equal(calls, 3);
    assert.ok(timeouts.every((t) => t <= 10));
    // A backoff longer than the time left is not slept: the error comes back at once.
    calls = 0;
    await assert.rejects(
      withRetries(
        async () => {
          calls++;
          throw retryable;
        },
        { retries: 5, backoffBaseMs: 10_000, attemptTimeoutMs: 10, deadline: performance.now() + 1000, signal },
      ),
      { code: 'E_POLICY_UNAVAILABLE' },
    );
    assert.equal(calls, 1);
    await assert.rejects(
      withRetries(async () => 1, { retries: 1, backoffBaseMs: 0, attemptTimeoutMs: 10, deadline: performance.now() - 1, signal }),
      { code: 'E_DEADLINE_EXCEEDED' },
    );
  });
});
