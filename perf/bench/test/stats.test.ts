import assert from 'node:assert/strict';
import { test } from 'node:test';
import { median, percentile } from '../src/_stats.ts';
import { makeRequests } from '../src/_policy-workload.ts';

test('median and percentile are the textbook ones', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(
    percentile(
      Array.from({ length: 100 }, (_, i) => i + 1),
      95,
    ),
    96,
  );
  assert.equal(percentile([7], 99), 7);
});

test('the policy workload is deterministic and varied', () => {
  const entities = [
    { uid: { type: 'Document', id: 'd1' }, attrs: {}, parents: [] },
    { uid: { type: 'Photo', id: 'p1' }, attrs: {}, parents: [] },
  ];
  const a = makeRequests(200, entities);
  assert.deepEqual(a, makeRequests(200, entities));
  assert.ok(new Set(a.map((r) => JSON.stringify(r))).size > 190, 'requests should rarely repeat');
});
