import { closeRedis, duplicateRedis, type RedisClient } from '@portcullis/redis';

/**
 * What one instance tells the others to drop from their L1 (the `cache.invalidate`
 * event's payload). L2 was already changed by the publisher.
 */
export interface InvalidationEvent {
  /** The cache's name: instances drop entries only from the cache of that name. */
  cache: string;
  /** The publishing instance; it ignores its own events. */
  origin: string;
  /** Full keys to drop. */
  keys?: string[];
  /** Tags whose entries to drop. */
  tags?: string[];
  /** Full-key prefixes to drop (a namespace's or the whole cache's `clear()`). */
  prefixes?: string[];
}

/**
 * The cross-instance channel: two members, so the message bus can implement it later.
 * Delivery may be at most once (Redis pub/sub) or at least once (the bus); handling an
 * event twice is harmless.
 */
export interface InvalidationTransport {
  publish(event: InvalidationEvent): Promise<void>;
  /** Starts delivering events to `handler`; resolves once subscribed, with an unsubscribe. */
  subscribe(handler: (event: InvalidationEvent) => void): Promise<() => Promise<void>>;
}

function isEvent(value: unknown): value is InvalidationEvent {
  if (value === null || typeof value !== 'object') return false;
  const { cache, origin, keys, tags, prefixes } = value as Record<string, unknown>;
  const list = (v: unknown): boolean => v === undefined || (Array.isArray(v) && v.every((item) => typeof item === 'string'));
  return typeof cache === 'string' && typeof origin === 'string' && list(keys) && list(tags) && list(prefixes);
}

/**
 * {@link InvalidationTransport} over Redis pub/sub (works on a Cluster too: PUBLISH
 * reaches every node): the cache's own announcements of its writes and invalidations,
 * at pub/sub latency. At most once: a message sent while an instance is disconnected is
 * lost, so L1 TTLs bound staleness. What must reach every instance (a revocation, a
 * policy version) travels on the message bus instead, at least once; its handlers drop
 * L1 with `Cache.forgetLocally` and do not announce again.
 */
export class RedisPubSubInvalidation implements InvalidationTransport {
  readonly channel: string;
  readonly #publisher: RedisClient;
  #subscriber: RedisClient | undefined;
  readonly #handlers = new Set<(event: InvalidationEvent) => void>();

  /** @param options.redis the publishing client (caller-owned); a duplicate subscribes */
  constructor(options: { redis: RedisClient; channel?: string }) {
    this.#publisher = options.redis;
    this.channel = options.channel ?? 'pc:cache:invalidate';
  }

  async publish(event: InvalidationEvent): Promise<void> {
    await this.#publisher.publish(this.channel, JSON.stringify(event));
  }

  async subscribe(handler: (event: InvalidationEvent) => void): Promise<() => Promise<void>> {
    this.#handlers.add(handler);
    if (this.#subscriber === undefined) {
      const subscriber = duplicateRedis(this.#publisher, 'subscriber');
      this.#subscriber = subscriber;
      subscriber.on('message', (_channel: string, message: string) => this.#deliver(message));
      await subscriber.subscribe(this.channel);
    }
    return async () => {
      this.#handlers.delete(handler);
      if (this.#handlers.size === 0) await this.close();
    };
  }

  /** Closes the subscribing connection. */
  async close(): Promise<void> {
    const subscriber = this.#subscriber;
    this.#subscriber = undefined;
    if (subscriber !== undefined) await closeRedis(subscriber);
  }

  #deliver(message: string): void {
    let event: unknown;
    try {
      event = JSON.parse(message);
    } catch {
      return; // not ours: someone else published on the channel
    }
    if (!isEvent(event)) return;
    for (const handler of this.#handlers) handler(event);
  }
}
