import { backoffDelay } from '@portcullis/resilience';
import type { H2cTransport } from './transport.ts';

/** How {@link SessionKeeper} paces its attempts. */
export interface SessionKeeperOptions {
  /** First wait after a failed connect (ms); doubles per failure, with jitter. */
  backoffBaseMs: number;
  /** Longest wait between two connect attempts (ms): how often a service that is away is tried. */
  maxBackoffMs: number;
  /** Time limit of one connect-and-ping (ms). */
  pingTimeoutMs: number;
}

/**
 * Keeps the one h2c session open, so no call pays for the TCP and HTTP/2 handshakes or
 * for finding the service gone: it connects when started, and again right after every
 * disconnect (GOAWAY, restart, reset), backing off while the service is away. A connect
 * is one `GET /alive` on the transport, outside the breaker: it proves a session, not a
 * decision, and its failures are not the callers'.
 */
export class SessionKeeper {
  readonly #transport: H2cTransport;
  readonly #options: SessionKeeperOptions;
  #started = false;
  #stopped = false;
  #connected = false;
  #connecting = false;
  #failures = 0;
  #timer: NodeJS.Timeout | undefined;
  #unsubscribe: (() => void)[] = [];
  #waiters: (() => void)[] = [];
  readonly #listeners = new Set<(open: boolean) => void>();
  #lastError: string | undefined;

  constructor(transport: H2cTransport, options: SessionKeeperOptions) {
    this.#transport = transport;
    this.#options = options;
  }

  /** True once a session is open, until it is lost. */
  get connected(): boolean {
    return this.#connected;
  }

  /** Why the last connect attempt failed, while not connected. */
  get lastError(): string | undefined {
    return this.#connected ? undefined : this.#lastError;
  }

  /** Called when the session opens (true) or is lost (false); returns an unsubscribe function. */
  onChange(listener: (open: boolean) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Starts connecting (idempotent); from now on every lost session is reopened. */
  start(): void {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    this.#unsubscribe = [
      this.#transport.onDisconnect((idle) => {
        // A session closed for idling is reopened at once and nothing was lost: not a
        // change to report (it would be a "lost" log line every minute on a quiet instance).
        // Should the reopening fail, that is reported.
        if (!idle) this.#setConnected(false);
        this.#schedule(0);
      }),
      // A call may reopen the session before the next ping would: take it as open.
      this.#transport.onConnect(() => this.#opened()),
    ];
    void this.#connect();
  }

  /** Resolves once a session is open: at once if it is, else at the next successful connect. */
  whenConnected(): Promise<void> {
    if (this.#connected || this.#stopped) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Stops reconnecting, and settles pending `whenConnected` promises so nothing waits on a closed client. */
  stop(): void {
    this.#stopped = true;
    for (const resolve of this.#waiters.splice(0)) resolve();
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const unsubscribe of this.#unsubscribe) unsubscribe();
    this.#listeners.clear();
  }

  async #connect(): Promise<void> {
    if (this.#stopped || this.#connecting) return;
    this.#connecting = true;
    try {
      await this.#transport.ping(this.#options.pingTimeoutMs);
      this.#opened();
    } catch (error) {
      this.#setConnected(false);
      this.#lastError = (error as Error).message;
      this.#failures++;
      this.#schedule(backoffDelay(this.#failures - 1, { baseMs: this.#options.backoffBaseMs, maxMs: this.#options.maxBackoffMs }));
    } finally {
      this.#connecting = false;
    }
  }

  #opened(): void {
    if (this.#stopped) return;
    this.#failures = 0;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#setConnected(true);
    for (const resolve of this.#waiters.splice(0)) resolve();
  }

  #setConnected(open: boolean): void {
    if (this.#connected === open) return;
    this.#connected = open;
    for (const listener of this.#listeners) listener(open);
  }

  #schedule(delayMs: number): void {
    if (this.#stopped || this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#connect();
    }, delayMs);
  }
}

/**
 * While switched on, asks `GET /alive` every `intervalMs`, each time with `timeoutMs`, and
 * calls `answered` when a 2xx answer comes in time. The client switches it on while its
 * breaker is open: a grey failure (a slow network, a stalled process) can end without the
 * session ever dropping, so the keeper never sees the service come back, and the breaker's
 * open period, doubled by each trial that failed during the fault, would keep a service
 * that answers promptly again refused for up to `resetTimeoutMs`. One small request a
 * second, outside the breaker, as the keeper's own probes.
 */
export class AliveWatch {
  readonly #transport: H2cTransport;
  readonly #options: { intervalMs: number; timeoutMs: number };
  readonly #answered: () => void;
  #timer: NodeJS.Timeout | undefined;
  #asking = false;

  constructor(transport: H2cTransport, options: { intervalMs: number; timeoutMs: number }, answered: () => void) {
    this.#transport = transport;
    this.#options = options;
    this.#answered = answered;
  }

  /** Starts (true) or stops (false) asking; idempotent. */
  set(on: boolean): void {
    if (on && this.#timer === undefined) {
      this.#timer = setInterval(() => void this.#ask(), this.#options.intervalMs);
      this.#timer.unref();
    } else if (!on && this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  async #ask(): Promise<void> {
    if (this.#asking) return;
    this.#asking = true;
    try {
      // A 2xx: a proxy's quick 503 for a service that is still away says nothing.
      const status = await this.#transport.ping(this.#options.timeoutMs);
      if (status >= 200 && status < 300 && this.#timer !== undefined) this.#answered();
    } catch {
      // Not in time, or not at all: the breaker's own period goes on.
    } finally {
      this.#asking = false;
    }
  }
}
