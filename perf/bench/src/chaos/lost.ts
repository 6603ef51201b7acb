// Where did the lost audit events go? A decision answered 200 whose event never reached
// the audit record is in one of five places, and each points at a different fault:
// dead-lettered (the consumer gave up on it), pending (delivered, never acked: a consumer
// still retrying, or one that died holding it), published but never delivered (the
// consumers stopped reading), acked without a record (a consumer bug), or not in the
// stream at all (never published: still in a journal or dropped; or trimmed).
import { TOPICS } from '@portcullis/contracts';
import { deadLetterKey, entryIdBefore, PRIORITIES, streamKey } from '@portcullis/message-bus';
import { closeRedis, openRedis, type RedisClient } from '@portcullis/redis';

/** The group the policy-services consume `auth.decision` in (apps/policy-service/src/audit.ts). */
const AUDIT_GROUP = 'policy-service';
const PAGE = 1000;

/** How many lost request ids each place holds. */
export interface LostWhere {
  deadLettered: number;
  pending: number;
  undelivered: number;
  ackedWithoutRecord: number;
  notInStream: number;
}

/** Request ids named in a stream entry's fields (a bus message carries a batch of decisions, an audit record entry one). */
export function requestIds(fields: string[]): string[] {
  return fields.flatMap((field) => [...field.matchAll(/"requestId":"([^"]+)"/g)].map((match) => match[1] as string));
}

/** Every entry of `key` from `start` on (`(id` for after one), a page at a time. */
export async function* streamEntries(redis: RedisClient, key: string, start = '-'): AsyncGenerator<[string, string[]]> {
  for (;;) {
    const page = await redis.xrange(key, start, '+', 'COUNT', PAGE);
    yield* page;
    if (page.length < PAGE) return;
    start = `(${(page.at(-1) as [string, string[]])[0]}`;
  }
}

/** Classifies `lost` (request ids) by where their `auth.decision` events are now. */
export async function whereLost(redisUrl: string, lost: ReadonlySet<string>): Promise<LostWhere> {
  const where: LostWhere = { deadLettered: 0, pending: 0, undelivered: 0, ackedWithoutRecord: 0, notInStream: 0 };
  if (lost.size === 0) return where;
  const found = new Set<string>();
  const place = (ids: string[], bucket: keyof LostWhere): void => {
    for (const id of ids)
      if (lost.has(id) && !found.has(id)) {
        found.add(id);
        where[bucket] += 1;
      }
  };
  const redis = openRedis(redisUrl);
  try {
    const topic = TOPICS.authDecision.topic;
    for await (const [, fields] of streamEntries(redis, deadLetterKey(topic))) place(requestIds(fields), 'deadLettered');
    for (const priority of PRIORITIES) {
      const key = streamKey(topic, priority);
      if ((await redis.exists(key)) === 0) continue;
      const groups = (await redis.call('XINFO', 'GROUPS', key)) as unknown[][];
      const group = groups.find((fields) => fields[fields.indexOf('name') + 1] === AUDIT_GROUP);
      const lastDelivered = group === undefined ? '0-0' : String(group[group.indexOf('last-delivered-id') + 1]);
      const pending = new Set(
        ((group === undefined ? [] : await redis.xpending(key, AUDIT_GROUP, '-', '+', 1_000_000)) as [string][]).map(([id]) => id),
      );
      for await (const [id, fields] of streamEntries(redis, key))
        place(requestIds(fields), pending.has(id) ? 'pending' : entryIdBefore(lastDelivered, id) ? 'undelivered' : 'ackedWithoutRecord');
    }
  } finally {
    await closeRedis(redis);
  }
  where.notInStream = lost.size - found.size;
  return where;
}

/** One line for the run's output and document. */
export function describeLost(where: LostWhere): string {
  return (
    `${where.deadLettered} dead-lettered, ${where.pending} pending in the ${AUDIT_GROUP} group, ` +
    `${where.undelivered} published but not delivered, ${where.ackedWithoutRecord} acked without a record, ` +
    `${where.notInStream} not in the stream (never published, or trimmed)`
  );
}
