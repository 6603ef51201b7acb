import { parseRedisUrl } from '@portcullis/contracts';
import { Cluster, Redis } from 'ioredis';
import { ACK_MANY_LUA, DEAD_LETTER_LUA, PUBLISH_MANY_LUA } from './scripts.ts';

/** A standalone or cluster client; the bus uses only commands both support. */
export type RedisClient = Redis | Cluster;

/** The Lua commands the bus defines on each client (see scripts.ts for their contracts). */
export interface BusScripts {
  busAckMany(numberOfKeys: number, ...keysAndArgs: (string | number)[]): Promise<number>;
  busPublishMany(numberOfKeys: number, ...keysAndArgs: (string | number)[]): Promise<number>;
  busDeadLetter(
    stream: string,
    deadLetter: string,
    attempts: string,
    group: string,
    entryId: string,
    maxLen: number,
    ...fields: string[]
  ): Promise<string>;
}

/**
 * Opens a client for the bus. `blocking` clients carry one XREADGROUP BLOCK at a time,
 * so they never auto-pipeline and retry their command forever across reconnects: the
 * read loop, not ioredis, decides when to give up (on close).
 */
export function connect(url: string, role: 'command' | 'blocking'): RedisClient & BusScripts {
  const { nodes, cluster, username, password, tls } = parseRedisUrl(url);
  const common = {
    enableAutoPipelining: role === 'command',
    maxRetriesPerRequest: role === 'blocking' ? null : 20,
    // Reconnect fast at first, then at most once a second while Redis is away.
    retryStrategy: (times: number) => Math.min(50 * times, 1000),
    lazyConnect: false,
    // RESP2 keeps XREADGROUP/XAUTOCLAIM replies in their documented nested-array shape
    // (ioredis 6 defaults to RESP3, where the stream map arrives flattened).
    protocol: 2 as const,
  };
  const client: RedisClient = cluster
    ? // No auto-pipelining on a cluster: it cannot route scripts whose key count is an
      // argument (busAckMany) and would mix slots in one pipeline. Acks are coalesced by
      // the consumer and batches by publishBatch anyway.
      new Cluster(nodes, {
        redisOptions: { ...common, enableAutoPipelining: false, username, password, ...(tls ? { tls: {} } : {}) },
        enableAutoPipelining: false,
        clusterRetryStrategy: (times: number) => Math.min(100 * times, 1000),
      })
    : new Redis(url, common);
  client.defineCommand('busAckMany', { lua: ACK_MANY_LUA });
  client.defineCommand('busPublishMany', { lua: PUBLISH_MANY_LUA });
  client.defineCommand('busDeadLetter', { numberOfKeys: 3, lua: DEAD_LETTER_LUA });
  // Errors also reach the caller through the failed command; without a listener ioredis
  // would print every reconnect attempt as an unhandled 'error' event.
  client.on('error', () => undefined);
  return client as RedisClient & BusScripts;
}

/** The Redis error code of a failure (`NOGROUP`, `BUSYGROUP`, ...), if it is one. */
export function redisErrorCode(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const match = /^([A-Z]+) /.exec(error.message);
  return match?.[1];
}

/** Closes a client politely, then forcibly if QUIT does not answer in time. */
export async function closeClient(client: RedisClient, timeoutMs = 1000): Promise<void> {
  if (client.status === 'end') return;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      client.quit(),
      new Promise((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
  } catch {
    // Quit fails when the connection is already gone; disconnect below covers it.
  } finally {
    clearTimeout(timer);
    client.disconnect();
  }
}
