import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '@portcullis/observability';
import { retryUntilDone, withDeadline } from '@portcullis/resilience';
import { writeReplicated, type RedisClient, type RedisPipeline } from '@portcullis/redis';

/**
 * Every revoked token's `jti`, scored by the token's `exp` (seconds): one sorted set, so
 * one Cluster slot (the hash tag). Entries past their `exp` and the verifier's clock
 * tolerance are trimmed on each write: such a token is refused anyway.
 */
export const REVOKED_TOKENS_KEY = 'portcullis:{revoked}:tokens';

/** The counter each revocation bumps, beside the set (same hash tag, same slot). */
const versionKeyOf = (key: string): string => `${key}:version`;

/**
 * Where revocations outlive the process that took them. The `token.revoked` event tells
 * the instances running when it is sent; an instance started later (a restart, a scale
 * out) reads this set before it calls itself ready, so a revoked token is refused there
 * too, for the rest of its life.
 */
export class RevocationStore {
  readonly #redis: RedisClient;
  readonly #key: string;
  readonly #versionKey: string;
  readonly #replicas: number;
  readonly #toleranceSec: number;

  /**
   * `replicas` (REDIS_WAIT_REPLICAS) must hold each revocation before `add` resolves, so a
   * master killed right after cannot take it away. Revocations are rare: the WAIT may hold
   * `redis` for up to a second when a replica lags, so no connection of its own is kept.
   * `toleranceSec` (JWT_CLOCK_TOLERANCE_SEC): how long past `exp` a token is still
   * accepted, so how long past it a revocation must still be kept and loaded.
   */
  constructor(redis: RedisClient, options: { key?: string; replicas?: number; toleranceSec?: number } = {}) {
    this.#redis = redis;
    this.#key = options.key ?? REVOKED_TOKENS_KEY;
    this.#versionKey = versionKeyOf(this.#key);
    this.#replicas = options.replicas ?? 0;
    this.#toleranceSec = options.toleranceSec ?? 0;
  }

  /**
   * Records `jti` until `expiresAtSec` (a later `exp` wins), trims what has expired and
   * bumps {@link version}, in one round trip. Rejects after `timeoutMs` without an answer
   * (Redis away: its client would otherwise keep the command through reconnects for
   * ~15 s), or with `NotReplicatedError` when fewer than the asked replicas hold it (the
   * master has it then); a write that timed out may still land later, which is harmless.
   */
  async add(jti: string, expiresAtSec: number, timeoutMs = 2000): Promise<void> {
    const oldestAccepted = Math.floor(Date.now() / 1000) - this.#toleranceSec;
    const write = (pipeline: RedisPipeline): RedisPipeline =>
      pipeline.zremrangebyscore(this.#key, '-inf', `(${oldestAccepted}`).zadd(this.#key, 'GT', expiresAtSec, jti).incr(this.#versionKey);
    await withDeadline(writeReplicated(this.#redis, this.#replicas, write), timeoutMs, 'Redis, storing the revocation,');
  }

  /** Changes with every `add`: a reader that saw this value already holds every revocation. */
  async version(): Promise<string | null> {
    return this.#redis.get(this.#versionKey);
  }

  /**
   * Hands every unexpired revocation to `revoke` and says how many there were. One read:
   * the set holds only tokens still alive, which the revocation list's own bound
   * (100 000 by default) already has to hold in memory.
   */
  async load(revoke: (jti: string, expiresAtSec: number) => unknown): Promise<number> {
    const oldestAccepted = Math.floor(Date.now() / 1000) - this.#toleranceSec;
    const flat = await this.#redis.zrangebyscore(this.#key, oldestAccepted, '+inf', 'WITHSCORES');
    for (let index = 0; index + 1 < flat.length; index += 2) revoke(flat[index] as string, Number(flat[index + 1]));
    return flat.length / 2;
  }
}

/**
 * Loads the stored revocations into `list` and marks it loaded, trying again (backoff
 * from 0.1 s to 2 s) while Redis refuses: the instance stays not ready, refusing tokens,
 * rather than accept one it cannot check. Resolves false if `signal` stopped it first.
 */
export async function loadRevocations(
  store: RevocationStore,
  list: { revoke(jti: string, expiresAtSec: number): unknown; markLoaded(): void },
  log: Logger,
  signal: AbortSignal,
): Promise<boolean> {
  return retryUntilDone(
    async () => {
      const count = await store.load((jti, exp) => list.revoke(jti, exp));
      list.markLoaded();
      log.info({ revocations: count }, 'revocations loaded');
    },
    {
      baseMs: 100,
      maxMs: 2000,
      signal,
      onFailure: (error, retryInMs) => log.warn({ err: error, retryInMs }, 'cannot load revocations yet; refusing tokens until they are'),
    },
  );
}

/**
 * Reads the store again every `everyMs` until `signal` stops it, so each instance ends up
 * holding every stored revocation even when a `token.revoked` event never reached it (its
 * publish failed after the store took the revocation, or the stream was trimmed while the
 * instance was away). Each turn costs one GET while nothing was revoked since the last
 * read; otherwise the set is read whole (revoking is idempotent). A failed read is logged
 * and tried at the next turn. Call it once {@link loadRevocations} has resolved true.
 */
export async function resyncRevocations(
  store: Pick<RevocationStore, 'load' | 'version'>,
  list: { revoke(jti: string, expiresAtSec: number): unknown; readonly size: number },
  log: Logger,
  signal: AbortSignal,
  everyMs: number,
): Promise<void> {
  let seen: string | null | undefined;
  while (await sleep(everyMs, true, { signal, ref: false }).catch(() => false)) {
    try {
      const version = await store.version();
      if (version === seen) continue;
      const held = list.size;
      const stored = await store.load((jti, exp) => list.revoke(jti, exp));
      seen = version;
      // Growth means an event was missed; expired entries leaving can hide some of it.
      if (list.size > held) log.warn({ stored, learned: list.size - held }, 'revocations found in the store that no event brought');
    } catch (error) {
      log.warn({ err: error, retryInMs: everyMs }, 'cannot read the revocation store; trying again at the next resync');
    }
  }
}
