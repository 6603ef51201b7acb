export { Cache, createCache, type Announce, type FetchOptions, type SetManyItem } from './cache.ts';
export type { Lookup, Source, WriteOptions } from './core.ts';
export type { CacheOptions, TypePolicy } from './options.ts';
export type { CacheStats } from './stats.ts';
export { intelligenceScore } from './stats.ts';
export { RedisPubSubInvalidation, type InvalidationEvent, type InvalidationTransport } from './invalidation.ts';
export { RedisL2, type L2Driver, type L2Command } from './l2.ts';
export type { BreakerState } from '@portcullis/resilience';
// Replays the cache's own L1 policy over a key stream (the cache benchmark, the tests);
// the L1 tier, the sketch and the slot hash themselves stay internal.
export { simulateHitRate, type SimulationResult } from './sim.ts';
export {
  CacheError,
  InvalidKeyError,
  NotSerializableError,
  ValueTooLargeError,
  UnknownTypeError,
  FactoryError,
  L2TimeoutError,
  L2UnavailableError,
  L2CommandError,
  CacheClosedError,
} from './errors.ts';
