import type { HealthCheck } from '@portcullis/observability';
import { checkKey, checkTags, globEscape } from './codec.ts';
import { CacheClosedError, FactoryError, InvalidKeyError } from './errors.ts';
import { CacheCore, type Prepared, type WriteOptions } from './core.ts';
import type { InvalidationEvent } from './invalidation.ts';
import { Lifecycle } from './lifecycle.ts';
import type { CacheOptions } from './options.ts';
import type { Lookup } from './reader.ts';
import { hashKey } from './sketch.ts';
import type { CacheStats } from './stats.ts';

/** Options of {@link Cache.fetch} and {@link Cache.getOrSet}. */
export interface FetchOptions<T = unknown> extends WriteOptions {
  /**
   * Picks the operation type from the factory's value (e.g. `allow` vs `deny` decisions
   * with their own TTLs), when the type is only known once the value is.
   */
  typeOf?: (value: T) => string;
  /**
   * Whether the factory's value may be stored (default: always). A value refused here is
   * answered to this call and the callers sharing it, and stored nowhere: for a value that
   * does not belong under the key it was computed for.
   */
  storeIf?: (value: T) => boolean;
}

/** Whether a write or invalidation is announced to the other instances (default true). */
export interface Announce {
  announce?: boolean;
}

/** One entry of {@link Cache.setMany}. */
export interface SetManyItem<T = unknown> extends WriteOptions {
  key: string;
  value: T;
}

const NS = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * A two-level cache: L1 in process, L2 in Redis. Reads never throw because of Redis:
 * when it is slow or down they are served from L1 (stale within the grace period) or
 * miss. Writes validate first and throw typed errors for bad input only.
 *
 * A namespace (see {@link namespace}) is a view on the same tiers with its own key space
 * that can be cleared on its own.
 */
export class Cache {
  readonly #core: CacheCore;
  readonly #life: Lifecycle;
  readonly #ns: string;

  /** Prefer {@link createCache}, which also subscribes to invalidations and warms L1. */
  constructor(options: CacheOptions);
  constructor(core: CacheCore, life: Lifecycle, ns: string);
  constructor(arg: CacheOptions | CacheCore, life?: Lifecycle, ns?: string) {
    this.#core = arg instanceof CacheCore ? arg : new CacheCore(arg);
    this.#life = life ?? new Lifecycle(this.#core);
    this.#ns = ns ?? '';
  }

  /** The cache's name (its metric label). */
  get name(): string {
    return this.#core.options.name;
  }

  /** Subscribes to cross-instance invalidation and warms L1 from the hottest keys in L2. */
  async start(): Promise<void> {
    await this.#life.start();
  }

  /** A view with its own key space on the same tiers; `clear()` there clears only it. */
  namespace(name: string): Cache {
    if (typeof name !== 'string' || !NS.test(name))
      throw new InvalidKeyError(`namespace must match ${NS}, got ${String(name)}`, { context: { namespace: String(name) } });
    return new Cache(this.#core, this.#life, `${this.#ns}n:${name}:`);
  }

  /** The value if cached and fresh (or stale while L2 is unavailable), else undefined. */
  async get<T = unknown>(key: string): Promise<T | undefined> {
    return (await this.lookup<T>(key)).value;
  }

  /** Like {@link get}, and says where the value came from (`l1`, `l2`, `stale`, `miss`). */
  async lookup<T = unknown>(key: string): Promise<Lookup<T>> {
    this.#open();
    const { value, source } = await this.#core.reader.read(this.#full(key));
    return { value: value as T | undefined, source };
  }

  /**
   * The cached value, or the factory's, stored under the call's type. One factory call
   * per key at a time in this process: concurrent callers share it. When the factory
   * fails and an expired entry is within grace, that stale value is served instead.
   * @throws FactoryError when the factory fails with nothing to stand in
   */
  async getOrSet<T>(key: string, factory: () => T | Promise<T>, options?: FetchOptions<T>): Promise<T> {
    return (await this.fetch(key, factory, options)).value as T;
  }

  /** {@link getOrSet} that also says where the value came from. */
  async fetch<T>(key: string, factory: () => T | Promise<T>, options?: FetchOptions<T>): Promise<Lookup<T>> {
    this.#open();
    const core = this.#core;
    const full = this.#full(key);
    const tags = checkTags(options?.tags);
    core.policy(options); // a bad type or TTL throws before anything is read or computed
    const lookup = core.reader.read(full, {
      onMiss: async (miss) => {
        let value: unknown;
        try {
          value = await factory();
        } catch (error) {
          if (miss.stale !== undefined) return core.reader.serveStale(miss.stale.value);
          throw new FactoryError(`factory for "${key}" failed: ${error instanceof Error ? error.message : String(error)}`, {
            cause: error,
            context: { key },
          });
        }
        if (options?.storeIf !== undefined && !options.storeIf(value as T)) return { value, source: 'miss' };
        const typed = options?.typeOf ? { ...options, type: options.typeOf(value as T) } : options;
        const prepared = core.prepare(full, value, typed, tags);
        // Answer now; the L2 write (and its tags) follows without holding the caller.
        core.writeBehind([prepared], { l2: miss.skippedL2 !== true });
        return { value: prepared.entry.value, source: 'miss' };
      },
    });
    return lookup as Promise<Lookup<T>>;
  }

  /**
   * Stores a value in L2 and, by placement, in L1; other instances drop their copy, unless
   * `announce: false` (a key no other instance can hold, or one the caller's own event
   * already tells every instance about).
   */
  async set(key: string, value: unknown, options?: WriteOptions & Announce): Promise<void> {
    await this.setMany([{ key, value, ...options }], options);
  }

  /** Values of many keys, in order; the L1 misses go to Redis in one round trip. */
  async getMany<T = unknown>(keys: readonly string[]): Promise<(T | undefined)[]> {
    this.#open();
    return (await this.#core.reader.readMany(keys.map((key) => this.#full(key)))) as (T | undefined)[];
  }

  /** Stores many values in one Redis round trip; all are validated before any is written. */
  async setMany(items: readonly SetManyItem[], options: Announce = {}): Promise<void> {
    this.#open();
    const prepared: Prepared[] = items.map((item) => this.#core.prepare(this.#full(item.key), item.value, item, checkTags(item.tags)));
    await this.#core.write(prepared);
    if (options.announce !== false) await this.#core.publish({ keys: prepared.map((p) => p.full) });
  }

  /** Removes a key from both tiers and from every instance's L1. */
  async delete(key: string): Promise<boolean> {
    return this.deleteMany([key]);
  }

  /** Removes keys in one round trip; false when L2 could not be reached (L1 is dropped anyway). */
  async deleteMany(keys: readonly string[]): Promise<boolean> {
    this.#open();
    const fulls = keys.map((key) => this.#full(key));
    this.#core.dropLocal({ keys: fulls });
    const replies = await this.#core.batch(
      'delete',
      fulls.map((full) => ['unlink', full]),
    );
    await this.#core.publish({ keys: fulls });
    return replies !== undefined || !this.#core.hasL2;
  }

  /** Removes every entry carrying one of the tags, here and (unless `announce: false`) on every instance. */
  async invalidateTags(tags: readonly string[], options: Announce = {}): Promise<boolean> {
    this.#open();
    const valid = checkTags([...tags]);
    const core = this.#core;
    core.dropLocal({ tags: valid });
    let ok = !core.hasL2;
    const members = await core.batch(
      'tagMembers',
      valid.map((tag) => ['zrange', core.tagKey(tag), 0, -1]),
    );
    if (members !== undefined) {
      const keys = members.flatMap((reply) => (Array.isArray(reply) ? (reply as string[]) : []));
      const unlinked = await core.batch(
        'invalidateTags',
        [...keys, ...valid.map((tag) => core.tagKey(tag))].map((k) => ['unlink', k]),
      );
      ok = unlinked !== undefined;
    }
    if (options.announce !== false) await core.publish({ tags: valid });
    return ok;
  }

  /**
   * Drops keys or tagged entries from this instance's L1 only: for an event every
   * instance receives anyway (the bus's `cache.invalidate`, `token.revoked`), so nothing
   * is announced and L2 is left to the event's sender.
   */
  forgetLocally(what: { keys?: readonly string[]; tags?: readonly string[] }): void {
    this.#open();
    this.#core.dropLocal({ keys: (what.keys ?? []).map((key) => this.#full(key)), tags: checkTags([...(what.tags ?? [])]) });
  }

  /** Removes every entry of this namespace (of the whole cache at the root). */
  async clear(): Promise<boolean> {
    this.#open();
    const core = this.#core;
    const prefix = core.options.prefix + this.#ns;
    core.dropLocal({ prefixes: [prefix] });
    // A SCAN over the whole keyspace: far slower than any request-path call, hence its own timeout.
    const deleted = await core.l2Call('clear', (l2) => l2.deleteMatching(`${globEscape(prefix)}*`), 30_000);
    await core.publish({ prefixes: [prefix] });
    return deleted !== undefined || !core.hasL2;
  }

  /** Whether the key is in L1 now, and its frequency estimate (diagnostics). */
  inspect(key: string): { inL1: boolean; frequency: number } {
    const full = this.#full(key);
    return { inL1: this.#core.l1.peek(full) !== undefined, frequency: this.#core.l1.sketch.estimate(hashKey(full)) };
  }

  /**
   * Calls `listener` whenever an invalidation from another instance dropped entries
   * here; returns the function that stops it.
   */
  onInvalidation(listener: (event: InvalidationEvent) => void): () => void {
    this.#core.on('invalidated', listener);
    return () => this.#core.off('invalidated', listener);
  }

  /** Counters and the intelligence score. */
  stats(): CacheStats {
    return this.#core.stats();
  }

  /** A check for `Health.register`: down while the breaker is open or Redis is lost. */
  health(): HealthCheck {
    return this.#life.health();
  }

  /** Writes the hottest keys to Redis now (it also happens every `hotFlushMs`). */
  async flushHotKeys(): Promise<void> {
    await this.#life.flushHotKeys();
  }

  /** Loads the hottest recorded keys into L1; returns how many were placed. */
  async warm(): Promise<number> {
    return this.#life.warm();
  }

  /** Stops timers and the subscription; closes the Redis connection if the cache opened it. */
  async close(): Promise<void> {
    await this.#life.close();
  }

  #open(): void {
    if (this.#life.closed) throw new CacheClosedError(`cache ${this.name} is closed`, { context: { cache: this.name } });
  }

  #full(key: string): string {
    const { prefix, maxKeyLength } = this.#core.options;
    return `${prefix}${this.#ns}k:${checkKey(key, maxKeyLength)}`;
  }
}

/** Creates a cache, subscribes it to invalidations and warms its L1. */
export async function createCache(options: CacheOptions): Promise<Cache> {
  const cache = new Cache(options);
  await cache.start();
  return cache;
}
