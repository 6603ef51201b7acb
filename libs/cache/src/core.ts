import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Logger } from '@portcullis/observability';
import { openRedis } from '@portcullis/redis';
import { CircuitBreaker, ConsecutiveFailures, observeBreaker, type BreakerState } from '@portcullis/resilience';
import { L2Guard } from './breaker.ts';
import { deepFreeze, encodeEntry, encodeValue } from './codec.ts';
import { UnknownTypeError } from './errors.ts';
import type { InvalidationEvent, InvalidationTransport } from './invalidation.ts';
import { L1Tier, type Entry } from './l1.ts';
import { RedisL2, type L2Command, type L2Driver } from './l2.ts';
import { resolveOptions, type CacheOptions, type ResolvedOptions, type TypePolicy } from './options.ts';
import { FirstSeenAdmission } from './l2-admission.ts';
import { TwoTierReader } from './reader.ts';
import { hashKey } from './sketch.ts';
import { cacheMetrics, intelligenceScore, newCounters, type CacheMetrics, type CacheStats } from './stats.ts';

/**
 * How long past its score a tag member is kept (ms): scores come from each instance's own
 * clock, and a member dropped while its key still lived would let a tag invalidation miss
 * that key. A minute covers any clock skew NTP leaves between instances.
 */
const TAG_CLOCK_MARGIN_MS = 60_000;
/** At most one log line about a kind of L2 failure this often (ms); each counts those it stood for. */
const L2_FAILURE_LOG_EVERY_MS = 10_000;

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

/** A value ready to write: validated and serialized before anything is written. */
export interface Prepared {
  full: string;
  entry: Entry;
  json: string;
  lifeMs: number;
}

/**
 * The shared engine behind every namespace view of a cache: both tiers, the guarded L2
 * path, the write path, invalidation, counters and metrics. Its state is private: the
 * views and the lifecycle act through the methods below, so every counter is bumped
 * where its event happens. Works on full keys; {@link Cache} builds and checks them.
 */
export class CacheCore extends EventEmitter {
  readonly id = randomUUID();
  readonly l1: L1Tier;
  /** The read path over both tiers; shared, so single flight spans every namespace view. */
  readonly reader: TwoTierReader;
  /** Whether keys never seen here go to L2 (learnt with `firstSeenL2: 'learn'`). */
  readonly firstSeen: FirstSeenAdmission;
  readonly #o: ResolvedOptions;
  readonly #l2: L2Driver | undefined;
  readonly #guard: L2Guard;
  readonly #counters = newCounters();
  readonly #metrics: CacheMetrics;
  readonly #logger: Logger | undefined;
  /** Per failure message: when its last line was written, and the failures not logged since. */
  readonly #failureLines = new Map<string, { at: number; unlogged: number }>();
  readonly #transport: InvalidationTransport | undefined;
  /** L2 writes that fetch left running behind its answer; close() waits for them. */
  readonly #writesBehind = new Set<Promise<boolean>>();
  /** L2 commands of write-behinds not sent yet (see {@link writeBehind}). */
  readonly #queuedWrites: L2Command[] = [];
  #flushTimer: NodeJS.Immediate | undefined;

  constructor(options: CacheOptions) {
    super();
    const o = resolveOptions(options);
    this.#o = o;
    this.#logger = options.logger;
    this.#transport = options.invalidation;
    this.#metrics = cacheMetrics(o.name, options.registry);
    this.l1 = new L1Tier({
      maxEntries: o.l1MaxEntries,
      maxBytes: o.l1MaxBytes,
      hotEntryBytes: o.hotEntryBytes,
      maxEntryBytes: o.maxL1EntryBytes,
      promoteAfterHits: o.promoteAfterHits,
      sketchWindowFactor: o.sketchWindowFactor,
    });
    if (options.l2 !== undefined) this.#l2 = options.l2;
    else if (options.redis !== undefined) this.#l2 = new RedisL2(options.redis);
    else if (options.url !== undefined) this.#l2 = new RedisL2(openRedis(options.url), true);
    const breaker = new CircuitBreaker({ rules: [new ConsecutiveFailures(o.breakerThreshold)], resetMs: o.breakerResetMs });
    observeBreaker(breaker, this.#metrics, `cache:${o.name}`);
    breaker.onEvent((event, state) => {
      if (event === 'open' || event === 'close') this.#logger?.warn({ cache: o.name, breaker: state }, 'cache L2 breaker changed state');
    });
    this.#guard = new L2Guard(breaker, o.l2TimeoutMs);
    this.firstSeen = new FirstSeenAdmission(o.firstSeenL2 === 'learn');
    this.reader = new TwoTierReader(this, { counters: this.#counters, metrics: this.#metrics, logger: this.#logger });
  }

  /** The validated options, every default applied. */
  get options(): Readonly<ResolvedOptions> {
    return this.#o;
  }

  /** Whether there is a second tier at all (false for an L1-only cache). */
  get hasL2(): boolean {
    return this.#l2 !== undefined;
  }

  /** The L2 connection as `/ready` sees it; undefined for an L1-only cache. */
  get l2State(): { breaker: BreakerState; ready: boolean } | undefined {
    return this.#l2 === undefined ? undefined : { breaker: this.#guard.breaker.state, ready: this.#l2.ready };
  }

  /** Resolves the TTL policy of a call (its type, then its overrides); throws for a bad one. */
  policy(options: WriteOptions | undefined): Required<TypePolicy> {
    let base = this.#o.defaultType;
    if (options?.type !== undefined) {
      const typed = this.#o.types.get(options.type);
      if (typed === undefined)
        throw new UnknownTypeError(`unknown cache type "${String(options.type)}"`, {
          context: { type: options.type, known: [...this.#o.types.keys()] },
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

  /**
   * Runs one L2 operation through the guard (breaker, timeout). A failure is counted and
   * logged here, so callers only decide how to degrade: the result is undefined when L2
   * is absent or failed (`T` excludes undefined, so it never means anything else).
   */
  async l2Call<T extends NonNullable<unknown> | null>(
    operation: string,
    call: (l2: L2Driver) => Promise<T>,
    timeoutMs?: number,
  ): Promise<T | undefined> {
    const l2 = this.#l2;
    if (l2 === undefined) return undefined;
    // Queued write-behinds go first, so this call sees (or deletes) what they wrote.
    if (this.#queuedWrites.length > 0) this.#flushWrites();
    try {
      return await this.#guard.run(operation, () => call(l2), timeoutMs);
    } catch (error) {
      this.#metrics.l2Error.inc();
      this.#logFailure('cache L2 call failed; serving from L1', { operation, err: error });
      return undefined;
    }
  }

  /**
   * One line per message per {@link L2_FAILURE_LOG_EVERY_MS} at most, naming how many failed
   * since the last: every read tries L2 and every write announces, so while Redis is away,
   * slow or the breaker open, a line per call would be a line per request (thousands a
   * second, each with a stack). Each line counts the failures left unlogged before it; the
   * L2 metrics count every failed call, and the breaker logs its own changes.
   */
  #logFailure(message: string, fields: Record<string, unknown>): void {
    const now = performance.now();
    const last = this.#failureLines.get(message);
    if (last !== undefined && now - last.at < L2_FAILURE_LOG_EVERY_MS) {
      last.unlogged += 1;
      return;
    }
    this.#logger?.warn({ cache: this.#o.name, ...fields, unloggedSinceLastLine: last?.unlogged ?? 0 }, message);
    this.#failureLines.set(message, { at: now, unlogged: 0 });
  }

  /** Sends a pipeline through {@link l2Call}; undefined when L2 is absent or failed. */
  async batch(operation: string, commands: L2Command[], timeoutMs?: number): Promise<unknown[] | undefined> {
    const l2 = this.#l2;
    if (l2 === undefined || commands.length === 0) return l2 === undefined ? undefined : [];
    this.#metrics.batchSize.observe(commands.length);
    const before = l2.roundTrips;
    try {
      return await this.l2Call(operation, (driver) => driver.pipeline(commands), timeoutMs);
    } finally {
      this.#metrics.batchRoundTrips.inc(l2.roundTrips - before);
    }
  }

  /** Validates and serializes a value for `full`; throws typed errors, writes nothing. */
  prepare(full: string, value: unknown, options: WriteOptions | undefined, tags: string[]): Prepared {
    const { ttlMs, graceMs } = this.policy(options);
    const { json, size } = encodeValue(value, this.#o.maxValueBytes, full);
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

  /** Writes prepared entries to L1 (by placement) and to L2 in one pipeline; false when L2 failed. */
  async write(items: Prepared[]): Promise<boolean> {
    return this.batch('set', this.#placeInL1(items)).then((replies) => replies !== undefined);
  }

  /**
   * {@link write} without waiting for Redis: L1 holds the value at once, and the L2
   * commands of every write-behind of this turn of the event loop go out together in one
   * pipeline (the misses one batched policy answer resolves arrive together: measured,
   * one pipeline a miss cost ~8% of the auth-service's CPU on new decisions). Any other
   * L2 call sends the queued writes first, on the same connection, so Redis sees every
   * write before a later delete or clear. Never rejects; {@link close} waits for it.
   * With `l2: false` (a first-seen key that skipped L2, see FirstSeenAdmission) only L1
   * is offered the entries.
   */
  writeBehind(items: Prepared[], options: { l2?: boolean } = {}): void {
    if (options.l2 === false) {
      for (const { entry, json } of items) entry.unwrittenJson = json;
      this.#placeInL1(items, false);
      return;
    }
    this.#queuedWrites.push(...this.#placeInL1(items));
    if (this.#queuedWrites.length > 0 && this.#flushTimer === undefined) this.#flushTimer = setImmediate(() => this.#flushWrites());
  }

  /** Writes an L1-only entry to L2 (write-behind) for the rest of its life: it was asked again. */
  writeDeferred(full: string, entry: Entry): void {
    const json = entry.unwrittenJson;
    entry.unwrittenJson = undefined;
    const lifeMs = entry.graceUntil - Date.now();
    if (json === undefined || lifeMs <= 0 || this.#l2 === undefined) return;
    this.#queuedWrites.push(...this.#l2Commands(full, entry, json, lifeMs));
    this.#flushTimer ??= setImmediate(() => this.#flushWrites());
  }

  #flushWrites(): void {
    clearImmediate(this.#flushTimer);
    this.#flushTimer = undefined;
    if (this.#queuedWrites.length === 0) return;
    const pending = this.batch('set', this.#queuedWrites.splice(0)).then((replies) => replies !== undefined);
    this.#writesBehind.add(pending);
    void pending.finally(() => this.#writesBehind.delete(pending));
  }

  /** Offers each entry to L1 (or drops an older copy it declines) and returns its L2 commands (none with `l2: false`). */
  #placeInL1(items: Prepared[], l2 = true): L2Command[] {
    const commands: L2Command[] = [];
    for (const { full, entry, json, lifeMs } of items) {
      this.#counters.writes += 1;
      if (!this.l1.offer(full, entry, this.l1.sketch.estimate(entry.hash), 'write')) this.l1.delete(full);
      if (l2) commands.push(...this.#l2Commands(full, entry, json, lifeMs));
    }
    return commands;
  }

  /**
   * The L2 commands storing one entry and its tags for `lifeMs`. A tag is a sorted set of
   * the keys carrying it, each scored by when it leaves L2, and each write also drops the
   * members gone for over TAG_CLOCK_MARGIN_MS: a tag in steady use (a busy principal's)
   * never expires as a whole, so a plain set grew by every key ever written under it (a
   * soak: 25 members a second, over half of them dead after 200 s), and an invalidation
   * read and deleted all of them at once.
   */
  #l2Commands(full: string, entry: Entry, json: string, lifeMs: number): L2Command[] {
    const commands: L2Command[] = [['set', full, encodeEntry(json, entry.expiresAt, entry.graceUntil, entry.tags), 'PX', lifeMs]];
    for (const tag of entry.tags) {
      const tagKey = this.tagKey(tag);
      commands.push(
        ['zadd', tagKey, entry.graceUntil, full],
        // graceUntil - lifeMs: the time lifeMs was measured from.
        ['zremrangebyscore', tagKey, '-inf', `(${entry.graceUntil - lifeMs - TAG_CLOCK_MARGIN_MS}`],
        ['pexpire', tagKey, lifeMs, 'NX'],
        ['pexpire', tagKey, lifeMs, 'GT'],
      );
    }
    return commands;
  }

  /** The Redis sorted set of the keys that carry `tag`, scored by when each leaves L2 (ms). */
  tagKey(tag: string): string {
    return `${this.#o.prefix}tz:${tag}`;
  }

  /** The Redis sorted set recording the hottest keys, for warm starts. */
  get hotKey(): string {
    return `${this.#o.prefix}h`;
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
    if (this.#transport === undefined) return;
    try {
      await this.#transport.publish({ ...event, cache: this.#o.name, origin: this.id });
    } catch (error) {
      this.#logFailure('cache invalidation publish failed', { err: error });
    }
  }

  /**
   * Receives the other instances' {@link publish}es: what they name leaves L1 and is
   * emitted as `invalidated`. Returns the unsubscribe; undefined without a transport.
   */
  async listen(): Promise<(() => Promise<void>) | undefined> {
    if (this.#transport === undefined) return undefined;
    return this.#transport.subscribe((event) => {
      // The channel is shared by every cache and echoes our own events, already applied here.
      if (event.cache !== this.#o.name || event.origin === this.id) return;
      this.dropLocal(event);
      this.emit('invalidated', event);
    });
  }

  /** Sets the gauges that are sampled rather than counted (L1 size). */
  refreshGauges(): void {
    this.#metrics.l1Entries.set(this.l1.size);
  }

  /** A snapshot of every counter and the intelligence score; changing it changes nothing here. */
  stats(): CacheStats {
    const c = this.l1.counters;
    const g = this.#guard;
    const base = {
      ...this.#counters,
      demotions: c.demotions,
      admitted: c.admitted,
      rejectedTooLarge: c.rejectedTooLarge,
      rejectedLukewarm: c.rejectedLukewarm,
      rejectedByAdmission: c.rejectedByAdmission,
      usefulAdmissions: c.useful,
      wastedAdmissions: c.wasted,
      l2Calls: g.calls,
      l2Failures: g.failures,
      l2Timeouts: g.timeouts,
      l2LocalStalls: g.localStalls,
      l2ShortCircuits: g.shortCircuits,
      l2RoundTrips: this.#l2?.roundTrips ?? 0,
      l1Entries: this.l1.size,
      l1Bytes: this.l1.bytes,
      sketchBytes: this.l1.sketch.bytes,
      l2SkippedFirstSeen: this.firstSeen.skipped,
    };
    return { ...base, breaker: g.breaker.state, score: intelligenceScore(base) };
  }

  /** Waits for the writes left behind, then closes L2 (its connection only if the cache opened it). */
  async close(): Promise<void> {
    this.#flushWrites();
    await Promise.allSettled([...this.#writesBehind]);
    await this.#l2?.close();
  }
}
