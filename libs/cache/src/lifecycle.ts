import type { HealthCheck } from '@portcullis/observability';
import { decodeEntry } from './codec.ts';
import type { CacheCore } from './core.ts';
import { hashKey as hashOf } from './sketch.ts';
import { intelligenceScore, type CacheStats } from './stats.ts';

const HOT_KEY_TTL_MS = 24 * 60 * 60 * 1000;

/**
 * What runs beside the request path: the invalidation subscription, the periodic
 * hot-key record and gauge refresh, warming, health and stats.
 */
export class Lifecycle {
  readonly #core: CacheCore;
  #timer: NodeJS.Timeout | undefined;
  #unsubscribe: (() => Promise<void>) | undefined;
  #started = false;
  closed = false;

  constructor(core: CacheCore) {
    this.#core = core;
  }

  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    const core = this.#core;
    if (core.transport !== undefined) {
      this.#unsubscribe = await core.transport.subscribe((event) => {
        if (event.cache !== core.o.name || event.origin === core.id) return;
        core.dropLocal(event);
        core.emit('invalidated', event);
      });
    }
    this.#timer = setInterval(() => void this.flushHotKeys(), core.o.hotFlushMs);
    this.#timer.unref();
    await this.warm();
  }

  /** Records the hottest L1 keys in a bounded sorted set, and refreshes gauges. */
  async flushHotKeys(): Promise<void> {
    const core = this.#core;
    core.metrics.l1Entries.set(core.l1.size);
    if (core.o.hotKeys === 0 || core.l2 === undefined) return;
    const hottest = core.l1.hottest(core.o.hotKeys);
    if (hottest.length === 0) return;
    const pairs = hottest.flatMap(({ key, frequency }) => [frequency, key]);
    await core.batch('hotKeys', [
      ['zadd', core.hotKey, ...pairs],
      ['zremrangebyrank', core.hotKey, 0, -(core.o.hotKeys + 1)],
      ['pexpire', core.hotKey, HOT_KEY_TTL_MS],
    ]);
  }

  /**
   * Loads the hottest recorded keys into L1 (two round trips) and seeds their sketch
   * counts, so a freshly started instance does not let one-off keys displace them.
   */
  async warm(): Promise<number> {
    const core = this.#core;
    if (core.o.hotKeys === 0 || core.l2 === undefined) return 0;
    const ranked = await core.batch('warm', [['zrevrange', core.hotKey, 0, core.o.hotKeys - 1, 'WITHSCORES']]);
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
      const hash = hashOf(key);
      const seed = Math.min(Math.max(1, scores[i] ?? 1), core.o.promoteAfterHits * 2);
      let frequency = 0;
      for (let n = 0; n < seed; n += 1) frequency = core.l1.sketch.increment(hash);
      if (core.l1.offer(key, { ...decoded, hash, hits: 0 }, frequency, 'write')) placed += 1;
    });
    return placed;
  }

  stats(): CacheStats {
    const core = this.#core;
    const c = core.l1.counters;
    const g = core.guard;
    const base = {
      ...core.counters,
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
      l2ShortCircuits: g.shortCircuits,
      l2RoundTrips: core.l2?.roundTrips ?? 0,
      l1Entries: core.l1.size,
      l1Bytes: core.l1.bytes,
      sketchBytes: core.l1.sketch.bytes,
    };
    return { ...base, breaker: g.breaker.state, score: intelligenceScore(base) };
  }

  health(): HealthCheck {
    const core = this.#core;
    return {
      name: `cache:${core.o.name}`,
      critical: core.o.healthCritical,
      check: () => {
        if (core.l2 === undefined) return { status: 'up', detail: { l2: 'none' } };
        const breaker = core.guard.breaker.state;
        const detail = { breaker, l2Ready: core.l2.ready, l1Entries: core.l1.size, score: this.stats().score };
        if (breaker === 'open' || !core.l2.ready) return { status: 'down', detail };
        return { status: breaker === 'half-open' ? 'degraded' : 'up', detail };
      },
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.#timer);
    await this.#unsubscribe?.();
    await Promise.allSettled([...this.#core.writesBehind]);
    await this.#core.l2?.close();
  }
}
