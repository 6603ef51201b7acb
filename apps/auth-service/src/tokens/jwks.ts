import { importJwks, type ResolvedKey } from './keys.ts';
import { TokenUnknownKeyError } from './errors.ts';

/** Resolved options of {@link JwksKeySource}; defaults are applied by the verifier's options. */
export interface JwksSourceOptions {
  url: string;
  /** Minimum time between two fetches, whatever triggers them (unknown kids, failures). */
  cooldownMs: number;
  /** Age after which the set is refetched anyway, so keys the IdP removed stop verifying. */
  maxAgeMs: number;
  /** Abort a fetch after this long. */
  timeoutMs: number;
  /** Larger documents are refused (an IdP does not publish megabytes of keys). */
  maxBytes: number;
  now: () => number;
  fetch: typeof globalThis.fetch;
}

/**
 * Keys from a JWKS URL, cached. An unknown `kid` triggers at most one refetch, and fetches are
 * spaced by `cooldownMs` whatever asks for them, so a flood of made-up kids costs the IdP one
 * request per cooldown. A failed fetch keeps the keys already held (they did not become bad)
 * and never produces a key: with nothing held, verification is refused.
 */
export class JwksKeySource {
  readonly #o: JwksSourceOptions;
  #keys: Map<string, ResolvedKey> | undefined;
  #loadedAt = 0;
  #lastAttemptAt = Number.NEGATIVE_INFINITY;
  #inFlight: Promise<void> | undefined;
  #lastError: unknown;
  /** Fetches started, for metrics and tests. */
  fetches = 0;

  constructor(options: JwksSourceOptions) {
    this.#o = options;
  }

  /** The key for `kid`, or a `TokenUnknownKeyError` (unknown kid, or no key set available). */
  async resolve(kid: string): Promise<ResolvedKey> {
    if (this.#keys === undefined || this.#o.now() - this.#loadedAt >= this.#o.maxAgeMs) await this.#refresh();
    const held = this.#keys?.get(kid);
    if (held !== undefined) return held;
    // Unknown kid: perhaps the IdP rotated. One refetch, unless one happened within the cooldown.
    await this.#refresh();
    const fresh = this.#keys?.get(kid);
    if (fresh !== undefined) return fresh;
    if (this.#keys === undefined) {
      throw new TokenUnknownKeyError('no verification keys available: the JWKS could not be fetched', {
        cause: this.#lastError,
        context: { reason: 'jwks_unavailable' },
      });
    }
    throw new TokenUnknownKeyError("no key for the token's kid", { context: { kid: kid.slice(0, 64) } });
  }

  /** Fetches unless a fetch is running (then joins it) or one started within the cooldown. */
  async #refresh(): Promise<void> {
    if (this.#inFlight !== undefined) return this.#inFlight;
    const now = this.#o.now();
    if (now - this.#lastAttemptAt < this.#o.cooldownMs) return;
    this.#lastAttemptAt = now;
    this.fetches++;
    this.#inFlight = this.#load().finally(() => {
      this.#inFlight = undefined;
    });
    return this.#inFlight;
  }

  async #load(): Promise<void> {
    try {
      const res = await this.#o.fetch(this.#o.url, {
        headers: { accept: 'application/json' },
        // A redirect would let whoever controls the first host pick the keys' origin.
        redirect: 'error',
        signal: AbortSignal.timeout(this.#o.timeoutMs),
      });
      if (!res.ok) throw new Error(`JWKS answered HTTP ${res.status}`);
      const length = Number(res.headers.get('content-length') ?? '0');
      if (length > this.#o.maxBytes) throw new Error(`JWKS document of ${length} bytes is over the limit`);
      const text = await res.text();
      if (Buffer.byteLength(text) > this.#o.maxBytes) throw new Error('JWKS document is over the size limit');
      const keys = importJwks(JSON.parse(text));
      if (keys.size === 0) throw new Error('JWKS document holds no usable signature key');
      this.#keys = keys;
      this.#loadedAt = this.#o.now();
      this.#lastError = undefined;
    } catch (error) {
      this.#lastError = error;
    }
  }
}
