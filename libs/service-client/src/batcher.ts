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
}

// `{"requests":[` + `]}`
const ENVELOPE_BYTES = 15;

/**
 * The batching layer. Adaptive: while no batch is in flight a request leaves on the
 * next microtask (so a synchronous burst still shares one batch, yet an idle call waits
 * for nothing); while one is in flight, requests gather until `maxBatch` distinct items,
 * `maxBatchBytes`, `maxWaitMs`, or the in-flight batch finishing, whichever comes first.
 * Identical requests (same canonical JSON) in one gathering batch share one item.
 */
export class Batcher<R> {
  readonly #options: BatcherOptions;
  readonly #send: (batch: Batch<R>) => Promise<void>;
  #pending = new Map<string, Item<R>>();
  #pendingBytes = 0;
  #timer: NodeJS.Timeout | undefined;
  #microtask = false;
  #inFlight = new Set<Promise<void>>();
  coalesced = 0;

  constructor(options: BatcherOptions, send: (batch: Batch<R>) => Promise<void>) {
    this.#options = options;
    this.#send = send;
  }

  /** Batches on the wire. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** Distinct items waiting for a batch. */
  get queued(): number {
    return this.#pending.size;
  }

  add(key: string, json: string, waiter: Waiter<R>): void {
    if (!this.#options.batching) {
      this.#dispatch([{ key, json, bytes: Buffer.byteLength(json), waiters: [waiter] }]);
      return;
    }
    const same = this.#pending.get(key);
    if (same !== undefined) {
      same.waiters.push(waiter);
      this.coalesced++;
      return;
    }
    const bytes = Buffer.byteLength(json);
    if (this.#pending.size > 0 && this.#pendingBytes + this.#pending.size + bytes + ENVELOPE_BYTES > this.#options.maxBatchBytes)
      this.flush();
    this.#pending.set(key, { key, json, bytes, waiters: [waiter] });
    this.#pendingBytes += bytes;
    if (this.#pending.size >= this.#options.maxBatch) this.flush();
    else if (this.#inFlight.size === 0) this.#scheduleMicrotask();
    else this.#startTimer();
  }

  /** Sends whatever is gathered now. */
  flush(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pending.size === 0) return;
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
    const done: Promise<void> = this.#send(batch)
      .catch(() => undefined)
      .finally(() => {
        this.#inFlight.delete(done);
        // The pipe is free again: what gathered meanwhile goes now, not at the timer.
        if (this.#inFlight.size === 0 && this.#pending.size > 0) this.flush();
      });
    this.#inFlight.add(done);
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
