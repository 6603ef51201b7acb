import {
  createLogger,
  portcullisMetrics,
  validTraceparent,
  type HealthCheck,
  type Logger,
  type PortcullisMetrics,
} from '@portcullis/observability';
import { closeRedis, duplicateRedis, openRedis, writeReplicated, type RedisClient } from '@portcullis/redis';
import { withBusScripts, type BusPipeline, type BusScripts } from './scripts.ts';
import { DeadLetters } from './dead-letters.ts';
import { createEnvelope, ENVELOPE_FIELD, isValidMessageId } from './envelope.ts';
import { BusClosedError, PublishError, ShutdownTimeoutError } from './errors.ts';
import { isValidTopic, PRIORITIES, streamKey, type Priority } from './keys.ts';
import { resolveBusOptions, resolveSubscribeOptions, type BusOptions, type ResolvedBusOptions, type SubscribeOptions } from './options.ts';
import { Subscription } from './subscription.ts';
import type { BatchHandler, Handler, PublishOptions } from './types.ts';

/**
 * Most messages one busPublishMany call carries: a script runs without interruption,
 * so a huge batch is cut up to keep Redis responsive to other clients meanwhile.
 */
const PUBLISH_CHUNK = 500;

/** One message of {@link MessageBus.publishBatch}. */
export interface BatchItem<T = unknown> extends PublishOptions {
  topic: string;
  payload: T;
}

/**
 * The Redis Streams message bus: publish to `pc:{topic}:p:<priority>`, consume through
 * consumer groups with priorities, retries, a dead-letter stream and reclaim of dead
 * consumers' messages. One bus per process; it sends commands on one connection (its
 * own, or the caller's shared one) and owns one blocking connection per subscription.
 */
export class MessageBus {
  readonly #options: ResolvedBusOptions;
  readonly #client: RedisClient & BusScripts;
  /** False when the caller shared its client: close() leaves it open. */
  readonly #ownsClient: boolean;
  readonly #metrics: PortcullisMetrics;
  readonly #logger: Logger;
  readonly #subscriptions = new Set<Subscription<never>>();
  readonly #blocking = new Set<RedisClient>();
  #closed = false;
  /** List, inspect, replay and purge dead-lettered messages. */
  readonly deadLetters: DeadLetters;

  constructor(options: BusOptions & { logger?: Logger }) {
    this.#options = resolveBusOptions(options);
    const { redis } = this.#options;
    this.#ownsClient = typeof redis === 'string';
    this.#client = withBusScripts(typeof redis === 'string' ? openRedis(redis, 'command') : redis);
    this.#metrics = portcullisMetrics(this.#options.registry);
    this.#logger = options.logger ?? createLogger({ service: this.#options.source, level: 'warn' });
    this.deadLetters = new DeadLetters(this.#client, this.#options);
  }

  /** This instance's consumer name in every group (`<source>-<pid>-<random>`). */
  get consumerName(): string {
    return this.#options.consumerName;
  }

  /**
   * Publishes one message and resolves with its id once Redis has stored it. The
   * stream is trimmed in the same XADD (approximate, so trimming stays O(1)).
   */
  async publish<T>(topic: string, payload: T, options: PublishOptions = {}): Promise<string> {
    const [id] = await this.publishBatch([{ topic, payload, ...options }]);
    return id as string;
  }

  /**
   * Publishes many messages in one round trip: one busPublishMany script call per topic
   * (a topic is one hash tag, so each call stays on one cluster shard).
   */
  async publishBatch(items: readonly BatchItem[]): Promise<string[]> {
    if (this.#closed) throw new BusClosedError('the bus is closed');
    // One timestamp per batch: the messages are published together, and formatting a
    // Date per message showed up in the profile.
    const occurredAt = new Date().toISOString();
    const prepared = items.map((item) => {
      const priority: Priority = item.priority ?? 'normal';
      if (!isValidTopic(item.topic))
        throw new RangeError(`topic must match [A-Za-z0-9._:-]{1,200}, received ${JSON.stringify(item.topic)}`);
      if (!PRIORITIES.includes(priority))
        throw new RangeError(`priority must be one of ${PRIORITIES.join(', ')}, received ${String(priority)}`);
      if (item.id !== undefined && !isValidMessageId(item.id))
        throw new RangeError(`id must be 1..200 characters without spaces or braces, received ${JSON.stringify(item.id)}`);
      const envelope = createEnvelope(
        item.topic,
        item.payload,
        priority,
        this.#options.source,
        item.id,
        validTraceparent(item.traceparent),
        occurredAt,
      );
      const json = JSON.stringify(envelope);
      // The consumer's limit counts the field name too; see decodeEntry.
      const max = this.#options.maxMessageBytes - ENVELOPE_FIELD.length;
      if (json.length > max || (json.length * 3 > max && Buffer.byteLength(json) > max))
        throw new RangeError(`message must be at most ${this.#options.maxMessageBytes} bytes as JSON (option maxMessageBytes)`);
      return { topic: item.topic, priority, id: envelope.id, json };
    });
    const trim =
      'maxLen' in this.#options.trim
        ? ['MAXLEN', String(this.#options.trim.maxLen)]
        : ['MINID', String(Date.now() - this.#options.trim.maxAgeMs)];
    try {
      if (prepared.length === 1 && prepared[0] !== undefined && this.#options.publishReplicas === 0) {
        // A lone publish rides ioredis auto-pipelining with concurrent ones instead.
        const { topic, priority, json } = prepared[0];
        await this.#client.call('XADD', streamKey(topic, priority), trim[0] as string, '~', trim[1] as string, '*', ENVELOPE_FIELD, json);
      } else {
        const calls: Promise<number>[] = [];
        for (const group of Map.groupBy(prepared, (item) => item.topic).values()) {
          for (let offset = 0; offset < group.length; offset += PUBLISH_CHUNK)
            calls.push(this.#publishChunk(group.slice(offset, offset + PUBLISH_CHUNK), trim));
        }
        await Promise.all(calls);
      }
    } catch (error) {
      throw new PublishError('publish failed', { cause: error, context: { count: items.length } });
    }
    this.#countPublished(prepared);
    return prepared.map((item) => item.id);
  }

  /** One busPublishMany call for messages of one topic (followed by WAIT with `publishReplicas`). */
  #publishChunk(chunk: readonly { topic: string; priority: Priority; json: string }[], trim: string[]): Promise<number> {
    const keys: string[] = [];
    const slot = new Map<Priority, number>();
    const args: string[] = [ENVELOPE_FIELD, ...trim];
    for (const { topic, priority, json } of chunk) {
      let index = slot.get(priority);
      if (index === undefined) {
        index = keys.push(streamKey(topic, priority));
        slot.set(priority, index);
      }
      args.push(String(index), json);
    }
    return writeReplicated(this.#client, this.#options.publishReplicas, (pipeline) =>
      (pipeline as BusPipeline).busPublishMany(keys.length, ...keys, ...args),
    );
  }

  /** Counts in runs of one topic and priority: a label lookup per run, not per message. */
  #countPublished(prepared: readonly { topic: string; priority: Priority }[]): void {
    let run = 0;
    for (let index = 0; index < prepared.length; index += 1) {
      const item = prepared[index] as { topic: string; priority: Priority };
      const next = prepared[index + 1];
      run += 1;
      if (next !== undefined && next.topic === item.topic && next.priority === item.priority) continue;
      this.#metrics.busPublished.inc({ topic: item.topic, priority: item.priority }, run);
      run = 0;
    }
  }

  /** Consumes `topic` one message per handler call. Resolves once the groups exist. */
  async subscribe<T = unknown>(topic: string, handler: Handler<T>, options: SubscribeOptions<T>): Promise<Subscription<T>> {
    return this.#subscribe(topic, (messages) => handler(messages[0] as (typeof messages)[number]), options, 1);
  }

  /** Consumes `topic` in batches of up to `batchSize` messages of one priority. */
  async subscribeBatch<T = unknown>(
    topic: string,
    handler: BatchHandler<T>,
    options: SubscribeOptions<T> & { batchSize: number },
  ): Promise<Subscription<T>> {
    if (!Number.isInteger(options.batchSize) || options.batchSize < 1 || options.batchSize > 10_000) {
      throw new RangeError(`option batchSize must be an integer in 1..10000, received ${String(options.batchSize)}`);
    }
    return this.#subscribe(topic, handler, { prefetch: options.batchSize * 2, ...options }, options.batchSize);
  }

  async #subscribe<T>(topic: string, handler: BatchHandler<T>, options: SubscribeOptions<T>, batchSize: number): Promise<Subscription<T>> {
    if (this.#closed) throw new BusClosedError('the bus is closed');
    if (!isValidTopic(topic)) throw new RangeError(`topic must match [A-Za-z0-9._:-]{1,200}, received ${JSON.stringify(topic)}`);
    const resolved = resolveSubscribeOptions(options);
    const blocking = duplicateRedis(this.#client, 'blocking');
    this.#blocking.add(blocking);
    const subscription = new Subscription<T>(
      { client: this.#client, blocking, bus: this.#options, metrics: this.#metrics, logger: this.#logger },
      topic,
      handler,
      resolved,
      batchSize,
    );
    try {
      await subscription.start();
      // close() ran while the groups were being created (a subscribe retried in the
      // background): it did not see this subscription, so nothing else would stop it.
      if (this.#closed) {
        await subscription.close(Date.now());
        throw new BusClosedError('the bus closed while subscribing');
      }
    } catch (error) {
      // Its connection reads for nobody: close it, or every failed try (Redis not there)
      // would leave one behind that keeps reconnecting.
      this.#blocking.delete(blocking);
      await closeRedis(blocking);
      throw error;
    }
    this.#subscriptions.add(subscription as unknown as Subscription<never>);
    return subscription;
  }

  /**
   * A `/ready` check: `up` while the command connection is ready, `down` otherwise
   * (the bus keeps reconnecting; publishes fail fast after ioredis's retries).
   */
  healthCheck(name = 'message-bus'): HealthCheck {
    return {
      name,
      critical: true,
      check: () => {
        const status = this.#client.status;
        if (this.#closed) return { status: 'down', detail: { connection: 'closed' } };
        return { status: status === 'ready' ? 'up' : 'down', detail: { connection: status, subscriptions: this.#subscriptions.size } };
      },
    };
  }

  /**
   * Graceful shutdown: stop reading, let running handlers finish for up to `timeoutMs`,
   * hand everything else back to the group, close connections. Always resolves within
   * about `timeoutMs` + 1 s; rejects with {@link ShutdownTimeoutError} only when
   * handlers were still running at the deadline (their messages were released).
   */
  async close(options: { timeoutMs?: number } = {}): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const timeoutMs = options.timeoutMs ?? 10_000;
    const deadline = Date.now() + timeoutMs;
    const stillHeld: string[] = [];
    await Promise.all(
      [...this.#subscriptions].map(async (subscription) => {
        const finished = await subscription.close(deadline).catch((error: unknown) => {
          this.#logger.warn({ err: error }, 'bus subscription close failed');
          return true;
        });
        if (!finished) stillHeld.push(subscription.topic);
      }),
    );
    const owned = this.#ownsClient ? [...this.#blocking, this.#client] : [...this.#blocking];
    await Promise.all(owned.map((client) => closeRedis(client)));
    if (stillHeld.length > 0)
      throw new ShutdownTimeoutError(`handlers were still running after ${timeoutMs} ms; their messages were released`, {
        context: { topics: stillHeld },
      });
  }
}
