import { RevocationsUnknownError } from './errors.ts';

/** Options of {@link RevocationList}. */
export interface RevocationListOptions {
  /** Bound on entries (default 100 000). Size it above the revocations expected within one token TTL. */
  maxEntries?: number;
  /** The clock, in ms since the epoch (tests pass a fake one). */
  now?: () => number;
  /**
   * How long past its `exp` the verifier still accepts a token (its clock tolerance,
   * JWT_CLOCK_TOLERANCE_SEC): a revocation is held that much longer, or the token would
   * be accepted again in between. Default 0.
   */
  toleranceSec?: number;
  /**
   * False when earlier revocations are still to be loaded (from the `RevocationStore`):
   * until {@link RevocationList.markLoaded}, `isRevoked` throws. Default true.
   */
  loaded?: boolean;
}

const MAX_JTI = 256;
/** Sweep expired entries every this many insertions, so memory follows expiry without a timer. */
const SWEEP_EVERY = 1024;

/**
 * The `jti`s of revoked tokens, each kept until the token's own `exp` plus the verifier's
 * clock tolerance (after that the token is refused as expired anyway). Fed locally by
 * `POST /revoke` and on every instance by the `token.revoked` bus event; consulted on
 * every request, so `isRevoked` is one Map lookup.
 *
 * Memory is bounded twice: entries leave at their expiry (lazily on lookup, and by a sweep every
 * {@link SWEEP_EVERY} insertions or when full), and past `maxEntries` the oldest revocation is
 * evicted. Eviction re-admits a still-valid revoked token, so it is counted in `evicted`: a
 * non-zero value means `maxEntries` is too small for the revocation rate.
 */
export class RevocationList {
  readonly #entries = new Map<string, number>();
  readonly #max: number;
  readonly #now: () => number;
  readonly #toleranceMs: number;
  #sinceSweep = 0;
  #loaded: boolean;
  /** Still-unexpired revocations dropped because the list was full. */
  evicted = 0;

  constructor(options: RevocationListOptions = {}) {
    const max = options.maxEntries ?? 100_000;
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`maxEntries must be an integer ≥ 1, received ${String(max)}`);
    this.#max = max;
    this.#now = options.now ?? Date.now;
    this.#toleranceMs = (options.toleranceSec ?? 0) * 1000;
    this.#loaded = options.loaded ?? true;
  }

  /** Whether the revocations taken before this process started are in. */
  get loaded(): boolean {
    return this.#loaded;
  }

  /** Earlier revocations are in: tokens can be checked from now on. */
  markLoaded(): void {
    this.#loaded = true;
  }

  /** Entries held (expired ones not yet swept included). */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Refuses `jti` until `expiresAtSec` (the token's `exp`, seconds since the epoch) and the
   * tolerance after it. Idempotent, as bus delivery is at least once. Returns false when
   * nothing was recorded (bad input, or a token no longer accepted anyway).
   */
  revoke(jti: string, expiresAtSec: number): boolean {
    if (typeof jti !== 'string' || jti === '' || jti.length > MAX_JTI) return false;
    if (!Number.isFinite(expiresAtSec)) return false;
    const expiresAtMs = expiresAtSec * 1000 + this.#toleranceMs;
    if (expiresAtMs <= this.#now()) return false;
    const held = this.#entries.get(jti);
    if (held !== undefined) {
      // Keep the later expiry; re-inserting would let a replay refresh its eviction order.
      if (expiresAtMs > held) this.#entries.set(jti, expiresAtMs);
      return true;
    }
    if (++this.#sinceSweep >= SWEEP_EVERY || this.#entries.size >= this.#max) this.sweep();
    while (this.#entries.size >= this.#max) {
      // Map iteration is insertion order: the first key is the oldest revocation.
      const oldest = this.#entries.keys().next();
      if (oldest.done === true) break;
      this.#entries.delete(oldest.value);
      this.evicted++;
    }
    this.#entries.set(jti, expiresAtMs);
    return true;
  }

  /**
   * Whether `jti` is revoked and its token not yet expired. Throws
   * {@link RevocationsUnknownError} while earlier revocations are not loaded.
   */
  isRevoked(jti: string): boolean {
    if (!this.#loaded) throw new RevocationsUnknownError('revocations taken before this process started are not loaded yet');
    const expiresAtMs = this.#entries.get(jti);
    if (expiresAtMs === undefined) return false;
    if (expiresAtMs > this.#now()) return true;
    this.#entries.delete(jti);
    return false;
  }

  /** Drops every expired entry; returns how many. Cheap enough to call from an interval too. */
  sweep(): number {
    this.#sinceSweep = 0;
    const now = this.#now();
    let dropped = 0;
    for (const [jti, expiresAtMs] of this.#entries) {
      if (expiresAtMs <= now) {
        this.#entries.delete(jti);
        dropped++;
      }
    }
    return dropped;
  }
}
