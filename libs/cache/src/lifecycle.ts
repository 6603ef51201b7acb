import type { HealthCheck } from '@portcullis/observability';
import { decodeEntry } from './codec.ts';
import type { CacheCore } from './core.ts';
import { hashKey } from './sketch.ts';

const HOT_KEY_TTL_MS = 24 * 60 * 60 * 1000;

/**
 * What runs beside the request path: the invalidation subscription, the periodic
 * hot-key record and gauge refresh, warming, health, and the order of shutdown.
 */
export class Lifecycle {
  readonly #core: CacheCore;
  #timer: NodeJS.Timeout | undefined;
  #unsubscribe: (() => Promise<void>) | undefined;
  #started = false;
  #closed = false;

  constructor(core: CacheCore) {
    this.#core = core;
  }

  /** Whether {@link close} has run: every view of the cache refuses calls from then on. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Subscribes to other instances' invalidations, starts the hot-key timer and warms L1 (once). */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    const core = this.#core;
    this.#unsubscribe = await core.listen();
    this.#timer = setInterval(() => void this.flushHotKeys(), core.options.hotFlushMs);
    this.#timer.unref();
    await this.warm();
  }

  /** Records the hottest L1 keys in a bounded sorted set, and refreshes gauges. */
  async flushHotKeys(): Promise<void> {
    const core = this.#core;
    core.refreshGauges();
    const { hotKeys } = core.options;
    if (hotKeys === 0 || !core.hasL2) return;
    const hottest = core.l1.hottest(hotKeys);
    if (hottest.length === 0) return;
    const pairs = hottest.flatMap(({ key, frequency }) => [frequency, key]);
    await core.batch('hotKeys', [
      ['zadd', core.hotKey, ...pairs],
      ['zremrangebyrank', core.hotKey, 0, -(hotKeys + 1)],
      ['pexpire', core.hotKey, HOT_KEY_TTL_MS],
    ]);
  }

  /**
   * Loads the hottest recorded keys into L1 (two round trips) and seeds their sketch
   * counts, so a freshly started instance does not let one-off keys displace them.
   */
  async warm(): Promise<number> {
    const core = this.#core;
    const { hotKeys, promoteAfterHits } = core.options;
    if (hotKeys === 0 || !core.hasL2) return 0;
    const ranked = await core.batch('warm', [['zrevrange', core.hotKey, 0, hotKeys - 1, 'WITHSCORES']]);
    const reply = ranked?.[0];
    if (!Array.isArray(reply) || reply.length === 0) return 0;
    const keys: string[] = [];
    const scores: number[] = [];
    for (let i = 0; i + 1 < reply.length; i += 2) {
      keys.push(String(reply[i]));
      scores.push(Number(reply[i + 1]));
    }
    const values = await core.batch(
      'warm',
      keys.map((key) => ['get', key]),
    );
    if (values === undefined) return 0;
    let placed = 0;
    const now = Date.now();
    keys.forEach((key, i) => {
      const raw = values[i];
      const decoded = typeof raw === 'string' ? decodeEntry(raw) : undefined;
      if (decoded === undefined || now >= decoded.expiresAt) return;
      const hash = hashKey(key);
      // The old instance's count, capped at the highest promotion bar: enough to hold the key
      // against one-off keys, not enough for another process's history to outweigh our reads.
      const seed = Math.min(Math.max(1, scores[i] ?? 1), promoteAfterHits * 2);
      let frequency = 0;
      for (let n = 0; n < seed; n += 1) frequency = core.l1.sketch.increment(hash);
      if (core.l1.offer(key, { ...decoded, hash, hits: 0 }, frequency, 'write')) placed += 1;
    });
    return placed;
  }

  /** A check for `Health.register`: down while the breaker is open or Redis is lost. */
  health(): HealthCheck {
    const core = this.#core;
    return {
      name: `cache:${core.options.name}`,
      critical: core.options.healthCritical,
      check: () => {
        const l2 = core.l2State;
        if (l2 === undefined) return { status: 'up', detail: { l2: 'none' } };
        const { breaker, ready } = l2;
        const detail = { breaker, l2Ready: ready, l1Entries: core.l1.size, score: core.stats().score };
        if (breaker === 'open' || !ready) return { status: 'down', detail };
        return { status: breaker === 'half-open' ? 'degraded' : 'up', detail };
      },
    };
  }

  /** Stops the timer and the subscription, then lets the core drain its writes and close L2. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#unsubscribe?.();
    await this.#core.close();
  }
}
