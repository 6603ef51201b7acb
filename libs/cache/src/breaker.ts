import { watchForStall, type CircuitBreaker } from '@portcullis/resilience';
import { CacheError, L2CommandError, L2TimeoutError, L2UnavailableError } from './errors.ts';

/**
 * The one path every L2 call takes: the breaker decides whether it goes out, a timeout
 * bounds it, and any failure becomes a typed L2 error. Callers catch those and degrade;
 * nothing here throws anything else. A timeout while this process's own event loop was
 * busy most of the window (`watchForStall`) still fails the call, but it is not held
 * against Redis: the reply may well be waiting, unread, in the socket. Counting those let a
 * stall of the process (GC, a starved CPU) open the breaker, bypass L2 for its open
 * period and turn `/ready` down, with Redis healthy.
 */
export class L2Guard {
  readonly breaker: CircuitBreaker;
  readonly #timeoutMs: number;
  calls = 0;
  failures = 0;
  timeouts = 0;
  /** Timeouts the process's own stall caused; not counted against the breaker. */
  localStalls = 0;
  shortCircuits = 0;

  constructor(breaker: CircuitBreaker, timeoutMs: number) {
    this.breaker = breaker;
    this.#timeoutMs = timeoutMs;
  }

  /** Runs one L2 call; `timeoutMs` overrides the default for slow maintenance (SCAN). */
  async run<T>(operation: string, call: () => Promise<T>, timeoutMs = this.#timeoutMs): Promise<T> {
    if (!this.breaker.tryAcquire()) {
      this.shortCircuits += 1;
      throw new L2UnavailableError('L2 breaker is open', { context: { operation } });
    }
    this.calls += 1;
    const stalled = watchForStall();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        const context = { operation, timeoutMs, ...(stalled() ? { local: true } : {}) };
        reject(new L2TimeoutError(`L2 ${operation} took longer than ${timeoutMs} ms`, { context }));
      }, timeoutMs);
    });
    try {
      const result = await Promise.race([call(), timeout]);
      this.breaker.success();
      return result;
    } catch (error) {
      this.failures += 1;
      if (error instanceof L2TimeoutError) {
        this.timeouts += 1;
        if (error.context['local'] === true) {
          this.localStalls += 1;
          this.breaker.release();
        } else this.breaker.failure('timeout');
        throw error;
      }
      this.breaker.failure('failure');
      if (error instanceof CacheError) throw error;
      throw new L2CommandError(`L2 ${operation} failed: ${error instanceof Error ? error.message : String(error)}`, {
        cause: error,
        context: { operation },
      });
    } finally {
      clearTimeout(timer);
    }
  }
}
