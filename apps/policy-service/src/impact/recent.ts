import { ERROR_CODES, PortcullisError, type AuthDecisionEvent } from '@portcullis/contracts';
import { writeReplicated, type RedisClient, type RedisPipeline } from '@portcullis/redis';
import { withDeadline } from '@portcullis/resilience';

/**
 * The stream every policy-service instance appends decisions to, so any instance's replay
 * sees all of them. The hash tag keeps it in one Redis Cluster slot with {@link APPLIED_KEY}:
 * the recording script touches both.
 */
export const RECENT_DECISIONS_KEY = 'portcullis:{audit}:recent';

/**
 * The `auth.decision` message ids already recorded (a sorted set scored by when): what makes
 * recording a message idempotent when the bus delivers it again.
 */
export const APPLIED_KEY = 'portcullis:{audit}:applied';

/**
 * Decisions per principal over every replica's audit, counted with the record (so once per
 * message): a hash of `a:<principal>` and `d:<principal>` counts, and a sorted set of
 * principals by when each was last seen (ms), which bounds both to the most recently
 * active principals.
 */
export const PRINCIPAL_COUNTS_KEY = 'portcullis:{audit}:principals';
export const PRINCIPALS_SEEN_KEY = 'portcullis:{audit}:principals:seen';

/** Decisions seen for one principal, by every replica. */
export interface PrincipalStats {
  principal: string;
  allow: number;
  deny: number;
  lastSeen: string;
}

/**
 * How long a recorded message id is remembered, as the bus remembers its own (`dedupTtlMs`):
 * redeliveries (a consumer killed before its ack, an ack Redis refused, a journal resent by
 * a restarted auth-service) come within seconds to minutes.
 */
export const APPLIED_TTL_MS = 3_600_000;

/** A decision as recorded: the event and when it was decided. */
export type RecordedDecision = AuthDecisionEvent & { at: string };

/** One bus message's decisions, recorded together or not at all. */
export interface RecordedMessage {
  /** The bus message id: the idempotency key. */
  id: string;
  decisions: RecordedDecision[];
}

/** Entries read per XREVRANGE: small enough that Redis and this loop both stay responsive. */
const PAGE = 500;

/** Longest one read of the record may take (Redis away: its client would hold it ~15 s). */
const READ_DEADLINE_MS = 2000;

/** The record could not be read in time (Redis away or stalled): answered 503, not 500. */
export class AuditRecordUnavailableError extends PortcullisError {
  static override readonly code = ERROR_CODES.auditUnavailable;
}

const readInTime = <T>(read: Promise<T>, what: string): Promise<T> =>
  withDeadline(read, READ_DEADLINE_MS, `Redis, reading ${what},`).catch((error: unknown) => {
    throw new AuditRecordUnavailableError(`the audit record could not be read: ${(error as Error).message}`, { cause: error });
  });

/**
 * KEYS[1] the stream, KEYS[2] the applied set, KEYS[3] the principal counts, KEYS[4] the
 * principals by last seen; ARGV[1] the stream's MAXLEN, ARGV[2] now (ms), ARGV[3] the
 * oldest score still remembered, ARGV[4] how many principals are kept, then per message
 * its id, its decision count n, n decisions' JSON, its principal count k and k times
 * (principal, allows, denies, last seen ms). A message whose id is in the set is skipped;
 * the answer has a 1 (recorded now) or 0 (already recorded) per message. One atomic call
 * a batch: checking and recording apart would let two deliveries of one message both
 * record it, and a command per decision was most of what an audited decision cost the
 * policy-service (hence counts summed per principal before the call).
 */
const RECORD_LUA = `
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[3])
local fresh = {}
local i = 5
while i <= #ARGV do
  local n = tonumber(ARGV[i + 1])
  local k = tonumber(ARGV[i + 2 + n])
  if redis.call('ZADD', KEYS[2], 'NX', ARGV[2], ARGV[i]) == 1 then
    for j = i + 2, i + 1 + n do
      redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'd', ARGV[j])
    end
    for p = i + 3 + n, i + 2 + n + 4 * k, 4 do
      local principal = ARGV[p]
      if ARGV[p + 1] ~= '0' then redis.call('HINCRBY', KEYS[3], 'a:' .. principal, ARGV[p + 1]) end
      if ARGV[p + 2] ~= '0' then redis.call('HINCRBY', KEYS[3], 'd:' .. principal, ARGV[p + 2]) end
      redis.call('ZADD', KEYS[4], 'GT', ARGV[p + 3], principal)
    end
    fresh[#fresh + 1] = 1
  else
    fresh[#fresh + 1] = 0
  end
  i = i + 3 + n + 4 * k
end
local over = redis.call('ZCARD', KEYS[4]) - tonumber(ARGV[4])
if over > 0 then
  for _, principal in ipairs(redis.call('ZRANGE', KEYS[4], 0, over - 1)) do
    redis.call('HDEL', KEYS[3], 'a:' .. principal, 'd:' .. principal)
  end
  redis.call('ZREMRANGEBYRANK', KEYS[4], 0, over - 1)
end
return fresh`;

/** One message's decisions summed per principal: [principal, allows, denies, last seen ms] each. */
function countsByPrincipal(decisions: readonly RecordedDecision[]): string[] {
  const counts = new Map<string, { allow: number; deny: number; lastAt: string }>();
  for (const decision of decisions) {
    const entry = counts.get(decision.principal) ?? { allow: 0, deny: 0, lastAt: '' };
    entry[decision.decision] += 1;
    // ISO-8601 UTC times order as strings: parsed once per principal, below.
    if (decision.at > entry.lastAt) entry.lastAt = decision.at;
    counts.set(decision.principal, entry);
  }
  const flat = [String(counts.size)];
  for (const [principal, { allow, deny, lastAt }] of counts)
    flat.push(principal, String(allow), String(deny), String(Date.parse(lastAt) || 0));
  return flat;
}

type WithRecordScript = RedisClient & {
  recentDecisionsRecord(...args: readonly (string | number)[]): Promise<number[]>;
};

/** A pipeline that can queue the record script. */
type RecordPipeline = RedisPipeline & { recentDecisionsRecord(...args: readonly (string | number)[]): RedisPipeline };

/**
 * The recent `auth.decision` events in one capped Redis stream (XADD MAXLEN ~, so
 * trimming stays O(1)). Stream ids are millisecond timestamps, so "the last T minutes"
 * is a range read from now − T. It is also the audit record that holds each message
 * exactly once: see {@link RecentDecisions.record}.
 */
export class RecentDecisions {
  readonly #redis: WithRecordScript;
  readonly #maxLength: number;
  readonly #key: string;
  readonly #applied: string;
  readonly #counts: string;
  readonly #seen: string;
  readonly #maxPrincipals: number;
  readonly #replicas: number;

  /**
   * `replicas`: how many replicas must acknowledge each recorded batch (Redis WAIT, on the
   * connection to the stream's node) before {@link record} resolves; 0 (default) does not
   * wait. `maxPrincipals`: principals whose counts are kept, the most recently seen
   * (default 10 000). The other options rename the keys (tests).
   */
  constructor(
    redis: RedisClient,
    options: {
      maxLength: number;
      maxPrincipals?: number;
      key?: string;
      appliedKey?: string;
      countsKey?: string;
      seenKey?: string;
      replicas?: number;
    },
  ) {
    redis.defineCommand('recentDecisionsRecord', { numberOfKeys: 4, lua: RECORD_LUA });
    this.#redis = redis as WithRecordScript;
    this.#maxLength = options.maxLength;
    this.#key = options.key ?? RECENT_DECISIONS_KEY;
    this.#applied = options.appliedKey ?? APPLIED_KEY;
    this.#counts = options.countsKey ?? PRINCIPAL_COUNTS_KEY;
    this.#seen = options.seenKey ?? PRINCIPALS_SEEN_KEY;
    this.#maxPrincipals = options.maxPrincipals ?? 10_000;
    this.#replicas = options.replicas ?? 0;
  }

  /**
   * Records each message's decisions unless its id was recorded within the last
   * {@link APPLIED_TTL_MS}, in one atomic script call. Resolves to whether each message
   * was recorded now (true) or had been before (false), in order.
   */
  async record(messages: readonly RecordedMessage[]): Promise<boolean[]> {
    if (messages.length === 0) return [];
    const rest: string[] = [];
    for (const message of messages)
      rest.push(
        message.id,
        String(message.decisions.length),
        ...message.decisions.map((d) => JSON.stringify(d)),
        ...countsByPrincipal(message.decisions),
      );
    const now = Date.now();
    const keys = [this.#key, this.#applied, this.#counts, this.#seen];
    const args = [...keys, this.#maxLength, now, now - APPLIED_TTL_MS, this.#maxPrincipals, ...rest];
    // With replicas, WAIT follows on the same pipeline (see `writeReplicated`): a message
    // is acked only once replicas hold its record. Fails with `NotReplicatedError`
    // otherwise, and the bus delivers the message again: the batch is already recorded on
    // the master, so it is skipped there, or recorded anew on a promoted replica that
    // never got it.
    const flags = await writeReplicated<number[]>(this.#redis, this.#replicas, (pipeline) =>
      (pipeline as RecordPipeline).recentDecisionsRecord(...args),
    );
    return flags.map((flag) => flag === 1);
  }

  /** The principals with the most recorded decisions, busiest first, as every replica counted them. */
  async topPrincipals(limit = 100): Promise<PrincipalStats[]> {
    const [counts, seen] = await readInTime(
      Promise.all([this.#redis.hgetall(this.#counts), this.#redis.zrange(this.#seen, '0', '-1', 'WITHSCORES')]),
      'the principal counts',
    );
    const stats: PrincipalStats[] = [];
    for (let index = 0; index + 1 < seen.length; index += 2) {
      const principal = seen[index] as string;
      const lastSeen = new Date(Number(seen[index + 1])).toISOString();
      stats.push({ principal, allow: Number(counts[`a:${principal}`] ?? 0), deny: Number(counts[`d:${principal}`] ?? 0), lastSeen });
    }
    return stats.sort((a, b) => b.allow + b.deny - (a.allow + a.deny)).slice(0, limit);
  }

  /**
   * The most recent decisions, newest first, a page at a time: at most `limit` of them,
   * and with `sinceMs` only those recorded at or after it. Unreadable entries are skipped.
   */
  async *newestFirst(limit: number, sinceMs?: number): AsyncGenerator<RecordedDecision[]> {
    const start = sinceMs === undefined ? '-' : String(Math.floor(sinceMs));
    let end = '+';
    let left = limit;
    while (left > 0) {
      const count = Math.min(PAGE, left);
      const entries = await readInTime(this.#redis.xrevrange(this.#key, end, start, 'COUNT', count), 'recent decisions');
      const oldest = entries.at(-1);
      if (oldest === undefined) return;
      left -= entries.length;
      end = `(${oldest[0]}`;
      const page: RecordedDecision[] = [];
      for (const [, fields] of entries) {
        const decision = parseEntry(fields);
        if (decision !== undefined) page.push(decision);
      }
      yield page;
      if (entries.length < count) return;
    }
  }
}

function parseEntry(fields: string[]): RecordedDecision | undefined {
  const json = fields[1];
  if (fields[0] !== 'd' || json === undefined) return undefined;
  try {
    const value = JSON.parse(json) as RecordedDecision;
    return typeof value === 'object' && value !== null && (value.decision === 'allow' || value.decision === 'deny') ? value : undefined;
  } catch {
    return undefined;
  }
}
