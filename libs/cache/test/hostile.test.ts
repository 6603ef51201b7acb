import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { useRedisServer } from '@portcullis/testing';
import { Redis } from 'ioredis';
import { flakyCache } from './support/setup.ts';

const server = useRedisServer();
let admin: Redis;
before(async () => {
  await server.started;
  admin = new Redis(server.url);
});
after(() => admin.disconnect());

function sparse(): unknown[] {
  const array: unknown[] = [1];
  array[2] = 3; // a hole at index 1: JSON would turn it into null
  return array;
}

const circular: Record<string, unknown> = {};
circular.self = circular;

describe('hostile input', () => {
  test('values JSON cannot hold faithfully are refused with E_CACHE_NOT_SERIALIZABLE', async () => {
    const { cache, close } = await flakyCache(server.url);
    try {
      const bad: unknown[] = [
        undefined,
        1n,
        () => 1,
        Symbol('s'),
        NaN,
        Infinity,
        new Map([[1, 2]]),
        new Date(0),
        circular,
        { a: undefined },
        sparse(),
        { f: () => 1 },
      ];
      for (const value of bad) await assert.rejects(cache.set('k', value), { code: 'E_CACHE_NOT_SERIALIZABLE' }, String(value));
      await assert.rejects(
        cache.getOrSet('g', () => 2n),
        { code: 'E_CACHE_NOT_SERIALIZABLE' },
      );
      assert.equal(await admin.exists(`pc:${cache.name}:k:k`, `pc:${cache.name}:k:g`), 0, 'nothing was written');
      await assert.rejects(
        cache.setMany([
          { key: 'ok', value: 1 },
          { key: 'bad', value: 1n },
        ]),
        { code: 'E_CACHE_NOT_SERIALIZABLE' },
      );
      assert.equal(await cache.get('ok'), undefined, 'a batch with one bad item writes none');
    } finally {
      await close();
    }
  });

  test('a huge value is refused with E_CACHE_VALUE_TOO_LARGE; a large one stays in L2 only', async () => {
    const { cache, close } = await flakyCache(server.url, { maxValueBytes: 1024 * 1024 });
    try {
      await assert.rejects(cache.set('huge', 'x'.repeat(2 * 1024 * 1024)), {
        code: 'E_CACHE_VALUE_TOO_LARGE',
        context: { key: `pc:${cache.name}:k:huge`, size: 2 * 1024 * 1024 + 2, maxBytes: 1024 * 1024 },
      });
      assert.equal(await admin.exists(`pc:${cache.name}:k:huge`), 0);
      await cache.set('big', 'y'.repeat(512 * 1024));
      assert.equal(cache.inspect('big').inL1, false);
      assert.equal((await cache.get<string>('big'))?.length, 512 * 1024);
    } finally {
      await close();
    }
  });

  test('binary-looking keys round-trip without colliding; malformed keys are refused', async () => {
    const { cache, close } = await flakyCache(server.url);
    const other = await flakyCache(server.url, { name: cache.name });
    try {
      const keys = ['\u0000', '\u0000\u0000', '\uffff', 'a\r\nb', '*', '[x]', '😀', 'k:n:ns:k:x', '\\'];
      await cache.setMany(keys.map((key, i) => ({ key, value: i })));
      assert.deepEqual(
        await other.cache.getMany(keys),
        keys.map((_k, i) => i),
      );
      await cache.namespace('ns').set('x', 'namespaced');
      assert.equal(await other.cache.get('n:ns:k:x'), undefined, 'a root key cannot reach into a namespace');
      for (const key of ['', '\ud800', 'x'.repeat(1025), 42, null, Buffer.from('k')]) {
        await assert.rejects(cache.get(key as string), { code: 'E_CACHE_INVALID_KEY' });
      }
      assert.throws(() => cache.namespace('a:b'), { code: 'E_CACHE_INVALID_KEY' });
      await assert.rejects(cache.set('t', 1, { tags: ['\udfff'] }), { code: 'E_CACHE_INVALID_KEY' });
    } finally {
      await close();
      await other.close();
    }
  });

  test('foreign or damaged data in Redis is a miss, never a crash', async () => {
    const { cache, close } = await flakyCache(server.url);
    try {
      const key = `pc:${cache.name}:k:`;
      await admin.mset(`${key}a`, 'not json', `${key}b`, '{"e":"x"}', `${key}c`, '[1,2]');
      await admin.sadd(`${key}d`, 'a set, not a string');
      assert.deepEqual(await cache.getMany(['a', 'b', 'c', 'd']), [undefined, undefined, undefined, undefined]);
      assert.equal(await cache.get('a'), undefined);
      assert.equal(await cache.getOrSet('b', () => 'recomputed'), 'recomputed');
      assert.ok(cache.stats().corruptEntries >= 4);
    } finally {
      await close();
    }
  });

  test('a caller mutating a returned value cannot change the cached one', async () => {
    const { cache, close } = await flakyCache(server.url);
    try {
      const original = { roles: ['user'] };
      await cache.set('p', original);
      original.roles.push('admin');
      const got = (await cache.get<{ roles: string[] }>('p'))!;
      assert.throws(() => got.roles.push('admin'), TypeError);
      assert.deepEqual(await cache.get('p'), { roles: ['user'] });
    } finally {
      await close();
    }
  });
});
