import type { Priority } from './keys.ts';

/** A message as a handler sees it: the envelope plus where it came from. */
export interface Message<T = unknown> {
  id: string;
  topic: string;
  priority: Priority;
  occurredAt: string;
  source: string;
  /** 1 on first delivery, n on the n-th attempt (after n−1 failures or a dead consumer). */
  attempt: number;
  traceparent?: string;
  payload: T;
  /** The Redis stream entry id (`1700000000000-0`). */
  entryId: string;
}

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
  traceparent?: string;
}
