import { setTimeout as sleep } from 'node:timers/promises';
import { PortcullisError } from '@portcullis/contracts';

/** {@link withDeadline}'s work did not settle in time; it may still complete later. */
export class DeadlineError extends PortcullisError {
  static override readonly code = 'E_DEADLINE';
}

/**
 * Settles as `work` does, or rejects with {@link DeadlineError} after `ms`. For a rare
 * write or read to Redis that must answer a caller now: ioredis keeps a command through
 * reconnects for seconds otherwise. The work is not cancelled, so it must be harmless
 * when it lands late (idempotent, or superseded). The timer is unref'd and left to run
 * out, which costs nothing at the rates this is meant for.
 */
export async function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([
    work,
    sleep(ms, undefined, { ref: false }).then(() => {
      throw new DeadlineError(`${what} did not answer within ${ms} ms`, { context: { ms } });
    }),
  ]);
}
