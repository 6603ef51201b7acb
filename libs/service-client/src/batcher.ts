import { AdaptiveLimit } from '@portcullis/resilience';

/** One caller waiting for an item's answer. */
export interface Waiter<R> {
  resolve(value: R): void;
  reject(error: unknown): void;
  /** Absolute deadline (`performance.now()` time). */
  deadline: number;
  traceparent: string | undefined;
  settled: boolean;
  /** The batch it was sent in, once flushed; lets a timed-out caller abandon it. */
  batch: Batch<R> | undefined;
}

/** One distinct request in a batch, and everyone waiting for it. */
export interface Item<R> {
  key: string;
  json: string;
  bytes: number;
  waiters: Waiter<R>[];
}

/** A flushed batch: immutable item list, one body, the callers' latest deadline. */
export interface Batch<R> {
  items: Item<R>[];
  body: string;
  deadline: number;
  /** The first caller's traceparent (in arrival order) that has one. */
  traceparent: string | undefined;
  /** Callers not yet settled; at 0 the batch is aborted. */
  live: number;
  controller: AbortController;
}

export interface BatcherOptions {
  batching: boolean;
  maxBatch: number;
  maxBatchBytes: number;
  maxWaitMs: number;
  /** Most items on the wire at once; the adaptive limit moves between `maxBatch / 4` and this. */
  maxInFlight: number;
  /** A batch answered slower than this (ms) lowers the limit: the service is queueing. */
  slowBatchMs: number;
}

// `{"requests":[` + `]}`
const ENVELOPE_BYTES = 15;

/**
 * The batching layer. Adaptive: while no batch is in flight a request leaves on the
 * next microtask (so a synchronous burst still shares one batch, yet an idle call waits
 * for nothing); while one is in flight, requests gather until `maxBatch` distinct items,
 * `maxBatchBytes`, `maxWaitMs`, or the in-flight batch finishing, whichever comes first.
 * Identical requests (same canonical JSON) in one gathering batch share one item.
 *
 * Bounded: the items on the wire are held under an {@link AdaptiveLimit} that falls while
 * batches come back slower than `slowBatchMs` or fail, and climbs back while they do not.
 * While it is reached, requests gather (at most the limit, or `maxBatch`), and a new one
 * beyond that is refused at once ({@link add} returns false). A policy-service that is
 * busy, not broken, so keeps a short queue and answers in time, instead of answering
 * everyone late and tripping the deadlines, the session reset and the breaker.
 */
export class Batcher<R> {
  readonly #options: BatcherOptions;
  readonly #send: (batch: Batch<R>) => Promise<boolean>;
  #pending = new Map<string, Item<R>>();
  #pendingBytes = 0;
  #timer: NodeJS.Timeout | undefined;
  #microtask = false;
  #inFlight = new Set<Promise<void>>();
  readonly #limit: AdaptiveLimit;
  /** A flush was asked for while the limit held it back: it goes when room is made. */
  #due = false;
  coalesced = 0;

  /** `send` resolves true when the service answered the batch, false when it did not (for the limit). */
  constructor(options: BatcherOptions, send: (batch: Batch<R>) => Promise<boolean>) {
    this.#options = options;
    this.#send = send;
    const max = Math.max(options.maxInFlight, 1);
    this.#limit = new AdaptiveLimit({
      min: Math.min(max, Math.max(1, Math.floor(options.maxBatch / 4))),
      max,
      slowMs: options.slowBatchMs,
    });
  }

  /** Items allowed on the wire now (the adaptive limit). */
  get limit(): number {
    return this.#limit.limit;
  }

  /** Batches on the wire. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** Distinct items waiting for a batch. */
  get queued(): number {
    return this.#pending.size;
  }

  /**
   * Queues `waiter` for `key`'s answer. False when refused: the limit is reached and
   * enough is already gathering (the caller answers "busy"; nothing was queued).
   */
  add(key: string, json: string, waiter: Waiter<R>): boolean {
    if (!this.#options.batching) {
      this.#dispatch([{ key, json, bytes: Buffer.byteLength(json), waiters: [waiter] }]);
      return true;
    }
    const same = this.#pending.get(key);
    if (same !== undefined) {
      same.waiters.push(waiter);
      this.coalesced++;
      return true;
    }
    const bytes = Buffer.byteLength(json);
    if (this.#overflows(bytes)) this.flush();
    // The limit holds the flush back and a batch's worth already waits: this one could only wait past its deadline.
    if (!this.#limit.open && (this.#overflows(bytes) || this.#pending.size >= Math.min(this.#options.maxBatch, this.#limit.limit)))
      return false;
    this.#pending.set(key, { key, json, bytes, waiters: [waiter] });
    this.#pendingBytes += bytes;
    if (this.#pending.size >= this.#options.maxBatch) this.flush();
    else if (this.#inFlight.size === 0) this.#scheduleMicrotask();
    else this.#startTimer();
    return true;
  }

  /** Sends whatever is gathered now, or as soon as the limit makes room. */
  flush(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pending.size === 0) return;
    if (!this.#limit.open) {
      this.#due = true;
      return;
    }
    this.#due = false;
    const items = [...this.#pending.values()];
    this.#pending = new Map();
    this.#pendingBytes = 0;
    this.#dispatch(items);
  }

  /** Resolves when every batch on the wire has settled. */
  async drain(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  #dispatch(all: Item<R>[]): void {
    // Callers that timed out while their item waited need no slot on the wire.
    const items = all.filter((item) => item.waiters.some((w) => !w.settled));
    if (items.length === 0) return;
    let deadline = 0;
    let traceparent: string | undefined;
    const live: Waiter<R>[] = [];
    for (const item of items) {
      for (const waiter of item.waiters) {
        if (waiter.settled) continue;
        live.push(waiter);
        if (waiter.deadline > deadline) deadline = waiter.deadline;
        traceparent ??= waiter.traceparent;
      }
    }
    const body = `{"requests":[${items.map((i) => i.json).join(',')}]}`;
    const batch: Batch<R> = { items, body, deadline, traceparent, live: live.length, controller: new AbortController() };
    for (const waiter of live) waiter.batch = batch;
    const started = performance.now();
    this.#limit.start(items.length);
    const settled = (succeeded: boolean): void => {
      this.#inFlight.delete(done);
      this.#limit.finish(items.length, performance.now() - started, succeeded);
      // The pipe is free again, or a held-back flush has room: what gathered goes now.
      if (this.#pending.size > 0 && (this.#inFlight.size === 0 || this.#due)) this.flush();
    };
    const done: Promise<void> = this.#send(batch).then(settled, () => settled(false));
    this.#inFlight.add(done);
  }

  #overflows(bytes: number): boolean {
    return this.#pending.size > 0 && this.#pendingBytes + this.#pending.size + bytes + ENVELOPE_BYTES > this.#options.maxBatchBytes;
  }

  #scheduleMicrotask(): void {
    if (this.#microtask) return;
    this.#microtask = true;
    queueMicrotask(() => {
      this.#microtask = false;
      if (this.#inFlight.size === 0) this.flush();
      else if (this.#pending.size > 0) this.#startTimer();
    });
  }

  #startTimer(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.flush();
    }, this.#options.maxWaitMs);
  }

  /** Drops the gathering timer (close). */
  stop(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
