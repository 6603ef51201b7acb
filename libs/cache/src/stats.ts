import { portcullisMetrics, type Registry } from '@portcullis/observability';
import type { BreakerState } from '@portcullis/resilience';

/** Counters of one cache, and the intelligence score computed from them. */
export interface CacheStats {
  reads: number;
  l1Hits: number;
  l2Hits: number;
  misses: number;
  staleServed: number;
  factoryCalls: number;
  /** `getOrSet` calls that joined a factory call already running for the key. */
  coalesced: number;
  writes: number;
  promotions: number;
  demotions: number;
  admitted: number;
  rejectedTooLarge: number;
  rejectedLukewarm: number;
  rejectedByAdmission: number;
  usefulAdmissions: number;
  wastedAdmissions: number;
  corruptEntries: number;
  l2Calls: number;
  l2Failures: number;
  l2Timeouts: number;
  /** Of {@link l2Timeouts}, those this process's own stall caused (not held against the breaker). */
  l2LocalStalls: number;
  l2ShortCircuits: number;
  l2RoundTrips: number;
  breaker: BreakerState;
  l1Entries: number;
  l1Bytes: number;
  sketchBytes: number;
  /** Reads of keys never seen here that skipped L2 (`firstSeenL2: 'learn'`), and their loads' writes with them. */
  l2SkippedFirstSeen: number;
  /** 0..100, see {@link intelligenceScore}. */
  score: number;
}

/** The counters the read and write paths bump (the rest are read from the tiers). */
export type HotCounters = Pick<
  CacheStats,
  'reads' | 'l1Hits' | 'l2Hits' | 'misses' | 'staleServed' | 'factoryCalls' | 'coalesced' | 'writes' | 'promotions' | 'corruptEntries'
>;

export function newCounters(): HotCounters {
  return {
    reads: 0,
    l1Hits: 0,
    l2Hits: 0,
    misses: 0,
    staleServed: 0,
    factoryCalls: 0,
    coalesced: 0,
    writes: 0,
    promotions: 0,
    corruptEntries: 0,
  };
}

/**
 * The intelligence score, 0..100 (the README gives the reasoning):
 *   40 × L1 hit ratio            l1Hits / reads
 * + 20 × overall hit ratio       (l1Hits + l2Hits + staleServed) / reads
 * + 20 × admission precision     useful / (useful + wasted) demotions (1 before any)
 * + 20 × L2 availability         1 − (failures + short circuits) / (calls + short circuits) (1 before any)
 * With no reads yet both hit ratios count 0.
 */
export function intelligenceScore(s: Omit<CacheStats, 'score' | 'breaker'>): number {
  const ratio = (part: number, whole: number, empty: number): number => (whole === 0 ? empty : Math.min(1, part / whole));
  const l1 = ratio(s.l1Hits, s.reads, 0);
  const all = ratio(s.l1Hits + s.l2Hits + s.staleServed, s.reads, 0);
  const precision = ratio(s.usefulAdmissions, s.usefulAdmissions + s.wastedAdmissions, 1);
  const availability = 1 - ratio(s.l2Failures + s.l2ShortCircuits, s.l2Calls + s.l2ShortCircuits, 0);
  return Math.round(100 * (0.4 * l1 + 0.2 * all + 0.2 * precision + 0.2 * availability));
}

/** The PRODUCT.md metric children of one cache, labelled once so hot paths only `inc()`. */
export function cacheMetrics(name: string, registry: Registry | undefined) {
  const m = portcullisMetrics(registry);
  const request = (level: string, result: string) => m.cacheRequests.labels({ cache: name, level, result });
  const target = `cache:${name}`;
  return {
    l1Hit: request('l1', 'hit'),
    l1Miss: request('l1', 'miss'),
    l2Hit: request('l2', 'hit'),
    l2Miss: request('l2', 'miss'),
    l2Error: request('l2', 'error'),
    stale: request('l1', 'stale'),
    promotions: m.cachePromotions.labels({ cache: name }),
    demotions: m.cacheDemotions.labels({ cache: name }),
    l1Entries: m.cacheEntries.labels({ cache: name, level: 'l1' }),
    batchSize: m.batchSize.labels({ target }),
    batchRoundTrips: m.batchRoundTrips.labels({ target }),
    circuitState: m.circuitState,
    circuitEvents: m.circuitEvents,
  };
}

export type CacheMetrics = ReturnType<typeof cacheMetrics>;
