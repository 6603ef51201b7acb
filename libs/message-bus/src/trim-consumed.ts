import type { RedisClient } from '@portcullis/redis';

/** A stream entry id as `[ms, seq]`, for ordering (`1700000000000-3`). */
const parts = (id: string): [bigint, bigint] => {
  const [ms = '0', seq = '0'] = id.split('-');
  return [BigInt(ms), BigInt(seq)];
};
const before = (a: string, b: string): boolean => {
  const [am, as] = parts(a);
  const [bm, bs] = parts(b);
  return am < bm || (am === bm && as < bs);
};

/** XINFO GROUPS's reply in RESP2: one flat `[name, value, ...]` array per group. */
function groupsOf(reply: unknown): { name: string; pending: number; lastDelivered: string }[] {
  if (!Array.isArray(reply)) return [];
  return reply.map((flat: unknown[]) => {
    const info = new Map<string, unknown>();
    for (let i = 0; i + 1 < flat.length; i += 2) info.set(String(flat[i]), flat[i + 1]);
    return { name: String(info.get('name')), pending: Number(info.get('pending')), lastDelivered: String(info.get('last-delivered-id')) };
  });
}

/**
 * Trims `stream` below the oldest entry some consumer group still needs: its oldest
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
export async function trimConsumed(client: RedisClient, stream: string): Promise<number> {
  const groups = groupsOf(await client.call('XINFO', 'GROUPS', stream));
  if (groups.length === 0) return 0;
  let floor: string | undefined;
  for (const group of groups) {
    let oldest = group.lastDelivered;
    if (group.pending > 0) {
      const summary = (await client.call('XPENDING', stream, group.name)) as [number, string | null, string | null, unknown];
      if (typeof summary[1] === 'string') oldest = summary[1];
    }
    if (floor === undefined || before(oldest, floor)) floor = oldest;
  }
  if (floor === undefined || floor === '0-0') return 0;
  return Number(await client.call('XTRIM', stream, 'MINID', '~', floor));
}
