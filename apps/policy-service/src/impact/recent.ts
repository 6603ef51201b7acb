import type { AuthDecisionEvent } from '@portcullis/contracts';
import type { RedisClient } from '@portcullis/redis';

/** The stream every policy-service instance appends decisions to, so any instance's replay sees all of them. */
export const RECENT_DECISIONS_KEY = 'portcullis:audit:recent';

/** A decision as recorded: the event and when it was decided. */
export type RecordedDecision = AuthDecisionEvent & { at: string };

/** Entries read per XREVRANGE: small enough that Redis and this loop both stay responsive. */
const PAGE = 500;

/**
 * The recent `auth.decision` events in one capped Redis stream (XADD MAXLEN ~, so
 * trimming stays O(1)). Stream ids are millisecond timestamps, so "the last T minutes"
 * is a range read from now − T.
 */
export class RecentDecisions {
  readonly #redis: RedisClient;
  readonly #maxLength: number;
  readonly #key: string;

  constructor(redis: RedisClient, options: { maxLength: number; key?: string }) {
    this.#redis = redis;
    this.#maxLength = options.maxLength;
    this.#key = options.key ?? RECENT_DECISIONS_KEY;
  }

  /** Appends a batch in one pipelined round trip. */
  async append(decisions: readonly RecordedDecision[]): Promise<void> {
    if (decisions.length === 0) return;
    const pipeline = this.#redis.pipeline();
    for (const decision of decisions) pipeline.xadd(this.#key, 'MAXLEN', '~', this.#maxLength, '*', 'd', JSON.stringify(decision));
    const results = (await pipeline.exec()) ?? [];
    const failed = results.find(([error]) => error !== null);
    if (failed) throw failed[0];
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
