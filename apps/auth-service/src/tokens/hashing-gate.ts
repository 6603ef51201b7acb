import { ClientAuthBusyError } from './errors.ts';

/**
 * Bounds the scrypt derivations client authentication runs at once. Each costs tens of
 * ms on libuv's threadpool (4 threads by default), which DNS lookups (reconnecting to
 * Redis or the policy-service by name, as in Kubernetes) and async file I/O share:
 * unbounded, a flood of attempts on made-up client ids (each costs a full derivation, so
 * timing tells no ids apart) starves them for seconds. At
 * most `running` derive at once, `waiting` more queue behind them in arrival order, and
 * an attempt beyond both is refused at once with {@link ClientAuthBusyError}, before any
 * hashing.
 */
export class HashingGate {
  readonly #running: number;
  readonly #waiting: number;
  #active = 0;
  readonly #queue: (() => void)[] = [];

  constructor(options: { running?: number; waiting?: number } = {}) {
    this.#running = options.running ?? 2;
    this.#waiting = options.waiting ?? 64;
  }

  /** Runs `work` once a slot is free; rejects with {@link ClientAuthBusyError} when the queue is full. */
  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.#active >= this.#running) {
      if (this.#queue.length >= this.#waiting) throw new ClientAuthBusyError('too many client authentications at once; retry');
      await new Promise<void>((resolve) => this.#queue.push(resolve));
    } else {
      this.#active += 1;
    }
    try {
      return await work();
    } finally {
      // The slot passes straight to the next in line, so the count holds across the hand-over.
      const next = this.#queue.shift();
      if (next === undefined) this.#active -= 1;
      else next();
    }
  }
}
