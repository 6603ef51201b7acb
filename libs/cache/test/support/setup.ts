import { Registry } from '@portcullis/observability';
import { uniqueId } from '@portcullis/testing';
import { Redis } from 'ioredis';
import { createCache, RedisL2, type Cache, type CacheOptions } from '../../src/index.ts';
import { FlakyL2 } from './flaky-l2.ts';

export const registry = new Registry();

/** A cache in its own key space (a unique name) on `url`, behind a FlakyL2. */
export async function flakyCache(
  url: string,
  options: Partial<CacheOptions> = {},
): Promise<{ cache: Cache; flaky: FlakyL2; redis: Redis; close: () => Promise<void> }> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined); // failures are observed through the cache's guard
  const flaky = new FlakyL2(new RedisL2(redis));
  const cache = await createCache({ name: uniqueId('c'), l2: flaky, registry, ...options });
  return {
    cache,
    flaky,
    redis,
    close: async () => {
      await cache.close();
      redis.disconnect();
    },
  };
}
