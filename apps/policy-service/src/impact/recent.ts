import type { AuthDecisionEvent } from '@portcullis/contracts';
import { writeReplicated, type RedisClient, type RedisPipeline } from '@portcullis/redis';

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

/**
 * KEYS[1] the stream, KEYS[2] the applied set; ARGV[1] the stream's MAXLEN, ARGV[2] now
 * (ms), ARGV[3] the oldest score still remembered, then per message its id, its decision
 * count n and n decisions' JSON. A message whose id is in the set is skipped; the answer
 * has a 1 (recorded now) or 0 (already recorded) per message. One atomic call a batch:
 * checking and recording apart would let two deliveries of one message both record it,
 * and a command per decision was most of what an audited decision cost the policy-service.
 */
const RECORD_LUA = `
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[3])
local fresh = {}
local i = 4
while i <= #ARGV do
  local n = tonumber(ARGV[i + 1])
  if redis.call('ZADD', KEYS[2], 'NX', ARGV[2], ARGV[i]) == 1 then
    for j = i + 2, i + 1 + n do
      redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'd', ARGV[j])
    end
    fresh[#fresh + 1] = 1
  else
    fresh[#fresh + 1] = 0
  end
  i = i + 2 + n
end
return fresh`;

type WithRecordScript = RedisClient & {
  recentDecisionsRecord(
    stream: string,
    applied: string,
    maxLength: number,
    now: number,
    oldest: number,
    ...rest: string[]
  ): Promise<number[]>;
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
  readonly #replicas: number;

  /**
   * `replicas`: how many replicas must acknowledge each recorded batch (Redis WAIT, on the
   * connection to the stream's node) before {@link record} resolves; 0 (default) does not wait.
   */
  constructor(redis: RedisClient, options: { maxLength: number; key?: string; appliedKey?: string; replicas?: number }) {
    redis.defineCommand('recentDecisionsRecord', { numberOfKeys: 2, lua: RECORD_LUA });
    this.#redis = redis as WithRecordScript;
    this.#maxLength = options.maxLength;
    this.#key = options.key ?? RECENT_DECISIONS_KEY;
    this.#applied = options.appliedKey ?? APPLIED_KEY;
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
      rest.push(message.id, String(message.decisions.length), ...message.decisions.map((d) => JSON.stringify(d)));
    const now = Date.now();
    const args = [this.#key, this.#applied, this.#maxLength, now, now - APPLIED_TTL_MS, ...rest] as const;
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
      const entries = await this.#redis.xrevrange(this.#key, end, start, 'COUNT', count);
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
