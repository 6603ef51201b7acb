import assert from 'node:assert/strict';
import { test } from 'node:test';
import { uniqueId, useRedisServer } from '@portcullis/testing';
import { main } from '../src/cli.ts';
import { count, outcomes, testBus } from './helpers.ts';

const redis = useRedisServer();

test('CLI lists, inspects, replays and purges the dead-letter stream', async () => {
  const topic = uniqueId('cli');
  const bus = testBus(redis.url);
  const seen = outcomes(topic);
  await bus.subscribe(
    topic,
    () => {
      throw new Error('always');
    },
    { mode: 'work', group: 'g', maxAttempts: 1 },
  );
  await bus.publishBatch([0, 1, 2].map((n) => ({ topic, payload: { n }, id: `d${n}` })));
  await seen.until((events) => count(events, 'dead_letter') === 3);
  await bus.close();
  const run = async (...args: string[]): Promise<{ code: number; lines: string[] }> => {
    const lines: string[] = [];
    const code = await main([...args, '--redis', redis.url], (line) => lines.push(line));
    return { code, lines };
  };
  const listed = await run('list', topic);
  assert.equal(listed.code, 0);
  const letters = listed.lines.map((line) => JSON.parse(line) as { deadLetterId: string; reason: string });
  assert.deepEqual(
    letters.map((letter) => letter.reason),
    ['E_MAX_ATTEMPTS', 'E_MAX_ATTEMPTS', 'E_MAX_ATTEMPTS'],
  );
  const inspected = await run('inspect', topic, letters[0]?.deadLetterId ?? '');
  assert.match(inspected.lines[0] ?? '', /"always"/);
  assert.deepEqual(JSON.parse((await run('replay', topic, letters[0]?.deadLetterId ?? '')).lines[0] ?? '{}').replayed, 1);
  assert.deepEqual(JSON.parse((await run('purge', topic, letters[1]?.deadLetterId ?? '')).lines[0] ?? '{}'), { purged: 1 });
  assert.deepEqual(JSON.parse((await run('purge', topic)).lines[0] ?? '{}'), { purged: 1 });
  const missing = await run('inspect', topic, '1-1');
  assert.equal(missing.code, 1);
  assert.match(missing.lines[0] ?? '', /E_DEAD_LETTER_NOT_FOUND/);
  assert.equal((await run('bogus', topic)).code, 2);
  seen.stop();
});
