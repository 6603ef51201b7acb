import { TOPICS, type AuthDecisionEvent } from '@portcullis/contracts';
import type { MessageBus } from '@portcullis/message-bus';
import type { Logger } from '@portcullis/observability';

/** Options for {@link DecisionAudit}. */
export interface DecisionAuditOptions {
  bus: MessageBus | undefined;
  log: Logger;
  /** Events sent per publish (one pipelined round trip). Default 200. */
  batchSize?: number;
  /** Longest an event waits before it is sent (ms). Default 50. */
  flushMs?: number;
  /** Events kept while the bus is away; older ones are dropped and counted. Default 10 000. */
  maxBuffered?: number;
}

/**
 * Publishes `auth.decision` off the request path: `record` only appends to a bounded
 * buffer, and a timer sends batches, so a slow or absent bus never slows or fails a
 * request. Denials go out at `high` priority, as PRODUCT.md's event table says.
 */
export class DecisionAudit {
  readonly #options: Required<Omit<DecisionAuditOptions, 'bus'>> & { bus: MessageBus | undefined };
  /** Each event with the `traceparent` of the request that decided it. */
  #buffer: { event: AuthDecisionEvent; traceparent: string | undefined }[] = [];
  #timer: NodeJS.Timeout | undefined;
  #sending = false;
  dropped = 0;

  constructor(options: DecisionAuditOptions) {
    this.#options = { batchSize: 200, flushMs: 50, maxBuffered: 10_000, ...options };
  }

  /** Queues one event; `traceparent` rides in its envelope so the consumer's span joins the request's trace. */
  record(event: AuthDecisionEvent, traceparent?: string): void {
    if (this.#options.bus === undefined) return;
    if (this.#buffer.length >= this.#options.maxBuffered) {
      this.#buffer.shift();
      this.dropped += 1;
    }
    this.#buffer.push({ event, traceparent });
    this.#timer ??= setTimeout(() => void this.flush(), this.#options.flushMs);
  }

  /** Sends what is buffered; on failure the batch is kept (up to the bound) for the next try. */
  async flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const bus = this.#options.bus;
    if (bus === undefined || this.#sending || this.#buffer.length === 0) return;
    this.#sending = true;
    const batch = this.#buffer.splice(0, this.#options.batchSize);
    try {
      await bus.publishBatch(
        batch.map(({ event, traceparent }) => ({
          topic: TOPICS.authDecision.topic,
          payload: event,
          priority: event.decision === 'deny' ? 'high' : TOPICS.authDecision.priority,
          id: `auth.decision:${event.requestId}`,
          traceparent,
        })),
      );
    } catch (error) {
      this.#options.log.warn({ err: error, events: batch.length }, 'could not publish auth.decision; will retry');
      this.#buffer.unshift(...batch.slice(0, Math.max(0, this.#options.maxBuffered - this.#buffer.length)));
    } finally {
      this.#sending = false;
    }
    if (this.#buffer.length > 0) this.#timer ??= setTimeout(() => void this.flush(), this.#options.flushMs);
  }
}
