import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeEntry, MalformedEntryError, PRIORITIES, PriorityScheduler, type Priority } from '../src/index.ts';
import { resolveBusOptions, resolveSubscribeOptions } from '../src/options.ts';

describe('pure parts', () => {
  test('scheduler: 16:8:4:2:1 per 31 picks when all are backlogged; an idle priority takes no share', () => {
    const scheduler = new PriorityScheduler();
    const picks: Priority[] = [];
    for (let index = 0; index < 62; index += 1) picks.push(scheduler.next(() => true) as Priority);
    assert.deepEqual(
      PRIORITIES.map((priority) => picks.filter((pick) => pick === priority).length),
      [32, 16, 8, 4, 2],
    );
    assert.equal(
      scheduler.next(() => false),
      undefined,
    );
    assert.equal(
      scheduler.next((priority) => priority === 'background'),
      'background',
    );
  });

  test('options are validated in one place with a RangeError naming the option', () => {
    assert.throws(() => resolveBusOptions({ redis: 'http://x' }), /option redis/);
    assert.throws(() => resolveBusOptions({ redis: 'redis://x', trim: { maxLen: 0 } }), /option trim.maxLen .* received 0/);
    assert.throws(() => resolveSubscribeOptions({ mode: 'work', group: 'g', maxAttempts: 0 }), /option maxAttempts .* received 0/);
    assert.throws(() => resolveSubscribeOptions({ mode: 'work', group: 'g{x}' }), /option group/);
    assert.throws(() => resolveSubscribeOptions({ mode: 'work', group: 'g', reclaimIdleMs: 1000, backoffMaxMs: 1000 }), /backoffMaxMs/);
    const resolved = resolveSubscribeOptions({ mode: 'broadcast', group: 'g' });
    assert.equal(resolved.maxAttempts, 5);
    assert.equal(resolved.startFrom, 'latest');
  });

  test('decodeEntry refuses hostile entries with a reason instead of throwing anything else', () => {
    const hostile: (string[] | null)[] = [
      null,
      [],
      ['m'],
      ['m', 'null'],
      ['m', '"str"'],
      ['m', '{"__proto__":{"x":1}}'],
      ['m', '{'.repeat(5000)],
    ];
    for (const fields of hostile) assert.throws(() => decodeEntry(fields, 't', '1-0'), MalformedEntryError);
  });

  test('an id that is not well-formed Unicode is malformed: in UTF-8 it would share a dedup key with others', () => {
    const envelope = (id: string) => [
      'm',
      JSON.stringify({ id, type: 't', priority: 'normal', occurredAt: '2026-12-04T00:00:00Z', source: 's', attempt: 1, payload: {} }),
    ];
    for (const id of ['col\ud800', 'col\udbff', '\udc00']) {
      assert.throws(() => decodeEntry(envelope(id), 't', '1-0'), { name: 'MalformedEntryError', message: /invalid id/ }, id);
    }
    assert.equal(decodeEntry(envelope('col-\u{1F600}'), 't', '1-0').id, 'col-\u{1F600}');
  });
});
