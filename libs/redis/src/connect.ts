import { parseRedisUrl } from '@portcullis/contracts';
import { Cluster, Redis, type RedisOptions } from 'ioredis';

/** A standalone or cluster client; the libraries use only commands both support. */
export type RedisClient = Redis | Cluster;

/**
 * What a connection is for:
 * - `command`: the shared one: auto-pipelined (standalone), and a command survives a few
 *   reconnects (about 15 s) before it fails. Callers that need an answer sooner (the
 *   cache's L2 guard) put their own deadline on the call.
 * - `blocking`: carries one `XREADGROUP BLOCK` at a time, so it is never shared or
 *   pipelined and retries its command forever: the reader decides when to give up.
 * - `subscriber`: a pub/sub connection (subscriber mode allows nothing else).
 */
export type RedisRole = 'command' | 'blocking' | 'subscriber';

/**
 * Whether `client` is a Cluster client. By shape, not `instanceof`: each workspace
 * package may resolve its own copy of ioredis, and a class from one copy does not match
 * an instance made by another.
 */
export function isCluster(client: RedisClient): client is Cluster {
  return typeof (client as Partial<Cluster>).nodes === 'function';
}

/** Whether `value` looks like an ioredis client (standalone or Cluster), by shape as above. */
export function isRedisClient(value: unknown): value is RedisClient {
  const candidate = value as Partial<Redis> | null;
  return (
    typeof candidate === 'object' && candidate !== null && typeof candidate.duplicate === 'function' && typeof candidate.status === 'string'
  );
}

function roleOptions(role: RedisRole): Partial<RedisOptions> {
  return {
    enableAutoPipelining: role === 'command',
    maxRetriesPerRequest: role === 'command' ? 20 : null,
    // Reconnect fast at first, then at most once a second while Redis is away.
    retryStrategy: (times: number) => Math.min(50 * times, 1000),
    // RESP2 keeps XREADGROUP/XAUTOCLAIM replies in their documented nested-array shape
    // (ioredis 6 defaults to RESP3, where the stream map arrives flattened).
    protocol: 2,
  };
}

// Errors also reach the caller through the failed command; without a listener ioredis
// would print every reconnect attempt as an unhandled 'error' event.
function quiet<T extends RedisClient>(client: T): T {
  client.on('error', () => undefined);
  return client;
}

/**
 * Opens a connection for `role` to `url` (see `REDIS_URL` in PRODUCT.md): a
 * comma-separated host list (`redis://[user:pass@]h1:p1,h2:p2`) means a Cluster, whose
 * nodes all get the URL's credentials. Close it with {@link closeRedis}.
 */
export function openRedis(url: string, role: RedisRole = 'command'): RedisClient {
  const { nodes, cluster, username, password, tls } = parseRedisUrl(url);
  const options = roleOptions(role);
  if (!cluster) return quiet(new Redis(url, options));
  // No auto-pipelining on a cluster: it cannot route scripts whose key count is an
  // argument (the bus's busAckMany) and would mix slots in one pipeline.
  return quiet(
    new Cluster(nodes, {
      redisOptions: { ...options, enableAutoPipelining: false, username, password, ...(tls ? { tls: {} } : {}) },
      enableAutoPipelining: false,
      clusterRetryStrategy: (times: number) => Math.min(100 * times, 1000),
    }),
  );
}

/**
 * Opens a connection for `role` to the server (or Cluster) `client` talks to, with its
 * credentials: how a library given a shared client gets the dedicated connections a
 * blocking read or a subscription needs.
 */
export function duplicateRedis(client: RedisClient, role: RedisRole): RedisClient {
  const options = roleOptions(role);
  if (isCluster(client)) {
    const redisOptions = { ...client.options.redisOptions, ...options, enableAutoPipelining: false };
    return quiet(client.duplicate([], { redisOptions, enableAutoPipelining: false }));
  }
  return quiet(client.duplicate(options));
}

/**
 * Closes a connection: QUIT, so replies in flight arrive, then a disconnect if Redis does
 * not answer within `timeoutMs` (it is gone or frozen). Resolves once the connection has
 * ended (status `end`), or after a second `timeoutMs` at worst: a client closed between
 * two reconnect attempts stays `reconnecting` in ioredis, with no socket and its retry
 * timer cleared. Safe to call twice.
 */
export async function closeRedis(client: RedisClient, timeoutMs = 1000): Promise<void> {
  if (client.status === 'end') return;
  // Not events.once: it would reject on the 'error' a failing reconnect emits meanwhile.
  const ended = new Promise<void>((resolve) => client.once('end', () => resolve()));
  const bound = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, timeoutMs).unref());
  // QUIT fails when the connection is already gone; the disconnect below covers it.
  await Promise.race([client.quit().catch(() => undefined), bound()]);
  client.disconnect();
  await Promise.race([ended, bound()]);
}

/** The Redis error code of a failure (`NOGROUP`, `BUSYGROUP`, ...), if it is one. */
export function redisErrorCode(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const match = /^([A-Z]+) /.exec(error.message);
  return match?.[1];
}
