import { LRUCache } from 'lru-cache';
import { FrequencySketch } from './sketch.ts';

/** One cached value with its lifetimes, as both tiers hold it. */
export interface Entry<T = unknown> {
  value: T;
  /** Epoch ms after which the entry is stale. */
  expiresAt: number;
  /** Epoch ms after which even a stale entry is dropped. */
  graceUntil: number;
  tags: readonly string[];
  /** Bytes of the serialized value: what placement and the L1 byte bound count. */
  size: number;
  /** `hashKey(fullKey)`, kept so admission never rehashes a victim. */
  hash: number;
  /** L1 hits since admission: tells useful admissions from wasted ones. */
  hits: number;
  /**
   * The serialized value of an entry held in L1 only (its key was new here and skipped
   * L2): written to L2 at its first L1 hit, once it has shown it is asked again.
   */
  unwrittenJson?: string;
}

/** Why an entry is offered to L1: a write (set, factory result) or an L2 hit. */
export type OfferReason = 'write' | 'l2hit';

/** Bounds and thresholds of {@link L1Tier}. */
export interface L1Options {
  maxEntries: number;
  maxBytes: number;
  hotEntryBytes: number;
  maxEntryBytes: number;
  promoteAfterHits: number;
  sketchWindowFactor: number;
}

/** Counters of the L1 placement policy, read by the intelligence score. */
export interface L1Counters {
  admitted: number;
  rejectedTooLarge: number;
  rejectedLukewarm: number;
  rejectedByAdmission: number;
  /** Entries pushed out of L1 by hotter ones (they stay in L2). */
  demotions: number;
  /** Demoted entries that had served at least one L1 hit. */
  useful: number;
  /** Demoted entries that never served an L1 hit. */
  wasted: number;
}

/**
 * The in-process tier: lru-cache bounded by entries and bytes, behind a TinyLFU-style
 * admission policy. A frequency sketch counts every read; when L1 is full a candidate
 * only gets in if it has been read more often than the entry it would evict (the LRU
 * tail), so one-off keys never flush the hot set. Placement by size: small entries need
 * one read, mid-sized ones repeated reads, entries above `maxEntryBytes` never enter.
 */
export class L1Tier {
  readonly sketch: FrequencySketch;
  readonly counters: L1Counters = {
    admitted: 0,
    rejectedTooLarge: 0,
    rejectedLukewarm: 0,
    rejectedByAdmission: 0,
    demotions: 0,
    useful: 0,
    wasted: 0,
  };
  readonly #lru: LRUCache<string, Entry>;
  readonly #options: L1Options;

  constructor(options: L1Options) {
    this.#options = options;
    this.sketch = new FrequencySketch(options.maxEntries, options.sketchWindowFactor);
    this.#lru = new LRUCache<string, Entry>({
      max: options.maxEntries,
      maxSize: options.maxBytes,
      sizeCalculation: (entry) => Math.max(1, entry.size),
      dispose: (entry, _key, reason) => {
        if (reason !== 'evict') return;
        this.counters.demotions += 1;
        if (entry.hits > 0) this.counters.useful += 1;
        else this.counters.wasted += 1;
      },
    });
  }

  get size(): number {
    return this.#lru.size;
  }

  get bytes(): number {
    return this.#lru.calculatedSize;
  }

  /** Counts one read of the key; returns its frequency estimate. */
  record(hash: number): number {
    return this.sketch.increment(hash);
  }

  /** The entry (refreshing its recency), or undefined. Expiry is the caller's business. */
  get(key: string): Entry | undefined {
    return this.#lru.get(key);
  }

  /** The entry without touching recency. */
  peek(key: string): Entry | undefined {
    return this.#lru.peek(key);
  }

  /**
   * Offers an entry to L1; returns whether it was placed. `frequency` is the key's
   * current sketch estimate (the caller has usually just recorded a read).
   */
  offer(key: string, entry: Entry, frequency: number, reason: OfferReason): boolean {
    const o = this.#options;
    if (entry.size > o.maxEntryBytes) {
      this.#lru.delete(key);
      this.counters.rejectedTooLarge += 1;
      return false;
    }
    if (this.#lru.has(key)) {
      this.#lru.set(key, entry);
      return true;
    }
    const small = entry.size <= o.hotEntryBytes;
    const needed = reason === 'write' ? (small ? 0 : o.promoteAfterHits) : small ? o.promoteAfterHits : o.promoteAfterHits * 2;
    if (frequency < needed) {
      this.counters.rejectedLukewarm += 1;
      return false;
    }
    if (this.#lru.size >= o.maxEntries || this.#lru.calculatedSize + entry.size > o.maxBytes) {
      const victimKey = this.#lru.rkeys().next().value;
      const victim = victimKey === undefined ? undefined : this.#lru.peek(victimKey);
      if (victim !== undefined && frequency <= this.sketch.estimate(victim.hash)) {
        this.counters.rejectedByAdmission += 1;
        return false;
      }
    }
    this.#lru.set(key, entry);
    this.counters.admitted += 1;
    return true;
  }

  delete(key: string): boolean {
    return this.#lru.delete(key);
  }

  /** Drops every entry the predicate selects (rare: tag and namespace invalidation). */
  deleteWhere(predicate: (key: string, entry: Entry) => boolean): number {
    const doomed: string[] = [];
    for (const [key, entry] of this.#lru.entries()) if (predicate(key, entry)) doomed.push(key);
    for (const key of doomed) this.#lru.delete(key);
    return doomed.length;
  }

  clear(): void {
    this.#lru.clear();
  }

  /** Keys with their frequency estimates, hottest first (for the hot-key record). */
  hottest(limit: number): { key: string; frequency: number }[] {
    const all: { key: string; frequency: number }[] = [];
    for (const [key, entry] of this.#lru.entries()) all.push({ key, frequency: this.sketch.estimate(entry.hash) });
    all.sort((a, b) => b.frequency - a.frequency);
    return all.slice(0, limit);
  }
}
