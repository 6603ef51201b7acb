import type { EvaluateRequest, EvaluateResponse } from '@portcullis/contracts';
import {
  SpanKind,
  endSpan,
  portcullisMetrics,
  startSpan,
  traceparentOf,
  validTraceparent,
  type HealthCheck,
  type PortcullisMetrics,
} from '@portcullis/observability';
import { Batcher, type Batch, type Waiter } from './batcher.ts';
import { BreakerLayer, type BreakerState } from './breaker.ts';
import { canonicalJson } from './canonical.ts';
import { DeadlineExceededError, PolicyBusyError, PolicyClientError, PolicyRejectedError, PolicyUnavailableError } from './errors.ts';
import { resolveOptions, resolveTimeout, type PolicyClientOptions, type ResolvedOptions } from './options.ts';
import { withRetries } from './retry.ts';
import { AliveWatch, SessionKeeper } from './session.ts';
import { WarmUp, type WarmUpOptions } from './warm-up.ts';
import { H2cTransport, afterDeadline, type BatchResponse } from './transport.ts';

/** `EvaluateRequest` with the members the policy-service defaults (`context`, `entities`) optional. */
export type EvaluateInput = Omit<EvaluateRequest, 'context' | 'entities'> & Partial<Pick<EvaluateRequest, 'context' | 'entities'>>;

/** One decision as the policy-service gave it, with the policy version that made it (the contracts' `EvaluateResponse`). */
export type Decision = EvaluateResponse;

/** Per-call options of {@link PolicyClient.evaluate}. */
export interface EvaluateOptions {
  /** This call's deadline (ms), retries included. Default: the client's `timeoutMs`. */
  timeoutMs?: number;
  /**
   * W3C trace context. With a tracer, the batch call's span is the child of its first
   * caller's trace and linked to every other's; without one, the first caller's
   * `traceparent` is passed on as is.
   */
  traceparent?: string;
}

/** Counters since the client was created, plus what is in flight now. */
export interface ClientStats {
  calls: number;
  /** HTTP/2 requests sent (each attempt of each batch). */
  roundTrips: number;
  /** Items carried by those requests. */
  itemsSent: number;
  /** Calls that shared an identical item already in their batch. */
  coalescedDuplicates: number;
  retries: number;
  /** Calls rejected with E_DEADLINE_EXCEEDED. */
  timeouts: number;
  breakerOpens: number;
  /** Calls refused fast by the open breaker. */
  circuitRejections: number;
  /** Calls refused fast with E_POLICY_BUSY: the adaptive limit was reached (see `maxInFlight`). */
  shed: number;
  /** Items the adaptive limit lets on the wire now. */
  inFlightLimit: number;
  /** Batches on the wire. */
  inFlightBatches: number;
  /** Calls not yet settled. */
  inFlightCalls: number;
  /** Distinct items gathering for the next batch. */
  queued: number;
  /** The HTTP/2 connection: connected, streams pending and running, sessions opened so far, sessions dropped because the service stopped answering. */
  connection: { connected: boolean; pending: number; running: number; connects: number; resets: number };
}

/** How long a half-open breaker waits for a caller's call to be its trial before the client sends one (ms). */
const TRIAL_AFTER_MS = 100;

// The session keeper's pace: a service that is away is tried at most once a second.
const RECONNECT = { backoffBaseMs: 50, maxBackoffMs: 1_000, pingTimeoutMs: 2_000 };

/**
 * Client of the policy-service's `POST /evaluate/batch`: single `evaluate` calls are
 * coalesced into batches (batcher.ts), each batch goes through the breaker
 * (breaker.ts), then the retry layer bounded by the callers' deadline (retry.ts), then one
 * h2c transport (transport.ts). Every call settles by its deadline, whatever the server does.
 */
export class PolicyClient {
  readonly #options: ResolvedOptions;
  readonly #metrics: PortcullisMetrics;
  readonly #transport: H2cTransport;
  readonly #breaker: BreakerLayer;
  readonly #batcher: Batcher<Decision>;
  readonly #keeper: SessionKeeper;
  readonly #aliveWatch: AliveWatch;
  readonly #warmUp: WarmUp;
  readonly #counts = { calls: 0, roundTrips: 0, itemsSent: 0, retries: 0, timeouts: 0, circuitRejections: 0, shed: 0, inFlightCalls: 0 };
  readonly #shedCounter: { inc(): void };
  #closed = false;
  /** The last request asked, sent again as the breaker's trial when no caller comes to make one. */
  #lastRequest: EvaluateInput | undefined;
  #trialTimer: NodeJS.Timeout | undefined;

  constructor(options: PolicyClientOptions) {
    this.#options = resolveOptions(options);
    this.#metrics = portcullisMetrics(this.#options.registry);
    this.#transport = new H2cTransport(this.#options.url, this.#options.maxResponseBytes, this.#options.sessionIdleMs);
    this.#breaker = new BreakerLayer({ ...this.#options.breaker, target: this.#options.target, metrics: this.#metrics });
    // A batch slower than a quarter of the deadline means the service is queueing: its
    // answers would soon miss their attempt timeout (half the deadline) and then the deadline.
    const slowBatchMs = Math.max(1, this.#options.timeoutMs / 4);
    this.#batcher = new Batcher<Decision>({ ...this.#options, slowBatchMs }, (batch) => this.#sendBatch(batch));
    this.#shedCounter = this.#metrics.circuitEvents.labels({ target: this.#options.target, event: 'shed' });
    this.#keeper = new SessionKeeper(this.#transport, RECONNECT);
    // A reopened session is the service answering again (after a restart it opens its
    // port only once warm): recover within a reconnect interval, not a breaker period.
    this.#keeper.onChange((open) => {
      if (open) this.#breaker.probeNow();
    });
    // A grey failure can end without a new session: while open, an /alive answered within
    // the callers' deadline ends the wait the same way.
    this.#aliveWatch = new AliveWatch(this.#transport, { intervalMs: RECONNECT.maxBackoffMs, timeoutMs: this.#options.timeoutMs }, () =>
      this.#breaker.probeNow(),
    );
    this.#breaker.onStateChange((state) => {
      this.#aliveWatch.set(state === 'open');
      if (state === 'half-open') this.#scheduleTrial();
    });
    this.#warmUp = new WarmUp({
      connect: () => this.connect(),
      evaluate: (request, options) => this.evaluate(request, options),
      closed: () => this.#closed,
    });
  }

  /**
   * Opens the session now and keeps it open: after every GOAWAY, reset or restart of the
   * service it is reopened at once, backing off while the service is away, so calls do
   * not pay for connecting. Resolves once a session is open (it keeps trying until then).
   */
  connect(): Promise<void> {
    this.#keeper.start();
    return this.#keeper.whenConnected();
  }

  /**
   * Proves the whole path before the caller calls itself ready: opens the session (as
   * {@link connect}), then sends bursts of calls through the batcher, breaker, retries and
   * transport to the service and its engine (see {@link WarmUp}). Until it is done,
   * {@link healthCheck} reports `down`. Resolves true once warm, false if the client was
   * closed first; it never gives up on its own.
   */
  warmUp(request: (n: number) => EvaluateInput, options: WarmUpOptions = {}): Promise<boolean> {
    return this.#warmUp.run(request, options);
  }

  /**
   * Asks for one decision. Resolves with it, or rejects with E_CIRCUIT_OPEN or
   * E_POLICY_BUSY (fast, nothing sent), E_DEADLINE_EXCEEDED (at the deadline at the
   * latest), E_POLICY_UNAVAILABLE or E_POLICY_REJECTED. Never resolves with a decision
   * that was not this request's.
   */
  evaluate(request: EvaluateInput, options: EvaluateOptions = {}): Promise<Decision> {
    if (this.#closed)
      return Promise.reject(new PolicyUnavailableError('the policy client is closed', { context: { target: this.#options.target } }));
    let timeoutMs: number;
    try {
      timeoutMs = resolveTimeout(options.timeoutMs, this.#options.timeoutMs);
    } catch (error) {
      return Promise.reject(error);
    }
    this.#counts.calls++;
    this.#lastRequest = request;
    if (this.#breaker.refusing) {
      this.#counts.circuitRejections++;
      this.#breaker.recordRejection();
      return Promise.reject(this.#breaker.openError());
    }
    const json = canonicalJson({ context: {}, entities: [], ...request });
    const traceparent = validTraceparent(options.traceparent);
    return new Promise<Decision>((resolve, reject) => {
      this.#counts.inFlightCalls++;
      const settle = (): boolean => {
        if (waiter.settled) return false;
        waiter.settled = true;
        timer.cancel();
        this.#counts.inFlightCalls--;
        return true;
      };
      const waiter: Waiter<Decision> = {
        deadline: performance.now() + timeoutMs,
        traceparent,
        settled: false,
        batch: undefined,
        resolve: (value) => settle() && resolve(value),
        reject: (error) => {
          if (!settle()) return;
          if (error instanceof DeadlineExceededError) this.#counts.timeouts++;
          reject(error);
        },
      };
      // The caller's own clock: it fires at the deadline even if the server never answers
      // (after reading what already arrived: an answer waiting in the socket still counts).
      const timer = afterDeadline(timeoutMs, () => {
        waiter.reject(
          new DeadlineExceededError(`no decision within ${timeoutMs} ms`, { context: { target: this.#options.target, timeoutMs } }),
        );
        const batch = waiter.batch;
        if (batch !== undefined && --batch.live === 0) batch.controller.abort();
      });
      if (!this.#batcher.add(json, json, waiter)) {
        this.#counts.shed++;
        this.#shedCounter.inc();
        waiter.reject(
          new PolicyBusyError('the policy-service has as much as it can answer in time', { context: { target: this.#options.target } }),
        );
      }
    });
  }

  /** `closed`, `half-open` or `open`. */
  get breakerState(): BreakerState {
    return this.#breaker.state;
  }

  /** Called when the kept session (see {@link connect}) opens (true) or is lost (false), for logs; returns an unsubscribe function. */
  onConnectionChange(listener: (open: boolean) => void): () => void {
    return this.#keeper.onChange(listener);
  }

  /** Called on every breaker transition (for logs); returns an unsubscribe function. */
  onBreakerStateChange(listener: (state: BreakerState) => void): () => void {
    return this.#breaker.onStateChange(listener);
  }

  /** A critical check for observability's Health: down while a {@link warmUp} is pending or the breaker is open. */
  healthCheck(name: string = this.#options.target): HealthCheck {
    return {
      name,
      critical: true,
      check: () => {
        const state = this.#breaker.state;
        const detail = {
          breaker: state,
          connected: this.#keeper.connected,
          connects: this.#transport.connects,
          inFlightBatches: this.#batcher.inFlight,
        };
        if (this.#warmUp.pending) {
          const lastError = this.#warmUp.lastError ?? this.#keeper.lastError;
          return { status: 'down', detail: { ...detail, warmedUp: false, ...(lastError === undefined ? {} : { lastError }) } };
        }
        return { status: state === 'open' ? 'down' : state === 'half-open' ? 'degraded' : 'up', detail };
      },
    };
  }

  stats(): ClientStats {
    const { calls, roundTrips, itemsSent, retries, timeouts, circuitRejections, shed, inFlightCalls } = this.#counts;
    return {
      calls,
      roundTrips,
      itemsSent,
      retries,
      timeouts,
      circuitRejections,
      shed,
      inFlightLimit: this.#batcher.limit,
      inFlightCalls,
      coalescedDuplicates: this.#batcher.coalesced,
      breakerOpens: this.#breaker.opens,
      inFlightBatches: this.#batcher.inFlight,
      queued: this.#batcher.queued,
      connection: { ...this.#transport.connection, connects: this.#transport.connects, resets: this.#transport.resets },
    };
  }

  /** Refuses new calls, sends what is gathered, waits for batches on the wire, then closes the connection. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#batcher.flush();
    await this.#batcher.drain();
    this.#batcher.stop();
    this.#keeper.stop();
    this.#aliveWatch.set(false);
    clearTimeout(this.#trialTimer);
    this.#breaker.shutdown();
    await this.#transport.close();
  }

  /**
   * A half-open breaker closes only when a trial call succeeds. Callers bring one soon
   * enough under traffic, but a caller whose readiness follows {@link healthCheck} gets no
   * traffic while the breaker is not closed (Kubernetes takes an unready pod out of its
   * Service), so it would wait for a trial that never comes and stay unready after the
   * service is back. So when no caller has taken the trial within TRIAL_AFTER_MS, the
   * client sends the last request it was asked again, as the trial; its answer is dropped.
   */
  #scheduleTrial(): void {
    clearTimeout(this.#trialTimer);
    this.#trialTimer = setTimeout(() => {
      const request = this.#lastRequest;
      if (this.#closed || request === undefined || this.#breaker.state !== 'half-open' || this.#breaker.refusing) return;
      // A trial that gave no verdict (a whole-batch 4xx) leaves the breaker half-open: try again.
      void this.evaluate(request)
        .catch(() => undefined)
        .then(() => {
          if (this.#breaker.state === 'half-open') this.#scheduleTrial();
        });
    }, TRIAL_AFTER_MS);
    this.#trialTimer.unref();
  }

  /** Settles every caller of `batch`; resolves whether the service answered it (the adaptive limit's signal). */
  async #sendBatch(batch: Batch<Decision>): Promise<boolean> {
    const budget = batch.deadline - performance.now();
    const attemptTimeoutMs = this.#options.attemptTimeoutMs ?? Math.max(1, Math.ceil(budget / 2));
    const count = batch.items.length;
    const tracer = this.#options.tracer;
    const span =
      tracer === undefined
        ? undefined
        : startSpan(tracer, 'POST /evaluate/batch', {
            kind: SpanKind.CLIENT,
            parent: batch.traceparent,
            links: batch.items.flatMap((item) => item.waiters.map((waiter) => waiter.traceparent)),
            attributes: {
              'http.request.method': 'POST',
              'url.full': `${this.#options.url}/evaluate/batch`,
              'portcullis.batch.items': count,
              'portcullis.batch.callers': batch.live,
            },
          });
    const traceparent = span === undefined ? batch.traceparent : traceparentOf(span);
    let attempts = 0;
    const attempt = (timeoutMs: number): Promise<BatchResponse> => {
      attempts++;
      this.#counts.roundTrips++;
      this.#counts.itemsSent += count;
      this.#metrics.batchRoundTrips.inc({ target: this.#options.target });
      this.#metrics.batchSize.observe({ target: this.#options.target }, count);
      return this.#transport.send({ body: batch.body, count, traceparent, signal: batch.controller.signal, timeoutMs });
    };
    let answer: BatchResponse;
    try {
      answer = await this.#breaker.run(() =>
        withRetries(attempt, {
          retries: this.#options.retries,
          backoffBaseMs: this.#options.backoffBaseMs,
          attemptTimeoutMs,
          deadline: batch.deadline,
          signal: batch.controller.signal,
          onRetry: () => void this.#counts.retries++,
        }),
      );
    } catch (error) {
      const failure =
        error instanceof PolicyClientError
          ? error
          : new PolicyUnavailableError('policy-service call failed', { cause: error, context: { target: this.#options.target } });
      if (span !== undefined) {
        span.setAttribute('portcullis.batch.attempts', attempts);
        endSpan(span, failure);
      }
      for (const item of batch.items) for (const waiter of item.waiters) waiter.reject(failure);
      // A refusal of the batch is an answer; anything else (timeout, reset, open breaker) is not.
      return failure instanceof PolicyRejectedError;
    }
    if (span !== undefined) {
      span.setAttribute('portcullis.batch.attempts', attempts);
      endSpan(span);
    }
    batch.items.forEach((item, index) => {
      const result = answer.results[index];
      if (result === undefined) return; // length was checked by the transport
      if ('error' in result) {
        const rejected = new PolicyRejectedError(`policy-service rejected the request: ${result.error.message}`, {
          context: { target: this.#options.target, itemCode: result.error.code, itemMessage: result.error.message },
        });
        for (const waiter of item.waiters) waiter.reject(rejected);
        return;
      }
      for (const waiter of item.waiters) {
        // A copy per caller: one caller mutating its answer must not change another's.
        waiter.resolve({
          decision: result.decision,
          reasons: [...result.reasons],
          errors: [...result.errors],
          policyVersion: answer.policyVersion,
        });
      }
    });
    return true;
  }
}
