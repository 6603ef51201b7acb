import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { VerifiedToken } from './verifier.ts';

/**
 * Tokens already verified, so a client that sends the same bearer token on every request
 * pays the signature and claims checks once (measured: ~15% of the auth-service's CPU on a
 * cached decision). Keyed by the SHA-256 of the whole token, so a token that differs in
 * any byte (another signature included) is verified afresh, and memory stays ~200 bytes
 * an entry whatever the token's size.
 *
 * What is not remembered: revocation (the caller checks it on every request) and anything
 * outside the token's own `nbf`..`exp` (with the clock tolerance `jwt.verify` grants). An entry also
 * lives at most `maxAgeMs`, which bounds how long a key withdrawn from a JWKS still
 * vouches for tokens it signed.
 */
export class VerifiedTokenMemo {
  readonly #entries: LRUCache<string, { token: VerifiedToken; validFromMs: number; validUntilMs: number }>;
  readonly #maxAgeMs: number;
  readonly #toleranceMs: number;
  readonly #now: () => number;

  constructor(options: { maxEntries: number; maxAgeMs: number; clockToleranceSec: number; now: () => number }) {
    this.#entries = new LRUCache({ max: Math.max(1, options.maxEntries) });
    this.#maxAgeMs = options.maxAgeMs;
    this.#toleranceMs = options.clockToleranceSec * 1000;
    this.#now = options.now;
  }

  static #key(token: string): string {
    return createHash('sha256').update(token).digest('base64url');
  }

  /** The verified token if `token` was verified before and is still within its validity. */
  get(token: string): VerifiedToken | undefined {
    const key = VerifiedTokenMemo.#key(token);
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    const now = this.#now();
    if (now >= entry.validFromMs && now < entry.validUntilMs) return entry.token;
    this.#entries.delete(key);
    return undefined;
  }

  /** Remembers a token that just passed every check. */
  remember(token: string, verified: VerifiedToken): void {
    const now = this.#now();
    // jwt.verify refuses once now >= exp + tolerance (seconds); stay strictly inside that.
    const validUntilMs = Math.min(verified.exp * 1000 + this.#toleranceMs, now + this.#maxAgeMs);
    // ...and refuses while nbf > now + tolerance: a clock set back must not skip that either.
    const nbf = verified.claims['nbf'];
    const validFromMs = typeof nbf === 'number' ? nbf * 1000 - this.#toleranceMs : -Infinity;
    if (validUntilMs > now) this.#entries.set(VerifiedTokenMemo.#key(token), { token: verified, validFromMs, validUntilMs });
  }
}
