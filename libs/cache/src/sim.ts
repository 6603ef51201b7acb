import { L1Tier, type L1Options } from './l1.ts';
import { hashKey } from './sketch.ts';

/** Result of {@link simulateHitRate}. */
export interface SimulationResult {
  requests: number;
  hits: number;
  hitRate: number;
  /** Hit rate over the second half of the stream, once the cache has warmed. */
  steadyHitRate: number;
}

/**
 * Replays a key stream through the L1 placement and admission policy the cache uses
 * (the same {@link L1Tier}), every miss being an L2 hit of a small entry. Pure
 * computation: it measures the policy, not Redis.
 */
export function simulateHitRate(keys: readonly string[], options: Partial<L1Options> & { maxEntries: number }): SimulationResult {
  const tier = new L1Tier({
    maxBytes: Number.MAX_SAFE_INTEGER,
    hotEntryBytes: 1024,
    maxEntryBytes: 10 * 1024,
    promoteAfterHits: 2,
    sketchWindowFactor: 128,
    ...options,
  });
  let hits = 0;
  let steadyHits = 0;
  const half = Math.floor(keys.length / 2);
  for (let i = 0; i < keys.length; i += 1) {
    const key = keys[i] as string;
    const hash = hashKey(key);
    const frequency = tier.record(hash);
    const entry = tier.get(key);
    if (entry !== undefined) {
      hits += 1;
      if (i >= half) steadyHits += 1;
      entry.hits += 1;
      continue;
    }
    tier.offer(key, { value: 1, expiresAt: Infinity, graceUntil: Infinity, tags: [], size: 64, hash, hits: 0 }, frequency, 'l2hit');
  }
  const steadyRequests = keys.length - half;
  return {
    requests: keys.length,
    hits,
    hitRate: keys.length === 0 ? 0 : hits / keys.length,
    steadyHitRate: steadyRequests === 0 ? 0 : steadyHits / steadyRequests,
  };
}
