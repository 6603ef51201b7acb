import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger, PortcullisMetrics } from '@portcullis/observability';
import { isCluster, redisErrorCode, type RedisClient } from '@portcullis/redis';
import { FailureRun } from '@portcullis/resilience';
import type { BusScripts } from './scripts.ts';
import { fromClaimReply, fromReadReply, type Delivery } from './delivery.ts';
import { attemptsKey, PRIORITIES, streamKey, streamKeys, type Priority } from './keys.ts';
import type { ResolvedBusOptions, ResolvedSubscribeOptions } from './options.ts';
import { Processor } from './processor.ts';
import { PriorityScheduler } from './scheduler.ts';
import { readGroups, trimConsumed } from './trim-consumed.ts';
import type { BatchHandler } from './types.ts';

/** What a subscription needs from its bus. */
export interface SubscriptionContext {
  client: RedisClient & BusScripts;
  blocking: RedisClient;
  bus: ResolvedBusOptions;
  metrics: PortcullisMetrics;
  logger: Logger;
}

/**
 * One topic consumed by one group: a read loop (XREADGROUP over the five priority
 * streams), a priority dispatcher with a concurrency limit, and three timers: reclaim
 * (XAUTOCLAIM of dead consumers' entries), heartbeat (keeps this consumer's own
 * entries from looking idle), and stats (pending and length gauges) with the trimming of
 * what every group has handled.
 */
export class Subscription<T = unknown> {
  readonly topic: string;
  /** The Redis group: `group` in work mode, `group.<consumer>` in broadcast mode. */
  readonly group: string;
  readonly #ctx: SubscriptionContext;
  readonly #options: ResolvedSubscribeOptions<T>;
  readonly #processor: Processor<T>;
  readonly #scheduler: PriorityScheduler;
  readonly #buffers: Record<Priority, Delivery[]> = { critical: [], high: [], normal: [], low: [], background: [] };
  readonly #running = new Set<Promise<void>>();
  readonly #timers: NodeJS.Timeout[] = [];
  readonly #stop = new AbortController();
  /** Reads failing in a row: the wait before the next, and which failures are logged. */
  readonly #readFailures = new FailureRun({ baseMs: 200, maxMs: 2000 });
  readonly #batchSize: number;
  #space: (() => void) | undefined;
  #readLoop: Promise<void> = Promise.resolve();
  #blockingId: number | undefined;
  #closing = false;

  constructor(ctx: SubscriptionContext, topic: string, handler: BatchHandler<T>, options: ResolvedSubscribeOptions<T>, batchSize: number) {
    this.#ctx = ctx;
    this.topic = topic;
    this.#options = options;
    this.#batchSize = batchSize;
    this.group = options.mode === 'work' ? options.group : `${options.group}.${ctx.bus.consumerName.replace(/[^A-Za-z0-9_-]/g, '_')}`;
    this.#scheduler = new PriorityScheduler(ctx.bus.weights);
    this.#processor = new Processor<T>({
      ...ctx,
      topic,
      group: this.group,
      options,
      handler,
      retry: (delivery) => {
        if (this.#closing) return;
        this.#buffers[delivery.priority].unshift(delivery);
        this.#pump();
      },
      settled: () => this.#pump(),
    });
  }

  /** Creates the groups and starts reading. Resolves once the groups exist. */
  async start(): Promise<void> {
    await this.#ensureGroups(this.#options.startFrom === 'earliest' ? '0' : '$');
    await this.#refreshBlockingId();
    this.#readLoop = this.#read();
    this.#every(this.#options.reclaimIntervalMs, () => this.#reclaim());
    this.#every(Math.max(1, Math.floor(this.#options.reclaimIdleMs / 3)), () => this.#processor.heartbeat());
    this.#every(this.#ctx.bus.statsIntervalMs, () => this.#statsAndTrim());
  }

  /** Messages buffered, running, waiting for a retry or for their ack to be stored. */
  get held(): number {
    return this.#processor.held.size;
  }

  async #ensureGroups(from: '0' | '$'): Promise<void> {
    await Promise.all(
      streamKeys(this.topic).map(async (key) => {
        try {
          await this.#ctx.client.call('XGROUP', 'CREATE', key, this.group, from, 'MKSTREAM');
        } catch (error) {
          if (redisErrorCode(error) !== 'BUSYGROUP') throw error;
        }
      }),
    );
  }

  async #refreshBlockingId(): Promise<void> {
    if (isCluster(this.#ctx.blocking)) return;
    try {
      this.#blockingId = Number(await this.#ctx.blocking.call('CLIENT', 'ID'));
    } catch {
      this.#blockingId = undefined;
    }
  }

  #every(ms: number, task: () => Promise<void>): void {
    let busy = false;
    const timer = setInterval(() => {
      if (busy || this.#closing) return;
      busy = true;
      task()
        .catch((error: unknown) => this.#ctx.logger.warn({ err: error, topic: this.topic }, 'bus maintenance failed'))
        .finally(() => {
          busy = false;
        });
    }, ms);
    timer.unref();
    this.#timers.push(timer);
  }

  async #read(): Promise<void> {
    const { prefetch, blockMs } = this.#options;
    while (!this.#closing) {
      // Read all five streams or none: leaving a full priority out of the read would let
      // the BLOCK wait on the empty ones while that priority's backlog sits unread.
      if (!this.#hasRoom()) {
        await new Promise<void>((resolve) => {
          this.#space = resolve;
        });
        continue;
      }
      let reply: unknown;
      try {
        reply = await this.#ctx.blocking.call(
          'XREADGROUP',
          'GROUP',
          this.group,
          this.#ctx.bus.consumerName,
          'COUNT',
          prefetch,
          'BLOCK',
          blockMs,
          'STREAMS',
          ...streamKeys(this.topic),
          ...PRIORITIES.map(() => '>'),
        );
      } catch (error) {
        if (this.#closing) break;
        await this.#recover(error);
        continue;
      }
      const failed = this.#readFailures.succeed();
      if (failed > 0) this.#ctx.logger.info({ topic: this.topic, group: this.group, failures: failed }, 'bus reads work again');
      if (reply !== null) await this.#accept(fromReadReply(this.topic, reply, this.#ctx.bus.maxMessageBytes), false);
    }
  }

  /**
   * NOGROUP means Redis lost the groups (restart without persistence, stream deleted):
   * recreate them from the start of what the streams now hold and go on reading.
   * Anything else (a connection ioredis is already reconnecting, a stream key holding
   * another type) is waited out with backoff, logged on the 1st, 2nd, 4th… failure in a
   * row rather than every 200 ms for as long as it lasts.
   */
  async #recover(error: unknown): Promise<void> {
    const code = redisErrorCode(error);
    const { retryInMs, log } = this.#readFailures.fail();
    if (log || code === 'NOGROUP') {
      this.#ctx.logger.warn(
        { err: error, topic: this.topic, group: this.group, failures: this.#readFailures.count, retryInMs },
        code === 'NOGROUP' ? 'bus group lost, recreating' : 'bus read failed',
      );
    }
    try {
      if (code === 'NOGROUP') {
        await this.#ensureGroups('0');
        await this.#refreshBlockingId();
        return;
      }
    } catch (retryError) {
      this.#ctx.logger.warn({ err: retryError, topic: this.topic }, 'bus group recreation failed');
    }
    await sleep(retryInMs, undefined, { signal: this.#stop.signal }).catch(() => undefined);
  }

  async #accept(deliveries: Delivery[], reclaimed: boolean): Promise<void> {
    const fresh = deliveries.filter((delivery) => !this.#processor.held.has(delivery.key));
    const accepted = await this.#processor.admit(fresh, reclaimed);
    for (const delivery of accepted) this.#buffers[delivery.priority].push(delivery);
    this.#pump();
  }

  #pump(): void {
    while (!this.#closing && this.#running.size < this.#options.concurrency) {
      const priority = this.#scheduler.next((candidate) => this.#buffers[candidate].length > 0);
      if (priority === undefined) break;
      const unit = this.#buffers[priority].splice(0, this.#batchSize);
      const run: Promise<void> = this.#processor.run(unit).finally(() => {
        this.#running.delete(run);
        this.#pump();
      });
      this.#running.add(run);
    }
    if (this.#space !== undefined && this.#hasRoom()) {
      const resolve = this.#space;
      this.#space = undefined;
      resolve();
    }
  }

  /**
   * Room to read: every priority buffer below `prefetch`, and no more handled-but-unacked
   * entries than the buffers could hold (handlers free their slot before the ack is
   * stored, so this bounds what is held if Redis is slow to take acks).
   */
  #hasRoom(): boolean {
    const { prefetch } = this.#options;
    if (this.#processor.unsettled >= prefetch * PRIORITIES.length) return false;
    for (const priority of PRIORITIES) if (this.#buffers[priority].length >= prefetch) return false;
    return true;
  }

  async #reclaim(): Promise<void> {
    const { client } = this.#ctx;
    for (const priority of PRIORITIES) {
      const stream = streamKey(this.topic, priority);
      let cursor = '0-0';
      do {
        const room = this.#options.prefetch - this.#buffers[priority].length;
        if (room <= 0 || this.#closing) break;
        let reply: unknown;
        try {
          reply = await client.call(
            'XAUTOCLAIM',
            stream,
            this.group,
            this.#ctx.bus.consumerName,
            this.#options.reclaimIdleMs,
            cursor,
            'COUNT',
            room,
          );
        } catch (error) {
          if (redisErrorCode(error) === 'NOGROUP') return this.#ensureGroups('0');
          throw error;
        }
        const claimed = fromClaimReply(this.topic, stream, priority, reply, this.#ctx.bus.maxMessageBytes);
        cursor = claimed.cursor;
        if (claimed.deliveries.length > 0) await this.#accept(claimed.deliveries, true);
      } while (cursor !== '0-0');
    }
  }

  /**
   * Per stream, one read of its groups serves both: this group's pending gauge, and the
   * trim of what every group has handled (see {@link trimConsumed}).
   */
  async #statsAndTrim(): Promise<void> {
    const { client, metrics } = this.#ctx;
    await Promise.all(
      streamKeys(this.topic).map(async (stream) => {
        const [length, groups] = await Promise.all([client.call('XLEN', stream), readGroups(client, stream)]);
        metrics.busStreamLength.set({ stream }, Number(length));
        metrics.busPending.set({ stream, group: this.group }, groups.find((group) => group.name === this.group)?.pending ?? 0);
        await trimConsumed(client, stream, groups);
      }),
    );
  }

  /**
   * Stops reading, lets running handlers finish until `deadline` (epoch ms), then hands
   * every message still held back to the group (pending, idle long enough that any other
   * consumer's next reclaim takes it). Never waits past the deadline on a handler, nor
   * more than a second on Redis. Resolves false when handlers were still running.
   */
  async close(deadline: number): Promise<boolean> {
    if (this.#closing) return true;
    this.#closing = true;
    for (const timer of this.#timers) clearInterval(timer);
    this.#stop.abort();
    this.#space?.();
    this.#processor.stopRetries();
    if (this.#blockingId !== undefined) {
      // CLIENT UNBLOCK ends the blocked XREADGROUP as a timeout: no entry is read and lost.
      // Bounded: with Redis away ioredis would queue the command through its retries.
      await waitUntil(this.#ctx.client.call('CLIENT', 'UNBLOCK', this.#blockingId), Math.min(deadline, Date.now() + 500));
    }
    const readDone = await waitUntil(this.#readLoop, Math.min(deadline, Date.now() + 500));
    if (!readDone) this.#ctx.blocking.disconnect();
    const handlersFinished = await waitUntil(Promise.allSettled(this.#running), deadline);
    // Redis may be the reason we are closing: every call below is bounded by the deadline
    // (at least a short grace), so close() never waits out ioredis's reconnect retries.
    const cleanupDeadline = Date.now() + 1000;
    // Handled messages whose ack is in flight: store it rather than hand them back.
    await waitUntil(this.#processor.drain(), cleanupDeadline);
    await waitUntil(this.#processor.release(this.#options.mode === 'broadcast'), cleanupDeadline);
    if (this.#options.mode === 'broadcast') {
      // A per-instance group dies with its instance; leaving it would keep its PEL forever.
      await waitUntil(
        Promise.all([
          ...streamKeys(this.topic).map((key) => this.#ctx.client.call('XGROUP', 'DESTROY', key, this.group)),
          this.#ctx.client.del(attemptsKey(this.topic, this.group)),
        ]),
        cleanupDeadline,
      );
    }
    return handlersFinished;
  }
}

async function waitUntil(promise: Promise<unknown>, deadline: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()));
  });
  try {
    return await Promise.race([
      promise.then(
        () => true as const,
        () => true as const,
      ),
      expired,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
