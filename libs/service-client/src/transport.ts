import { H2CClient } from 'undici';
import { BatchEvaluateResponse } from '@portcullis/contracts';
import { watchForStall } from '@portcullis/resilience';
import { DeadlineExceededError, PolicyRejectedError, PolicyUnavailableError } from './errors.ts';

/** One `/evaluate/batch` round trip as the layers above see it. */
export interface BatchAttempt {
  /** The serialized `{"requests": [...]}` body. */
  body: string;
  /** Items in the body: the answer must carry exactly this many results. */
  count: number;
  traceparent: string | undefined;
  /** Aborts the attempt when every caller of the batch has given up or the client closes. */
  signal: AbortSignal;
  /** This attempt's own time limit (ms); its expiry is a retryable failure. */
  timeoutMs: number;
}

export type BatchResponse = BatchEvaluateResponse;

// Statuses that say "not now" rather than "never": another attempt may succeed.
const RETRYABLE_STATUS = new Set([429, 502, 503, 504]);
/**
 * Attempts in a row that timed out with nothing answered in between, after which the
 * session is dropped and a new one opened. A peer that stops reading (frozen, wedged)
 * leaves every stream we open or reset queued in Node's HTTP/2 session; measured with the
 * policy-service SIGSTOPped for 3 s under 400 requests/s, both auth-services then spun in
 * node::http2::Http2Session::SendPendingData with 9 GB resident, for good, once the peer
 * woke. Dropping the session drops what is queued with it.
 */
const SILENT_TIMEOUTS_BEFORE_RESET = 3;
const ERROR_BODY_LIMIT = 16 * 1024;

/**
 * The one transport: a single undici H2CClient (one TCP connection, HTTP/2 streams
 * multiplexed on it) to the policy-service. It sends one attempt and classifies every
 * outcome into a typed error; it knows nothing of batching, retries or the breaker.
 */
export class H2cTransport {
  #client: H2CClient;
  readonly #origin: string;
  readonly #maxResponseBytes: number;
  readonly #onConnect = new Set<() => void>();
  readonly #onDisconnect = new Set<(idle: boolean) => void>();
  #connects = 0;
  #resets = 0;
  /** Attempts that timed out since the last answer on this session. */
  #silentTimeouts = 0;
  #closed = false;

  readonly #idleMs: number;

  constructor(origin: string, maxResponseBytes: number, idleMs = 60_000) {
    this.#origin = origin;
    this.#maxResponseBytes = maxResponseBytes;
    this.#idleMs = idleMs;
    this.#client = this.#open();
  }

  #open(): H2CClient {
    // Timeouts are the deadline layer's job; undici's own (seconds) only catch leaks.
    // keepAliveTimeout: undici drops an idle connection after 4 s by default, and the
    // session keeper then reconnected every 4 s on an idle service; kept under http-kit's
    // server keep-alive (65 s) so the client, not the server, ends it (sessionIdleMs).
    const client = new H2CClient(this.#origin, {
      maxConcurrentStreams: 100,
      pipelining: 100,
      connectTimeout: 5_000,
      keepAliveTimeout: this.#idleMs,
    });
    client.on('connect', () => {
      this.#connects++;
      for (const listener of this.#onConnect) listener();
    });
    client.on('disconnect', (_origin: unknown, _targets: unknown, error: Error | undefined) => {
      // keepAliveTimeout above ending an unused session: nothing was lost.
      const idle = error?.message === 'socket idle timeout';
      for (const listener of this.#onDisconnect) listener(idle);
    });
    return client;
  }

  /** Drops the session and everything queued on it (see SILENT_TIMEOUTS_BEFORE_RESET); the next call or ping opens a new one. */
  #reset(): void {
    if (this.#closed) return;
    const old = this.#client;
    this.#client = this.#open();
    this.#silentTimeouts = 0;
    this.#resets++;
    void old.destroy().catch(() => undefined);
  }

  /** Sessions dropped because the peer stopped answering. */
  get resets(): number {
    return this.#resets;
  }

  /** Sessions opened so far. */
  get connects(): number {
    return this.#connects;
  }

  /** Calls `listener` whenever a session opens, whoever asked for it (a call or a ping); returns an unsubscribe function. */
  onConnect(listener: () => void): () => void {
    this.#onConnect.add(listener);
    return () => void this.#onConnect.delete(listener);
  }

  /**
   * Calls `listener` whenever the session ends: lost (GOAWAY, reset, the service gone), or
   * closed for idling (`idle` true); returns an unsubscribe function.
   */
  onDisconnect(listener: (idle: boolean) => void): () => void {
    this.#onDisconnect.add(listener);
    return () => void this.#onDisconnect.delete(listener);
  }

  /**
   * One `GET /alive` on the session, opening it if needed. Any HTTP answer proves the
   * session works; only a failure to get one rejects (refused, reset, `timeoutMs` passed).
   * Resolves with the answer's status.
   */
  async ping(timeoutMs: number): Promise<number> {
    const { statusCode, body } = await this.#client.request({ path: '/alive', method: 'GET', signal: AbortSignal.timeout(timeoutMs) });
    await body.dump();
    return statusCode;
  }

  /** Connection statistics of the underlying client (connected, pending and running streams). */
  get connection(): { connected: boolean; pending: number; running: number } {
    const stats = (this.#client as unknown as { stats?: { connected?: number | boolean; pending?: number; running?: number } }).stats;
    return { connected: Boolean(stats?.connected), pending: stats?.pending ?? 0, running: stats?.running ?? 0 };
  }

  /** Sends one attempt; resolves with the validated answer or rejects with a PolicyClientError. */
  async send(attempt: BatchAttempt): Promise<BatchResponse> {
    const stalled = watchForStall();
    let timedOut = false;
    let giveUp!: (reason: Error) => void;
    const givenUp = new Promise<never>((_resolve, reject) => {
      giveUp = reject;
    });
    const timer = afterDeadline(attempt.timeoutMs, () => {
      timedOut = true;
      giveUp(new Error('attempt timed out'));
    });
    const onAbort = (): void => giveUp(new Error('every caller gave up'));
    attempt.signal.addEventListener('abort', onAbort, { once: true });
    if (attempt.signal.aborted) onAbort();
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
    if (attempt.traceparent !== undefined) headers['traceparent'] = attempt.traceparent;
    // The exchange is never aborted, only abandoned: a caller that gives up stops waiting
    // and the stream runs to its end in the background. Aborting sends RST_STREAM, and
    // under npm run chaos (a burst of 10x the steady rate; the policy-service frozen and
    // woken) the churn of reset streams left an auth-service spinning for good in
    // node::http2::Http2Session::SendPendingData (gdb), resident memory past 14 GB. A
    // session whose peer stops answering is dropped whole instead (#reset).
    const exchange = (async (): Promise<BatchResponse> => {
      const { statusCode, body } = await this.#client.request({ path: '/evaluate/batch', method: 'POST', headers, body: attempt.body });
      this.#silentTimeouts = 0;
      if (statusCode !== 200) {
        const text = await readLimited(body, ERROR_BODY_LIMIT).catch(() => '');
        throw statusError(statusCode, text, this.#origin);
      }
      const text = await readLimited(body, this.#maxResponseBytes);
      return parseAnswer(text, attempt.count, this.#origin);
    })();
    exchange.catch(() => undefined);
    try {
      return await Promise.race([exchange, givenUp]);
    } catch (error) {
      if (timedOut || attempt.signal.aborted) {
        // Busy most of the window: the service may well have answered; not its failure.
        const local = stalled();
        // The peer had its time and said nothing, again: stop queueing on this session.
        if (timedOut && !local && ++this.#silentTimeouts >= SILENT_TIMEOUTS_BEFORE_RESET) this.#reset();
        if (timedOut)
          throw new DeadlineExceededError(`policy-service attempt exceeded ${attempt.timeoutMs} ms`, {
            cause: error,
            context: { retryable: true, attemptTimeoutMs: attempt.timeoutMs, local },
          });
        throw new DeadlineExceededError('every caller of this batch gave up', { cause: error, context: { retryable: false, local } });
      }
      if (error instanceof PolicyUnavailableError || error instanceof PolicyRejectedError) throw error;
      if (error instanceof ResponseTooLarge)
        throw new PolicyUnavailableError(error.message, { context: { retryable: false, origin: this.#origin } });
      // Reset, GOAWAY, refused connection, stream errors: the service may answer the next one.
      const code = (error as { code?: unknown }).code;
      throw new PolicyUnavailableError(`policy-service request failed: ${(error as Error).message}`, {
        cause: error,
        context: { retryable: true, origin: this.#origin, errorCode: code },
      });
    } finally {
      timer.cancel();
      attempt.signal.removeEventListener('abort', onAbort);
    }
  }

  /** Closes the session: what is in flight may finish for a second, then it is destroyed. */
  async close(): Promise<void> {
    this.#closed = true;
    const closing = this.#client.close().then(
      () => true,
      () => false,
    );
    const finished = await Promise.race([closing, new Promise<false>((resolve) => setTimeout(resolve, 1000, false).unref())]);
    if (!finished) await this.#client.destroy().catch(() => undefined);
  }
}

class ResponseTooLarge extends Error {}

/**
 * Runs `fire` once `ms` have passed and pending I/O has been read. Node runs expired
 * timers before it polls sockets, so after the loop was blocked a plain timer would give
 * up on an answer that is already waiting in the socket; `setImmediate` runs after the poll.
 */
export function afterDeadline(ms: number, fire: () => void): { cancel(): void } {
  let immediate: NodeJS.Immediate | undefined;
  const timer = setTimeout(() => {
    immediate = setImmediate(fire);
  }, ms);
  return {
    cancel: () => {
      clearTimeout(timer);
      if (immediate !== undefined) clearImmediate(immediate);
    },
  };
}

/** Reads a body as text, giving up (and destroying the stream) past `limit` bytes. */
async function readLimited(body: AsyncIterable<Buffer> & { destroy(error?: Error): unknown }, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > limit) {
      body.destroy();
      throw new ResponseTooLarge(`response larger than ${limit} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size).toString('utf8');
}

function statusError(status: number, text: string, origin: string): Error {
  let code: string | undefined;
  let message: string | undefined;
  try {
    const parsed = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    if (typeof parsed.error?.code === 'string') code = parsed.error.code;
    if (typeof parsed.error?.message === 'string') message = parsed.error.message.slice(0, 500);
  } catch {
    // Not our error format (a proxy's HTML page, say): the status says enough.
  }
  const context = { status, origin, serverCode: code, serverMessage: message, retryable: RETRYABLE_STATUS.has(status) };
  if (status >= 400 && status < 500 && !RETRYABLE_STATUS.has(status)) {
    return new PolicyRejectedError(`policy-service rejected the batch with ${status}${message ? `: ${message}` : ''}`, {
      context: { ...context, itemCode: code, itemMessage: message },
    });
  }
  return new PolicyUnavailableError(`policy-service answered ${status}`, { context });
}

/**
 * Validates the answer fully before any caller sees it: a hostile or broken server
 * must produce E_POLICY_UNAVAILABLE for the whole batch, never a decision in the wrong slot.
 */
function parseAnswer(text: string, count: number, origin: string): BatchResponse {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new PolicyUnavailableError('policy-service answer is not JSON', { cause: error, context: { retryable: false, origin } });
  }
  const parsed = BatchEvaluateResponse.safeParse(json);
  if (!parsed.success) {
    throw new PolicyUnavailableError('policy-service answer is not a batch response', {
      cause: parsed.error,
      context: { retryable: false, origin },
    });
  }
  if (parsed.data.results.length !== count) {
    throw new PolicyUnavailableError(`policy-service answered ${parsed.data.results.length} results for ${count} requests`, {
      context: { retryable: false, origin },
    });
  }
  return parsed.data;
}
