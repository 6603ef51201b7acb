import type { Envelope } from './envelope.ts';
import type { Priority } from './keys.ts';

/**
 * A message as a handler sees it: the envelope (its `type` named `topic` here, and
 * `attempt` counting this delivery: n after n−1 failures or a dead consumer) plus the
 * Redis stream entry id it came from (`1700000000000-0`).
 */
export type Message<T = unknown> = Omit<Envelope<T>, 'type'> & { topic: string; entryId: string };

/** Handles one message; resolve to acknowledge, throw to retry. */
export type Handler<T = unknown> = (message: Message<T>) => Promise<void> | void;

/** Handles up to `batchSize` messages of one priority; a throw fails all of them. */
export type BatchHandler<T = unknown> = (messages: Message<T>[]) => Promise<void> | void;

/** How a delivery ended, the `outcome` label of `portcullis_bus_processed_total`. */
export type Outcome = 'success' | 'retry' | 'dead_letter' | 'duplicate';

/** Published on the `portcullis:bus:processed` diagnostics channel after each outcome is stored. */
export interface ProcessedEvent {
  topic: string;
  group: string;
  id: string;
  entryId: string;
  outcome: Outcome;
  attempt: number;
  reason?: string;
}

/** Options for `publish`. */
export interface PublishOptions {
  /** Default `normal`. */
  priority?: Priority;
  /** Message id for deduplication; generated when absent. */
  id?: string;
  /** W3C trace context carried in the envelope; a malformed value is left out. */
  traceparent?: string | undefined;
}
