export { Cache, createCache, type Announce, type FetchOptions, type SetManyItem } from './cache.ts';
export type { Lookup, Source, WriteOptions } from './core.ts';
export type { CacheOptions, TypePolicy } from './options.ts';
export type { CacheStats } from './stats.ts';
export { intelligenceScore } from './stats.ts';
export { RedisPubSubInvalidation, type InvalidationEvent, type InvalidationTransport } from './invalidation.ts';
export { RedisL2, connect, type L2Driver, type L2Command } from './l2.ts';
export { L2Guard } from './breaker.ts';
export type { BreakerState } from '@portcullis/resilience';
export { L1Tier, type Entry, type L1Options, type L1Counters, type OfferReason } from './l1.ts';
export { FrequencySketch, hashKey } from './sketch.ts';
export { simulateHitRate, type SimulationResult } from './sim.ts';
export { keySlot } from './slot.ts';
export * as errors from './errors.ts';
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
