import type { AuthDecisionEvent } from '@portcullis/contracts';
import type { RedisClient } from '@portcullis/redis';

/** The stream every policy-service instance appends decisions to, so any instance's replay sees all of them. */
export const RECENT_DECISIONS_KEY = 'portcullis:audit:recent';

/** A decision as recorded: the event and when it was decided. */
export type RecordedDecision = AuthDecisionEvent & { at: string };

/** Entries read per XREVRANGE: small enough that Redis and this loop both stay responsive. */
const PAGE = 500;

/**
 * KEYS[1] the stream; ARGV[1] its MAXLEN, ARGV[2..] one decision's JSON each. One call a
 * batch instead of one XADD command each: building and parsing a command per decision
 * was most of what an audited decision cost the policy-service.
 */
const APPEND_LUA = `
for i = 2, #ARGV do
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'd', ARGV[i])
end
return #ARGV - 1`;

type WithAppendScript = RedisClient & {
  recentDecisionsAppend(key: string, maxLength: number, ...decisions: string[]): Promise<number>;
};

/**
 * The recent `auth.decision` events in one capped Redis stream (XADD MAXLEN ~, so
 * trimming stays O(1)). Stream ids are millisecond timestamps, so "the last T minutes"
 * is a range read from now − T.
 */
export class RecentDecisions {
  readonly #redis: WithAppendScript;
  readonly #maxLength: number;
  readonly #key: string;

  constructor(redis: RedisClient, options: { maxLength: number; key?: string }) {
    redis.defineCommand('recentDecisionsAppend', { numberOfKeys: 1, lua: APPEND_LUA });
    this.#redis = redis as WithAppendScript;
    this.#maxLength = options.maxLength;
    this.#key = options.key ?? RECENT_DECISIONS_KEY;
  }

  /** Appends a batch, one entry a decision, in one script call (one round trip, atomic). */
  async append(decisions: readonly RecordedDecision[]): Promise<void> {
    if (decisions.length === 0) return;
    await this.#redis.recentDecisionsAppend(this.#key, this.#maxLength, ...decisions.map((decision) => JSON.stringify(decision)));
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
