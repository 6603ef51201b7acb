/** What a `REDIS_URL` names: one server, or the startup nodes of a Redis Cluster. */
export interface RedisTarget {
  nodes: { host: string; port: number }[];
  /** More than one node listed: a Redis Cluster. */
  cluster: boolean;
  username: string | undefined;
  password: string | undefined;
  /** `rediss://`. */
  tls: boolean;
}

/**
 * Parses PRODUCT.md's `REDIS_URL`: `redis://[user:password@]host:port` or, for a
 * cluster, `redis://[user:password@]h1:p1,h2:p2,...` (the credentials apply to every
 * node). One parser, so the cache, the bus and the services read the URL the same way.
 * @throws RangeError naming what is wrong
 */
export function parseRedisUrl(url: string): RedisTarget {
  const match = /^(rediss?):\/\/(?:([^@/]*)@)?([^/?#]+)/.exec(url);
  if (match === null)
    throw new RangeError(
      `REDIS_URL must look like redis://[user:password@]host:port[,host:port...], received ${JSON.stringify(url.replace(/\/\/[^@/]*@/, '//***@'))}`,
    );
  const [, scheme, credentials, hosts = ''] = match;
  let username: string | undefined;
  let password: string | undefined;
  if (credentials !== undefined) {
    const colon = credentials.indexOf(':');
    username = decodeURIComponent(colon === -1 ? credentials : credentials.slice(0, colon)) || undefined;
    password = colon === -1 ? undefined : decodeURIComponent(credentials.slice(colon + 1)) || undefined;
  }
  const nodes = hosts.split(',').map((part) => {
    const colon = part.lastIndexOf(':');
    const host = colon === -1 ? part : part.slice(0, colon);
    const port = colon === -1 ? 6379 : Number(part.slice(colon + 1));
    if (host === '' || !Number.isInteger(port) || port < 1 || port > 65_535)
      throw new RangeError(`REDIS_URL lists a bad node ${JSON.stringify(part)}`);
    return { host, port };
  });
  return { nodes, cluster: nodes.length > 1, username, password, tls: scheme === 'rediss' };
}

/** True when {@link parseRedisUrl} accepts `url` (for configuration schemas). */
export function isRedisUrl(url: string): boolean {
  try {
    parseRedisUrl(url);
    return true;
  } catch {
    return false;
  }
}
