import { PortcullisError } from '@portcullis/contracts';
import type { ChainableCommander } from 'ioredis';
import { isCluster, type RedisClient } from './connect.ts';

/** A pipeline of either client kind: commands queue on it until `exec`. */
export type RedisPipeline = ChainableCommander;

/** How long a replicated write waits for its replicas by default (ms). */
const REPLICA_WAIT_MS = 1000;

/**
 * Fewer replicas than asked for acknowledged a write in time. The write may be on the
 * master only, where a failover can take it away, so the caller must treat it as not done
 * and write again later (with the same idempotency key), not as lost or as done.
 */
export class NotReplicatedError extends PortcullisError {
  static override readonly code = 'E_NOT_REPLICATED';
}

/**
 * Whether `error` says a write is on the master only ({@link NotReplicatedError}), itself
 * or as the cause of a wrapper (the bus's publish error). By code, not `instanceof`: each
 * workspace package may resolve its own copy of this library.
 */
export function isNotReplicated(error: unknown): boolean {
  return [error, (error as { cause?: unknown } | null)?.cause].some(
    (candidate) => (candidate as { code?: unknown } | null)?.code === NotReplicatedError.code,
  );
}

/**
 * Sends the writes `write` queues, then `WAIT replicas timeoutMs`, on one pipeline, and
 * resolves to the last write's answer once `replicas` replicas hold them (with 0, no WAIT:
 * once the master has them). One pipeline, so
 * WAIT goes to the node the writes went to (on a Cluster, the master of their slot: their
 * keys must share one slot) and covers every write this connection made there.
 *
 * WAIT holds the connection until the replicas answer (about a round trip, up to
 * `timeoutMs` when one lags), so callers with latency-sensitive commands give it a
 * connection of its own. Rejects with the first write's error, or {@link NotReplicatedError}.
 */
export async function writeReplicated<T>(
  redis: RedisClient,
  replicas: number,
  write: (pipeline: RedisPipeline) => RedisPipeline,
  timeoutMs = REPLICA_WAIT_MS,
): Promise<T> {
  const pipeline = write(redis.pipeline());
  const answers = (await (replicas > 0 ? pipeline.wait(replicas, timeoutMs) : pipeline).exec()) ?? [];
  const waited = replicas > 0 ? answers.at(-1) : undefined;
  const writes = replicas > 0 ? answers.slice(0, -1) : answers;
  const failed = writes.find(([error]) => error !== null)?.[0];
  if ((failed || waited?.[0]) && isCluster(redis)) {
    // After a failover a write is answered MOVED and WAIT, sent to the old master that
    // is a replica now, fails otherwise; ioredis follows a pipeline's redirection only when
    // every command got the same one, so its slot map would stay stale and every retry
    // fail the same way (seen: chaos --cluster held thousands of audit records so). Refresh
    // it before failing, so the caller's retry goes to the new master.
    await new Promise<void>((resolve) => redis.refreshSlotsCache(() => resolve()));
  }
  if (failed) throw failed;
  if (waited?.[0]) throw waited[0];
  const acknowledged = Number(waited?.[1] ?? 0);
  if (acknowledged < replicas)
    throw new NotReplicatedError(`${acknowledged} of ${replicas} replicas acknowledged the write within ${timeoutMs} ms`, {
      context: { acknowledged, replicas },
    });
  return writes.at(-1)?.[1] as T;
}
