import type { EvaluateInput, EvaluateOptions } from './client.ts';
import { PolicyBusyError, PolicyRejectedError } from './errors.ts';
import { backoffDelay } from '@portcullis/resilience';

/** Options of {@link PolicyClient.warmUp}. */
export interface WarmUpOptions {
  /** Rounds of calls; each round is one burst, so the batching path runs as it does under load. Default 8. */
  rounds?: number;
  /** Calls per round. Default 16. */
  callsPerRound?: number;
  /**
   * Deadline of a warm-up call (ms). Generous on purpose: first calls pay for compiling
   * cold code in both processes, and a missed warm-up deadline would count against the
   * breaker. Default 10 000.
   */
  timeoutMs?: number;
  /** Longest wait between two tries while the service fails (ms). Default 1 000. */
  maxBackoffMs?: number;
}

/** What a warm-up drives: the client's own entry points. */
export interface WarmUpTarget {
  connect(): Promise<void>;
  evaluate(request: EvaluateInput, options: EvaluateOptions): Promise<unknown>;
  closed(): boolean;
}

/**
 * Warms the path a decision takes (client layers, the service's HTTP/2 route, its
 * engine) so the first real calls do not pay for cold code inside their deadline. A
 * decision or an item rejection (`E_POLICY_REJECTED`: the service and its engine ran)
 * both count as the path working. A call refused as busy (`E_POLICY_BUSY`: a burst past
 * a small `maxInFlight`) proves nothing and fails nothing; each round's first call
 * always goes out. On any other failure it backs off and starts over.
 */
export class WarmUp {
  readonly #target: WarmUpTarget;
  #state: 'idle' | 'pending' | 'done' = 'idle';
  #lastError: string | undefined;

  constructor(target: WarmUpTarget) {
    this.#target = target;
  }

  /** True from the first {@link run} until one has succeeded. */
  get pending(): boolean {
    return this.#state === 'pending';
  }

  /** Why the last try failed, while pending. */
  get lastError(): string | undefined {
    return this.#lastError;
  }

  /** Resolves true once the path was proved, false if the client closed first. */
  async run(request: (n: number) => EvaluateInput, options: WarmUpOptions = {}): Promise<boolean> {
    const rounds = options.rounds ?? 8;
    const perRound = options.callsPerRound ?? 16;
    const timeoutMs = options.timeoutMs ?? 10_000;
    const maxBackoffMs = options.maxBackoffMs ?? 1_000;
    if (this.#state === 'idle') this.#state = 'pending';
    for (let failures = 0; !this.#target.closed(); failures++) {
      try {
        await this.#target.connect();
        for (let round = 0; round < rounds; round++) {
          await Promise.all(
            Array.from({ length: perRound }, (_, i) =>
              this.#target.evaluate(request(round * perRound + i), { timeoutMs }).catch((error: unknown) => {
                if (!(error instanceof PolicyRejectedError || error instanceof PolicyBusyError)) throw error;
              }),
            ),
          );
        }
        this.#state = 'done';
        this.#lastError = undefined;
        return true;
      } catch (error) {
        this.#lastError = (error as Error).message;
        await new Promise((resolve) => setTimeout(resolve, backoffDelay(failures, { baseMs: 50, maxMs: maxBackoffMs })).unref());
      }
    }
    return false;
  }
}
