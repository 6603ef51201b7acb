import { channel } from 'node:diagnostics_channel';
import { endSpan, validTraceparent, type Logger, type PortcullisMetrics } from '@portcullis/observability';
import { startConsumerSpans } from './consumer-spans.ts';
import { backoffDelay } from '@portcullis/resilience';
import type { RedisClient } from '@portcullis/redis';
import type { BusScripts } from './scripts.ts';
import type { Delivery } from './delivery.ts';
import { ENVELOPE_FIELD, envelopeText, rawEntry } from './envelope.ts';
import { InvalidPayloadError, MaxAttemptsError, RetryLaterError } from './errors.ts';
import { attemptsKey, deadLetterKey, doneKey } from './keys.ts';
import type { ResolvedBusOptions, ResolvedSubscribeOptions } from './options.ts';
import type { BatchHandler, Message, Outcome, ProcessedEvent } from './types.ts';

/** Every stored outcome is published here (tests, tracing and audit hooks listen). */
export const processedChannel = channel('portcullis:bus:processed');

interface ProcessorContext<T> {
  client: RedisClient & BusScripts;
  bus: ResolvedBusOptions;
  metrics: PortcullisMetrics;
  logger: Logger;
  topic: string;
  group: string;
  options: ResolvedSubscribeOptions<T>;
  handler: BatchHandler<T>;
  /** Puts a delivery whose backoff has elapsed back in front of its priority's queue. */
  retry: (delivery: Delivery) => void;
  /** Called after a batch of acks was stored (or refused): the read loop may have room again. */
  settled: () => void;
}

type PortcullisCounterChild = ReturnType<PortcullisMetrics['busProcessed']['labels']>;

/**
 * Runs handlers and stores their outcome: ack (with the dedup marker), retry after a
 * backoff, or dead-letter. Tracks every entry this consumer holds so the heartbeat can
 * keep them owned and `release` can hand them back on shutdown.
 */
export class Processor<T> {
  /** Entries pending under this consumer: buffered, running, waiting to retry or for their ack. */
  readonly held = new Map<string, Delivery>();
  readonly #ctx: ProcessorContext<T>;
  readonly #retryTimers = new Map<string, NodeJS.Timeout>();
  readonly #attempts: string;
  /** Handled entries waiting for the next ack flush, per stream. */
  readonly #acks = new Map<string, Delivery[]>();
  /** busAckMany calls in flight; close() waits for them before releasing what is held. */
  readonly #flushing = new Set<Promise<void>>();
  // prom-client hashes the label object on every inc/observe: resolve each child once.
  readonly #processed: Record<Outcome, PortcullisCounterChild>;
  readonly #delivery: ReturnType<PortcullisMetrics['busDelivery']['labels']>;
  #ackScheduled = false;
  #abandoned = false;
  /** Handled entries whose ack is queued or in flight. */
  #unsettled = 0;

  constructor(ctx: ProcessorContext<T>) {
    this.#ctx = ctx;
    this.#attempts = attemptsKey(ctx.topic, ctx.group);
    const child = (outcome: Outcome): PortcullisCounterChild =>
      ctx.metrics.busProcessed.labels({ topic: ctx.topic, group: ctx.group, outcome });
    this.#processed = {
      success: child('success'),
      retry: child('retry'),
      dead_letter: child('dead_letter'),
      duplicate: child('duplicate'),
    };
    this.#delivery = ctx.metrics.busDelivery.labels({ topic: ctx.topic });
  }

  /** Handled entries whose ack has not been stored yet (they are still held). */
  get unsettled(): number {
    return this.#unsettled;
  }

  /**
   * Takes new deliveries into the held set. Reclaimed ones get the dead consumer's
   * attempt counted (so a message that kills every consumer still ends dead-lettered);
   * ids already processed by this group are acked as duplicates and not returned.
   */
  async admit(deliveries: Delivery[], reclaimed: boolean): Promise<Delivery[]> {
    if (deliveries.length === 0) return [];
    const { client, topic, group } = this.#ctx;
    if (reclaimed) {
      const counts = await Promise.all(deliveries.map((delivery) => client.hincrby(this.#attempts, delivery.entryId, 1)));
      deliveries.forEach((delivery, index) => {
        delivery.failures = counts[index] ?? 1;
      });
    }
    const withId = deliveries.filter((delivery) => delivery.envelope !== undefined);
    const done =
      withId.length === 0 ? [] : await client.mget(...withId.map((delivery) => doneKey(topic, group, delivery.envelope?.id ?? '')));
    const duplicates = new Set(withId.filter((_, index) => done[index] !== null));
    const accepted: Delivery[] = [];
    for (const delivery of deliveries) {
      this.held.set(delivery.key, delivery);
      if (duplicates.has(delivery)) void this.#store(delivery, 'duplicate', () => client.xack(delivery.stream, group, delivery.entryId));
      else if (reclaimed && delivery.failures >= this.#ctx.options.maxAttempts)
        void this.#deadLetter(delivery, MaxAttemptsError.code, 'consumer died or stalled while holding it');
      else accepted.push(delivery);
    }
    return accepted;
  }

  /**
   * Runs the handler on one unit (one message, or a batch of one priority). Never
   * rejects: an unexpected failure drops the unit's entries (logged), which stay
   * pending in Redis and are reclaimed, their attempt counted, like a crashed consumer's.
   */
  async run(unit: Delivery[]): Promise<void> {
    try {
      await this.#run(unit);
    } catch (error) {
      for (const delivery of unit) if (this.held.get(delivery.key) === delivery) this.#drop(delivery, error);
    }
  }

  async #run(unit: Delivery[]): Promise<void> {
    const ready: { delivery: Delivery; message: Message<T> }[] = [];
    for (const delivery of unit) {
      const { envelope } = delivery;
      if (envelope === undefined) {
        await this.#deadLetter(
          delivery,
          delivery.malformed?.code ?? 'E_MALFORMED_ENTRY',
          delivery.malformed?.message ?? 'malformed entry',
          1,
        );
        continue;
      }
      let payload: T;
      try {
        payload = this.#ctx.options.parse === undefined ? (envelope.payload as T) : this.#ctx.options.parse(envelope.payload);
      } catch (error) {
        await this.#deadLetter(delivery, InvalidPayloadError.code, error instanceof Error ? error.message : String(error), 1);
        continue;
      }
      const message: Message<T> = {
        id: envelope.id,
        topic: this.#ctx.topic,
        priority: delivery.priority,
        occurredAt: envelope.occurredAt,
        source: envelope.source,
        attempt: delivery.failures + 1,
        payload,
        entryId: delivery.entryId,
      };
      // Publish leaves a malformed traceparent out; a hand-written entry's is dropped here.
      const traceparent = validTraceparent(envelope.traceparent);
      if (traceparent !== undefined) message.traceparent = traceparent;
      if (delivery.failures === 0) this.#delivery.observe(Math.max(0, Date.now() - Date.parse(envelope.occurredAt)) / 1000);
      ready.push({ delivery, message });
    }
    if (ready.length === 0) return;
    const spans = startConsumerSpans(
      this.#ctx.bus.tracer,
      this.#ctx.topic,
      this.#ctx.group,
      ready.map((item) => item.message),
    );
    try {
      await this.#ctx.handler(ready.map((item) => item.message));
    } catch (error) {
      for (const span of spans) endSpan(span, error);
      await Promise.all(ready.map((item) => this.#fail(item.delivery, error)));
      return;
    }
    for (const span of spans) endSpan(span);
    // The handler is done, so its concurrency slot is free now; the ack follows in the
    // next flush and the entry stays held (and pending in Redis) until it is stored.
    for (const { delivery } of ready) this.#queueAck(delivery);
  }

  /**
   * Queues an ack; everything acked in the same tick goes out as one busAckMany call
   * per stream, so a busy consumer pays one Lua call per batch, not per message.
   */
  #queueAck(delivery: Delivery): void {
    // A handler that outlived close() no longer owns its entry: it was handed back.
    if (this.#abandoned) return;
    let queue = this.#acks.get(delivery.stream);
    if (queue === undefined) {
      queue = [];
      this.#acks.set(delivery.stream, queue);
    }
    queue.push(delivery);
    this.#unsettled += 1;
    if (!this.#ackScheduled) {
      this.#ackScheduled = true;
      setImmediate(() => this.#flushAcks());
    }
  }

  #flushAcks(): void {
    if (!this.#ackScheduled) return;
    this.#ackScheduled = false;
    const { client, topic, group, options } = this.#ctx;
    for (const [stream, queue] of this.#acks) {
      this.#acks.delete(stream);
      const keys = [stream, this.#attempts];
      const ids: string[] = [];
      for (const delivery of queue) {
        keys.push(doneKey(topic, group, delivery.envelope?.id ?? ''));
        ids.push(delivery.entryId);
      }
      const flush: Promise<void> = client
        .busAckMany(keys.length, ...keys, group, options.dedupTtlMs, ...ids)
        .then(
          () => this.#acked(queue),
          (error: unknown) => {
            for (const delivery of queue) this.#drop(delivery, error);
          },
        )
        .finally(() => {
          this.#flushing.delete(flush);
          this.#unsettled -= queue.length;
          this.#ctx.settled();
        });
      this.#flushing.add(flush);
    }
  }

  #acked(queue: Delivery[]): void {
    // After release() the entries belong to the group again: their outcome is not ours.
    if (this.#abandoned) return;
    for (const delivery of queue) this.held.delete(delivery.key);
    this.#processed.success.inc(queue.length);
    if (processedChannel.hasSubscribers) for (const delivery of queue) this.#publish('success', delivery);
  }

  /** Sends queued acks now and waits for every ack in flight (close uses it). */
  async drain(): Promise<void> {
    this.#flushAcks();
    await Promise.allSettled(this.#flushing);
  }

  async #fail(delivery: Delivery, error: unknown): Promise<void> {
    if (this.#abandoned) return;
    const reason = error instanceof Error ? error.message : String(error);
    if ((error as { code?: unknown } | null)?.code === RetryLaterError.code) {
      delivery.deferrals = (delivery.deferrals ?? 0) + 1;
      this.#count('retry', delivery, reason);
      this.#retryAfter(delivery, delivery.deferrals - 1);
      return;
    }
    let failures: number;
    try {
      failures = await this.#ctx.client.hincrby(this.#attempts, delivery.entryId, 1);
    } catch (storeError) {
      this.#drop(delivery, storeError);
      return;
    }
    delivery.failures = failures;
    if (failures >= this.#ctx.options.maxAttempts) {
      await this.#deadLetter(delivery, MaxAttemptsError.code, reason);
      return;
    }
    this.#count('retry', delivery, reason);
    // `failures` counts from 1: the first retry waits about backoffBaseMs.
    this.#retryAfter(delivery, failures - 1);
  }

  /** Hands `delivery` back to the subscription after the backoff of its `retry`th retry (from 0). */
  #retryAfter(delivery: Delivery, retry: number): void {
    const key = delivery.key;
    const delay = Math.round(backoffDelay(retry, { baseMs: this.#ctx.options.backoffBaseMs, maxMs: this.#ctx.options.backoffMaxMs }));
    this.#retryTimers.set(
      key,
      setTimeout(() => {
        this.#retryTimers.delete(key);
        this.#ctx.retry(delivery);
      }, delay),
    );
  }

  async #deadLetter(delivery: Delivery, reason: string, error: string, extraAttempts = 0): Promise<void> {
    const { client, topic, group, bus } = this.#ctx;
    const envelope = delivery.envelope;
    const fields = [
      ENVELOPE_FIELD,
      // The envelope as written, not re-serialized: JSON.stringify overflows the stack on
      // a payload nested a few thousand deep, which JSON.parse took without complaint.
      envelope === undefined ? rawEntry(delivery.fields) : (envelopeText(delivery.fields) ?? ''),
      'reason',
      reason,
      'error',
      error.slice(0, 2000),
      'attempts',
      String(delivery.failures + extraAttempts),
      'group',
      group,
      'priority',
      delivery.priority,
      'entryId',
      delivery.entryId,
      'failedAt',
      new Date().toISOString(),
    ];
    const stored = await this.#store(
      delivery,
      'dead_letter',
      () =>
        client.busDeadLetter(
          delivery.stream,
          deadLetterKey(topic),
          this.#attempts,
          group,
          delivery.entryId,
          bus.deadLetterMaxLen,
          ...fields,
        ),
      reason,
    );
    if (stored) this.#ctx.metrics.busDeadLettered.inc({ topic });
  }

  /** Runs one storage step; on success the entry is no longer held. */
  async #store(delivery: Delivery, outcome: Outcome, step: () => Promise<unknown>, reason?: string): Promise<boolean> {
    if (this.#abandoned) return false;
    try {
      await step();
    } catch (error) {
      this.#drop(delivery, error);
      return false;
    }
    this.held.delete(delivery.key);
    this.#count(outcome, delivery, reason);
    return true;
  }

  /**
   * Redis refused the outcome (down, restarting). The entry stays pending in Redis, so
   * forgetting it here is safe: without heartbeats it goes idle and is reclaimed.
   */
  #drop(delivery: Delivery, error: unknown): void {
    this.held.delete(delivery.key);
    this.#ctx.logger.warn(
      { err: error, topic: this.#ctx.topic, entryId: delivery.entryId },
      'bus could not store an outcome; the entry will be reclaimed',
    );
  }

  #count(outcome: Outcome, delivery: Delivery, reason?: string): void {
    this.#processed[outcome].inc();
    if (processedChannel.hasSubscribers) this.#publish(outcome, delivery, reason);
  }

  #publish(outcome: Outcome, delivery: Delivery, reason?: string): void {
    const { topic, group } = this.#ctx;
    const event: ProcessedEvent = {
      topic,
      group,
      id: delivery.envelope?.id ?? '',
      entryId: delivery.entryId,
      outcome,
      attempt: delivery.failures + 1,
    };
    if (reason !== undefined) event.reason = reason;
    processedChannel.publish(event);
  }

  /** Resets the idle time of every held entry so no other consumer reclaims them. */
  async heartbeat(): Promise<void> {
    await this.#claim(['JUSTID']);
  }

  /** Cancels pending retries; their entries stay held until `release`. */
  stopRetries(): void {
    for (const timer of this.#retryTimers.values()) clearTimeout(timer);
    this.#retryTimers.clear();
  }

  /**
   * Hands every held entry back: marks it idle for `reclaimIdleMs` so any live
   * consumer's next reclaim takes it at once. Outcomes of handlers still running are
   * then ignored, as those entries now belong to someone else.
   */
  async release(groupGoesAway: boolean): Promise<void> {
    this.#abandoned = true;
    this.stopRetries();
    if (!groupGoesAway) await this.#claim(['IDLE', String(this.#ctx.options.reclaimIdleMs), 'JUSTID']).catch(() => undefined);
    this.held.clear();
  }

  async #claim(tail: string[]): Promise<void> {
    const byStream = new Map<string, string[]>();
    for (const delivery of this.held.values()) byStream.set(delivery.stream, [...(byStream.get(delivery.stream) ?? []), delivery.entryId]);
    const { client, group, bus } = this.#ctx;
    await Promise.all([...byStream].map(([stream, ids]) => client.call('XCLAIM', stream, group, bus.consumerName, 0, ...ids, ...tail)));
  }
}
