import type { CacheSource } from '@portcullis/contracts';
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Logger } from '@portcullis/observability';
import { CircuitBreaker, ConsecutiveFailures, observeBreaker } from '@portcullis/resilience';
import { L2Guard } from './breaker.ts';
import { decodeEntry, deepFreeze, encodeEntry, encodeValue } from './codec.ts';
import { UnknownTypeError } from './errors.ts';
import type { InvalidationEvent, InvalidationTransport } from './invalidation.ts';
import { L1Tier, type Entry } from './l1.ts';
import { openRedis } from '@portcullis/redis';
import { RedisL2, type L2Command, type L2Driver } from './l2.ts';
import { resolveOptions, type CacheOptions, type ResolvedOptions, type TypePolicy } from './options.ts';
import { hashKey } from './sketch.ts';
import { cacheMetrics, newCounters, type CacheMetrics } from './stats.ts';

/** Where a value came from: `stale` is an expired entry served within its grace period. */
/** Where a value came from (the contracts' `CacheSource`, which `/authenticate` reports). */
export type Source = CacheSource;

/** A read's outcome; `value` is undefined exactly when `source` is `miss`. */
export interface Lookup<T = unknown> {
  value: T | undefined;
  source: Source;
}

/** Per-call options of writes and `getOrSet`. */
export interface WriteOptions {
  /** Operation type: picks the TTL policy configured in `types`. */
  type?: string;
  /** Overrides the type's fresh time. */
  ttlMs?: number;
  /** Overrides the type's grace period. */
  graceMs?: number;
  tags?: string[];
}

/** A probe result: a hit, or a miss that may still carry an expired-in-grace value. */
interface Probe extends Lookup {
  stale?: { value: unknown };
}

/** A value ready to write: validated and serialized before anything is written. */
export interface Prepared {
  full: string;
  entry: Entry;
  json: string;
  lifeMs: number;
}

/**
 * The shared engine behind every namespace view of a cache: both tiers, the guarded L2
 * path, counters and metrics. Works on full keys; {@link Cache} builds and checks them.
 */
export class CacheCore extends EventEmitter {
  readonly o: ResolvedOptions;
  readonly id = randomUUID();
  readonly l1: L1Tier;
  readonly l2: L2Driver | undefined;
  readonly guard: L2Guard;
  readonly counters = newCounters();
  readonly metrics: CacheMetrics;
  readonly logger: Logger | undefined;
  readonly transport: InvalidationTransport | undefined;
  readonly inflight = new Map<string, Promise<Lookup>>();
  /** L2 writes that fetch left running behind its answer; close() waits for them. */
  readonly writesBehind = new Set<Promise<boolean>>();

  constructor(options: CacheOptions) {
    super();
    this.o = resolveOptions(options);
    this.logger = options.logger;
    this.transport = options.invalidation;
    this.metrics = cacheMetrics(this.o.name, options.registry);
    this.l1 = new L1Tier({
      maxEntries: this.o.l1MaxEntries,
      maxBytes: this.o.l1MaxBytes,
      hotEntryBytes: this.o.hotEntryBytes,
      maxEntryBytes: this.o.maxL1EntryBytes,
      promoteAfterHits: this.o.promoteAfterHits,
      sketchWindowFactor: this.o.sketchWindowFactor,
    });
    if (options.l2 !== undefined) this.l2 = options.l2;
    else if (options.redis !== undefined) this.l2 = new RedisL2(options.redis);
    else if (options.url !== undefined) this.l2 = new RedisL2(openRedis(options.url), true);
    const breaker = new CircuitBreaker({ rules: [new ConsecutiveFailures(this.o.breakerThreshold)], resetMs: this.o.breakerResetMs });
    observeBreaker(breaker, this.metrics, `cache:${this.o.name}`);
    breaker.onEvent((event, state) => {
      if (event === 'open' || event === 'close')
        this.logger?.warn({ cache: this.o.name, breaker: state }, 'cache L2 breaker changed state');
    });
    this.guard = new L2Guard(breaker, this.o.l2TimeoutMs);
  }

  /** Resolves the TTL policy of a call (its type, then its overrides). */
  policy(options: WriteOptions | undefined): Required<TypePolicy> {
    let base = this.o.defaultType;
    if (options?.type !== undefined) {
      const typed = this.o.types.get(options.type);
      if (typed === undefined)
        throw new UnknownTypeError(`unknown cache type "${String(options.type)}"`, {
          context: { type: options.type, known: [...this.o.types.keys()] },
        });
      base = typed;
    }
    if (options?.ttlMs === undefined && options?.graceMs === undefined) return base;
    const ttlMs = options.ttlMs ?? base.ttlMs;
    const graceMs = options.graceMs ?? base.graceMs;
    if (!Number.isInteger(ttlMs) || ttlMs < 1)
      throw new RangeError(`cache call option ttlMs must be an integer >= 1, got ${String(ttlMs)}`);
    if (!Number.isInteger(graceMs) || graceMs < 0)
      throw new RangeError(`cache call option graceMs must be an integer >= 0, got ${String(graceMs)}`);
    return { ttlMs, graceMs };
  }

  /** A fresh L1 hit, counted, or undefined (the read is recorded in the sketch either way). */
  l1Fresh(full: string, hash: number, now: number): Entry | undefined {
    this.counters.reads += 1;
    this.l1.record(hash);
    const entry = this.l1.get(full);
    if (entry !== undefined && now < entry.expiresAt) {
      entry.hits += 1;
      this.counters.l1Hits += 1;
      this.metrics.l1Hit.inc();
      return entry;
    }
    this.metrics.l1Miss.inc();
    return undefined;
  }

  /** Reads one key through both tiers. Never throws for L2 trouble. */
  async probe(full: string): Promise<Probe> {
    const hash = hashKey(full);
    const now = Date.now();
    const hit = this.l1Fresh(full, hash, now);
    if (hit !== undefined) return { value: hit.value, source: 'l1' };
    return this.probeL2(full, hash, now);
  }

  /** The L2 half of {@link probe}, for a key L1 could not serve fresh. */
  /** An expired entry served within its grace period because no fresh value can be had: counted once, here. */
  serveStale(value: unknown): Lookup & { source: 'stale' } {
    this.counters.staleServed += 1;
    this.metrics.stale.inc();
    return { value, source: 'stale' };
  }

  async probeL2(full: string, hash: number, now: number): Promise<Probe> {
    const local = this.l1.peek(full);
    const localStale = local !== undefined && now < local.graceUntil ? { value: local.value } : undefined;
    if (local !== undefined && localStale === undefined) this.l1.delete(full);
    if (this.l2 === undefined) return this.#miss(localStale);
    let raw: string | null;
    try {
      const l2 = this.l2;
      raw = await this.guard.run('get', () => l2.get(full));
    } catch (error) {
      this.l2Failed('get', error);
      if (localStale !== undefined) return this.serveStale(localStale.value);
      return this.#miss(undefined);
    }
    return this.accept(full, hash, raw, localStale);
  }

  /** Turns an L2 reply into a hit (promoting it when hot enough) or a miss. */
  accept(full: string, hash: number, raw: unknown, localStale?: { value: unknown }): Probe {
    if (typeof raw !== 'string') {
      this.metrics.l2Miss.inc();
      return this.#miss(localStale);
    }
    const decoded = decodeEntry(raw);
    if (decoded === undefined) {
      this.counters.corruptEntries += 1;
      this.logger?.warn({ cache: this.o.name, key: full }, 'cache L2 entry is not ours or damaged; treated as a miss');
      this.metrics.l2Miss.inc();
      return this.#miss(localStale);
    }
    const now = Date.now();
    if (now >= decoded.expiresAt) {
      this.metrics.l2Miss.inc();
      return this.#miss(now < decoded.graceUntil ? { value: decoded.value } : localStale);
    }
    this.counters.l2Hits += 1;
    this.metrics.l2Hit.inc();
    const entry: Entry = { ...decoded, hash, hits: 0 };
    const wasIn = this.l1.peek(full) !== undefined;
    if (this.l1.offer(full, entry, this.l1.sketch.estimate(hash), 'l2hit') && !wasIn) {
      this.counters.promotions += 1;
      this.metrics.promotions.inc();
    }
    return { value: decoded.value, source: 'l2' };
  }

  #miss(stale: { value: unknown } | undefined): Probe {
    this.counters.misses += 1;
    return stale === undefined ? { value: undefined, source: 'miss' } : { value: undefined, source: 'miss', stale };
  }

  /** Validates and serializes a value for `full`; throws typed errors, writes nothing. */
  prepare(full: string, value: unknown, options: WriteOptions | undefined, tags: string[]): Prepared {
    const { ttlMs, graceMs } = this.policy(options);
    const { json, size } = encodeValue(value, this.o.maxValueBytes, full);
    const now = Date.now();
    const entry: Entry = {
      value: deepFreeze(JSON.parse(json)),
      expiresAt: now + ttlMs,
      graceUntil: now + ttlMs + graceMs,
      tags,
      size,
      hash: hashKey(full),
      hits: 0,
    };
    return { full, entry, json, lifeMs: ttlMs + graceMs };
  }

  /** Writes prepared entries to L1 (by placement) and to L2 in one pipeline. */
  async write(items: Prepared[]): Promise<boolean> {
    const commands: L2Command[] = [];
    for (const { full, entry, json, lifeMs } of items) {
      this.counters.writes += 1;
      if (!this.l1.offer(full, entry, this.l1.sketch.estimate(entry.hash), 'write')) this.l1.delete(full);
      commands.push(['set', full, encodeEntry(json, entry.expiresAt, entry.graceUntil, entry.tags), 'PX', lifeMs]);
      for (const tag of entry.tags) {
        const tagKey = this.tagKey(tag);
        commands.push(['sadd', tagKey, full], ['pexpire', tagKey, lifeMs, 'NX'], ['pexpire', tagKey, lifeMs, 'GT']);
      }
    }
    return this.batch('set', commands).then((replies) => replies !== undefined);
  }

  /**
   * {@link write} without waiting for Redis: L1 holds the value at once, and the L2
   * round trip (one per miss) no longer sits on the caller's path. `write` never rejects
   * (L2 failures are counted and logged by the guard).
   */
  writeBehind(items: Prepared[]): void {
    const pending = this.write(items);
    this.writesBehind.add(pending);
    void pending.finally(() => this.writesBehind.delete(pending));
  }

  /** Sends a pipeline through the guard; undefined when L2 is absent or failed. */
  async batch(operation: string, commands: L2Command[], timeoutMs?: number): Promise<unknown[] | undefined> {
    if (this.l2 === undefined || commands.length === 0) return this.l2 === undefined ? undefined : [];
    const l2 = this.l2;
    this.metrics.batchSize.observe(commands.length);
    const before = l2.roundTrips;
    try {
      return await this.guard.run(operation, () => l2.pipeline(commands), timeoutMs);
    } catch (error) {
      this.l2Failed(operation, error);
      return undefined;
    } finally {
      this.metrics.batchRoundTrips.inc(l2.roundTrips - before);
    }
  }

  tagKey(tag: string): string {
    return `${this.o.prefix}t:${tag}`;
  }

  get hotKey(): string {
    return `${this.o.prefix}h`;
  }

  l2Failed(operation: string, error: unknown): void {
    this.metrics.l2Error.inc();
    this.logger?.warn({ cache: this.o.name, operation, err: error }, 'cache L2 call failed; serving from L1');
  }

  /** Drops L1 entries named by an event (local or from another instance). */
  dropLocal(event: Pick<InvalidationEvent, 'keys' | 'tags' | 'prefixes'>): void {
    for (const key of event.keys ?? []) this.l1.delete(key);
    const tags = event.tags ?? [];
    const prefixes = event.prefixes ?? [];
    if (tags.length > 0 || prefixes.length > 0) {
      this.l1.deleteWhere((key, entry) => prefixes.some((p) => key.startsWith(p)) || entry.tags.some((t) => tags.includes(t)));
    }
  }

  /** Tells the other instances; a transport failure is logged, never thrown. */
  async publish(event: Omit<InvalidationEvent, 'cache' | 'origin'>): Promise<void> {
    if (this.transport === undefined) return;
    try {
      await this.transport.publish({ ...event, cache: this.o.name, origin: this.id });
    } catch (error) {
      this.logger?.warn({ cache: this.o.name, err: error }, 'cache invalidation publish failed');
    }
  }
}
