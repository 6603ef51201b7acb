import { LRUCache } from 'lru-cache';

/** How many wrong secrets lock a client id, for how long, and how many ids are tracked. */
export interface AttemptLimiterOptions {
  /** Failed attempts within `windowMs` that lock the key (default 5). */
  maxFailures?: number;
  /** The window the failures are counted in, from the first one (default 60 000 ms). */
  windowMs?: number;
  /** The first lockout (default 60 000 ms); each failure after a lockout doubles it. */
  lockoutMs?: number;
  /** The longest lockout (default 900 000 ms). */
  maxLockoutMs?: number;
  /** Keys tracked at most (default 10 000); the least recently used is forgotten first. */
  maxEntries?: number;
  /** The clock (default `Date.now`, read on every call, so fake timers move it). */
  now?: () => number;
}

interface Entry {
  /** Failures since `since` (only counted until the first lockout). */
  failures: number;
  since: number;
  /** Locked while `now < lockedUntil`. */
  lockedUntil: number;
  /** Lockouts so far: the next one lasts `lockoutMs * 2 ** lockouts`. */
  lockouts: number;
}

const positiveInt = (name: string, value: number): number => {
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, received ${String(value)}`);
  return value;
};

/**
 * Counts failed attempts per key (a presented client id and its source) and locks the key after
 * `maxFailures` of them within `windowMs`: {@link retryAfterMs} is then positive until the
 * lockout ends, whatever the next attempt would have been. After a lockout, every further
 * failure locks again at once for twice as long (up to `maxLockoutMs`); a success
 * ({@link recordSuccess}) forgets the key, and so does a quiet `windowMs` after the last
 * lockout ended.
 *
 * Memory is bounded: at most `maxEntries` keys, least recently used forgotten first, so
 * made-up client ids cannot grow it. A forgotten key starts afresh; an attacker who wants
 * that for one id must first make `maxEntries` other ids fail.
 *
 * Per instance: the counts live in this process. N instances behind one address allow N
 * times the attempts, and a restart forgets them. A shared counter (one Redis key per
 * client id, `INCR` with a TTL) would make the limit global; that is a possible follow-up.
 */
export class AttemptLimiter {
  readonly #entries: LRUCache<string, Entry>;
  readonly #maxFailures: number;
  readonly #windowMs: number;
  readonly #lockoutMs: number;
  readonly #maxLockoutMs: number;
  readonly #now: () => number;

  constructor(options: AttemptLimiterOptions = {}) {
    this.#maxFailures = positiveInt('maxFailures', options.maxFailures ?? 5);
    this.#windowMs = positiveInt('windowMs', options.windowMs ?? 60_000);
    this.#lockoutMs = positiveInt('lockoutMs', options.lockoutMs ?? 60_000);
    this.#maxLockoutMs = positiveInt('maxLockoutMs', options.maxLockoutMs ?? 900_000);
    if (this.#maxLockoutMs < this.#lockoutMs) {
      throw new RangeError(`maxLockoutMs must be at least lockoutMs (${this.#lockoutMs}), received ${this.#maxLockoutMs}`);
    }
    this.#entries = new LRUCache({ max: positiveInt('maxEntries', options.maxEntries ?? 10_000) });
    this.#now = options.now ?? (() => Date.now());
  }

  /** Milliseconds until `key` may try again; 0 when it is not locked. */
  retryAfterMs(key: string): number {
    const now = this.#now();
    const entry = this.#live(key, now);
    return entry === undefined ? 0 : Math.max(0, entry.lockedUntil - now);
  }

  /** Counts a failed attempt; returns the lockout it started (ms), 0 if none. */
  recordFailure(key: string): number {
    const now = this.#now();
    const entry = this.#live(key, now) ?? { failures: 0, since: now, lockedUntil: 0, lockouts: 0 };
    entry.failures += 1;
    let lockMs = 0;
    if (entry.lockouts > 0 || entry.failures >= this.#maxFailures) {
      lockMs = Math.min(this.#lockoutMs * 2 ** entry.lockouts, this.#maxLockoutMs);
      entry.lockouts += 1;
      entry.lockedUntil = now + lockMs;
    }
    this.#entries.set(key, entry);
    return lockMs;
  }

  /** A successful attempt: the key starts afresh. */
  recordSuccess(key: string): void {
    this.#entries.delete(key);
  }

  /** Keys tracked now (expired ones included until touched or evicted). */
  get size(): number {
    return this.#entries.size;
  }

  /** The key's entry unless its window (or the quiet window after its last lockout) has passed. */
  #live(key: string, now: number): Entry | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    const expires = entry.lockouts > 0 ? entry.lockedUntil + this.#windowMs : entry.since + this.#windowMs;
    if (now < expires) return entry;
    this.#entries.delete(key);
    return undefined;
  }
}
