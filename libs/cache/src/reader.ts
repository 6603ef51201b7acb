import type { CacheSource } from '@portcullis/contracts';
import type { Logger } from '@portcullis/observability';
import { decodeEntry } from './codec.ts';
import type { CacheCore } from './core.ts';
import type { Entry } from './l1.ts';
import type { L2Command } from './l2.ts';
import { hashKey } from './sketch.ts';
import type { CacheMetrics, HotCounters } from './stats.ts';

/**
 * Where a value came from (the contracts' `CacheSource`, which `/authenticate` reports):
 * `stale` is an expired entry served within its grace period.
 */
export type Source = CacheSource;

/** A read's outcome; `value` is undefined exactly when `source` is `miss`. */
export interface Lookup<T = unknown> {
  value: T | undefined;
  source: Source;
}

/** A read's outcome before any load: a miss may still carry an expired-in-grace value. */
export interface Probe extends Lookup {
  stale?: { value: unknown };
  /** The miss did not ask L2 (a first-seen key, see FirstSeenAdmission): its load is not written there either. */
  skippedL2?: true;
}

/** Options of {@link TwoTierReader.read}. */
export interface ReadOptions {
  /**
   * Produces the value when neither tier has it fresh; it gets the miss, with the
   * stale value that may stand in if it fails. Given one, the read is single-flight.
   */
  onMiss?: (miss: Probe) => Promise<Lookup>;
}

/** What the reader counts and reports through; the core owns them and shares them only here. */
export interface ReaderParts {
  counters: HotCounters;
  metrics: CacheMetrics;
  logger: Logger | undefined;
}

/**
 * The read path of a cache, one for all its namespace views: L1, then L2 through the
 * core's guard, degrading to a value within grace and then to a miss, never throwing for
 * L2 trouble. Every read outcome is counted here, once. A read with a loader is
 * single-flight *between* the tiers: an L1 hit never waits on anyone, while concurrent
 * misses of one key share one L2 probe and one load.
 */
export class TwoTierReader {
  readonly #core: CacheCore;
  readonly #counters: HotCounters;
  readonly #metrics: CacheMetrics;
  readonly #logger: Logger | undefined;
  readonly #inflight = new Map<string, Promise<Lookup>>();

  constructor(core: CacheCore, parts: ReaderParts) {
    this.#core = core;
    this.#counters = parts.counters;
    this.#metrics = parts.metrics;
    this.#logger = parts.logger;
  }

  /**
   * Reads one key through both tiers. Without `onMiss` the result may be a miss carrying
   * a `stale` value (served only when L2 failed); with it a miss is loaded, one load per
   * key at a time in this process (later callers join it and count as `coalesced`).
   */
  async read(full: string, options: ReadOptions = {}): Promise<Probe> {
    const hash = hashKey(full);
    const now = Date.now();
    // Counted once here: a count of 1 is a key this process had not seen (within the sketch's memory).
    const firstSeen = this.#core.l1.record(hash) === 1;
    const hit = this.#l1Fresh(full, hash, now);
    if (hit !== undefined) return { value: hit.value, source: 'l1' };
    const { onMiss } = options;
    if (onMiss === undefined) return this.#fromL2(full, hash, now);
    return this.#singleFlight(full, async () => {
      const admission = this.#core.firstSeen;
      const useL2 = !firstSeen || admission.shouldProbe();
      const probe = await this.#fromL2(full, hash, now, useL2);
      if (firstSeen && useL2) admission.observe(probe.source === 'l2');
      if (probe.source !== 'miss') return probe;
      this.#counters.factoryCalls += 1;
      return onMiss(probe);
    });
  }

  /** Values of many keys, in order: L1 first, then every L1 miss from L2 in one batch. */
  async readMany(fulls: readonly string[]): Promise<unknown[]> {
    const now = Date.now();
    const values = new Array<unknown>(fulls.length).fill(undefined);
    const missing: { index: number; full: string; hash: number }[] = [];
    fulls.forEach((full, index) => {
      const hash = hashKey(full);
      this.#core.l1.record(hash);
      const hit = this.#l1Fresh(full, hash, now);
      if (hit !== undefined) values[index] = hit.value;
      else missing.push({ index, full, hash });
    });
    if (missing.length === 0) return values;
    const replies = await this.#core.batch(
      'getMany',
      missing.map(({ full }): L2Command => ['get', full]),
    );
    missing.forEach(({ index, full, hash }, j) => {
      if (replies !== undefined) {
        values[index] = this.#accept(full, hash, replies[j]).value;
        return;
      }
      // As for one key: an in-grace L1 copy stands in for a failed L2, never for an absent one.
      const local = this.#core.l1.peek(full);
      const stale = local !== undefined && now < local.graceUntil && this.#core.hasL2;
      values[index] = (stale ? this.serveStale(local.value) : this.#miss(undefined)).value;
    });
    return values;
  }

  /** An expired entry served within its grace period because no fresh value can be had: counted once, here. */
  serveStale(value: unknown): Lookup & { source: 'stale' } {
    this.#counters.staleServed += 1;
    this.#metrics.stale.inc();
    return { value, source: 'stale' };
  }

  /** A fresh L1 hit, counted, or undefined (the caller has recorded the read in the sketch). */
  #l1Fresh(full: string, hash: number, now: number): Entry | undefined {
    const l1 = this.#core.l1;
    this.#counters.reads += 1;
    const entry = l1.get(full);
    if (entry !== undefined && now < entry.expiresAt) {
      entry.hits += 1;
      if (entry.unwrittenJson !== undefined) this.#core.writeDeferred(full, entry);
      this.#counters.l1Hits += 1;
      this.#metrics.l1Hit.inc();
      return entry;
    }
    this.#metrics.l1Miss.inc();
    return undefined;
  }

  /** Runs `load` unless one is already running for the key, in which case the caller joins it. */
  #singleFlight(full: string, load: () => Promise<Lookup>): Promise<Lookup> {
    const running = this.#inflight.get(full);
    if (running !== undefined) {
      this.#counters.coalesced += 1;
      return running;
    }
    const task = load();
    this.#inflight.set(full, task);
    const done = (): void => {
      this.#inflight.delete(full);
    };
    task.then(done, done);
    return task;
  }

  /** The L2 half of a read, for a key L1 could not serve fresh (`useL2: false`: without asking L2). */
  async #fromL2(full: string, hash: number, now: number, useL2 = true): Promise<Probe> {
    const l1 = this.#core.l1;
    const local = l1.peek(full);
    const localStale = local !== undefined && now < local.graceUntil ? { value: local.value } : undefined;
    // Past its grace an L1 entry can stand in for nothing: free its room now.
    if (local !== undefined && localStale === undefined) l1.delete(full);
    if (!this.#core.hasL2) return this.#miss(localStale);
    if (!useL2) return { ...this.#miss(localStale), skippedL2: true };
    const raw = await this.#core.l2Call('get', (l2) => l2.get(full));
    if (raw !== undefined) return this.#accept(full, hash, raw, localStale);
    // L2 failed (the core counted and logged it): an in-grace L1 copy beats a miss.
    return localStale === undefined ? this.#miss(undefined) : this.serveStale(localStale.value);
  }

  /** Turns an L2 reply into a hit (promoting it to L1 when hot enough) or a miss. */
  #accept(full: string, hash: number, raw: unknown, localStale?: { value: unknown }): Probe {
    if (typeof raw !== 'string') {
      this.#metrics.l2Miss.inc();
      return this.#miss(localStale);
    }
    const decoded = decodeEntry(raw);
    if (decoded === undefined) {
      this.#counters.corruptEntries += 1;
      this.#logger?.warn({ cache: this.#core.options.name, key: full }, 'cache L2 entry is not ours or damaged; treated as a miss');
      this.#metrics.l2Miss.inc();
      return this.#miss(localStale);
    }
    const now = Date.now();
    if (now >= decoded.expiresAt) {
      this.#metrics.l2Miss.inc();
      return this.#miss(now < decoded.graceUntil ? { value: decoded.value } : localStale);
    }
    this.#counters.l2Hits += 1;
    this.#metrics.l2Hit.inc();
    const l1 = this.#core.l1;
    const entry: Entry = { ...decoded, hash, hits: 0 };
    const wasIn = l1.peek(full) !== undefined;
    if (l1.offer(full, entry, l1.sketch.estimate(hash), 'l2hit') && !wasIn) {
      this.#counters.promotions += 1;
      this.#metrics.promotions.inc();
    }
    return { value: decoded.value, source: 'l2' };
  }

  /** A counted miss, carrying the value that may stand in for a failed load. */
  #miss(stale: { value: unknown } | undefined): Probe {
    this.#counters.misses += 1;
    return stale === undefined ? { value: undefined, source: 'miss' } : { value: undefined, source: 'miss', stale };
  }
}
