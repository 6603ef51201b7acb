import type { RedisClient } from '@portcullis/redis';

/** Whether stream entry id `a` (`1700000000000-3`) comes before `b`: ids order by (ms, seq). */
export function entryIdBefore(a: string, b: string): boolean {
  const [am = 0n, as = 0n] = a.split('-').map(BigInt);
  const [bm = 0n, bs = 0n] = b.split('-').map(BigInt);
  return am < bm || (am === bm && as < bs);
}

/** One consumer group of a stream, as XINFO GROUPS tells it. */
export interface GroupInfo {
  name: string;
  pending: number;
  lastDelivered: string;
}

/** XINFO GROUPS of `stream` (RESP2: one flat `[name, value, ...]` array per group); none for a stream that is gone. */
export async function readGroups(client: RedisClient, stream: string): Promise<GroupInfo[]> {
  const reply: unknown = await client.call('XINFO', 'GROUPS', stream).catch(() => []);
  if (!Array.isArray(reply)) return [];
  return reply.map((flat: unknown[]) => {
    const info = new Map<string, unknown>();
    for (let i = 0; i + 1 < flat.length; i += 2) info.set(String(flat[i]), flat[i + 1]);
    return { name: String(info.get('name')), pending: Number(info.get('pending')), lastDelivered: String(info.get('last-delivered-id')) };
  });
}

/**
 * Trims `stream` below the oldest entry one of its `groups` still needs: its oldest
 * pending entry, or past its last delivered one when nothing is pending (entries are
 * delivered in order, so every entry below that was acknowledged). Returns the entries
 * trimmed. A stream is a queue here, not a log: without this, every stream stayed at its
 * `MAXLEN` bound long after its entries were handled, which for the decision audit (one
 * entry a batch of up to 200 decisions) meant hundreds of MB of Redis memory held for
 * nothing. A stream with no group yet is left alone: a work group created later reads
 * it from the start. A group that is gone for good (a crashed instance's broadcast group)
 * holds the floor where it stopped; `MAXLEN` still bounds the stream then. Approximate
 * (`~`): Redis trims whole nodes of entries, so up to about a hundred handled ones stay.
 */
export async function trimConsumed(client: RedisClient, stream: string, groups: readonly GroupInfo[]): Promise<number> {
  let floor: string | undefined;
  for (const group of groups) {
    let oldest = group.lastDelivered;
    if (group.pending > 0) {
      const summary = (await client.call('XPENDING', stream, group.name)) as [number, string | null, string | null, unknown];
      if (typeof summary[1] === 'string') oldest = summary[1];
    }
    if (floor === undefined || entryIdBefore(oldest, floor)) floor = oldest;
  }
  if (floor === undefined || floor === '0-0') return 0;
  return Number(await client.call('XTRIM', stream, 'MINID', '~', floor));
}
