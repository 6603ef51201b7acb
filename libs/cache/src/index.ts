export { Cache, createCache, type Announce, type FetchOptions, type SetManyItem } from './cache.ts';
export type { WriteOptions } from './core.ts';
export type { Lookup, Source } from './reader.ts';
export type { CacheOptions, TypePolicy } from './options.ts';
export type { CacheStats } from './stats.ts';
export { RedisPubSubInvalidation, type InvalidationEvent, type InvalidationTransport } from './invalidation.ts';
export { RedisL2, type L2Driver, type L2Command } from './l2.ts';
export type { BreakerState } from '@portcullis/resilience';
// Replays the cache's own L1 policy over a key stream, for perf/bench (which uses public
// APIs only): it lives here because the L1 tier and the sketch it drives stay internal.
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
