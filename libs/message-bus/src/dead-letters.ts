import type { RedisClient } from '@portcullis/redis';
import { ENVELOPE_FIELD, decodeEntry } from './envelope.ts';
import { DeadLetterNotFoundError } from './errors.ts';
import { deadLetterKey, streamKey } from './keys.ts';
import type { ResolvedBusOptions } from './options.ts';

/** One entry of a topic's dead-letter stream. */
export interface DeadLetter {
  /** Entry id in the dead-letter stream; the handle for inspect, replay and purge. */
  deadLetterId: string;
  /** The envelope as JSON text (or the raw entry when it was malformed). */
  message: string;
  /** `E_MAX_ATTEMPTS`, `E_INVALID_PAYLOAD`, `E_MALFORMED_ENTRY`. */
  reason: string;
  error: string;
  attempts: number;
  group: string;
  priority: string;
  entryId: string;
  failedAt: string;
}

function toDeadLetter(entry: unknown): DeadLetter | undefined {
  if (!Array.isArray(entry) || typeof entry[0] !== 'string' || !Array.isArray(entry[1])) return undefined;
  const fields = entry[1] as string[];
  const get = (name: string): string => {
    for (let index = 0; index + 1 < fields.length; index += 2) if (fields[index] === name) return fields[index + 1] ?? '';
    return '';
  };
  return {
    deadLetterId: entry[0],
    message: get(ENVELOPE_FIELD),
    reason: get('reason'),
    error: get('error'),
    attempts: Number(get('attempts')),
    group: get('group'),
    priority: get('priority'),
    entryId: get('entryId'),
    failedAt: get('failedAt'),
  };
}

/** Operations on the dead-letter stream `pc:{topic}:dlq` (used by the CLI too). */
export class DeadLetters {
  readonly #client: RedisClient;
  readonly #options: ResolvedBusOptions;

  constructor(client: RedisClient, options: ResolvedBusOptions) {
    this.#client = client;
    this.#options = options;
  }

  /** Oldest first, `count` entries after `after` (exclusive) — page with the last id. */
  async list(topic: string, options: { count?: number; after?: string } = {}): Promise<DeadLetter[]> {
    const start = options.after === undefined ? '-' : `(${options.after}`;
    const reply = await this.#client.call('XRANGE', deadLetterKey(topic), start, '+', 'COUNT', options.count ?? 100);
    return (Array.isArray(reply) ? reply : []).map(toDeadLetter).filter((item): item is DeadLetter => item !== undefined);
  }

  /** Entries in the dead-letter stream. */
  async size(topic: string): Promise<number> {
    return Number(await this.#client.call('XLEN', deadLetterKey(topic)));
  }

  /** One entry, or {@link DeadLetterNotFoundError}. */
  async inspect(topic: string, deadLetterId: string): Promise<DeadLetter> {
    const reply = await this.#client.call('XRANGE', deadLetterKey(topic), deadLetterId, deadLetterId);
    const found = Array.isArray(reply) ? toDeadLetter(reply[0]) : undefined;
    if (found === undefined)
      throw new DeadLetterNotFoundError(`no dead letter ${deadLetterId} on ${topic}`, { context: { topic, deadLetterId } });
    return found;
  }

  /**
   * Publishes the message again on its priority stream with `attempt` reset to 1 and
   * removes it from the dead-letter stream, in one MULTI (one hash tag, so one shard).
   * In broadcast mode every instance sees it again; groups that had processed the id
   * skip it as a duplicate. A malformed entry cannot be replayed and stays.
   */
  async replay(topic: string, deadLetterId: string): Promise<string> {
    const letter = await this.inspect(topic, deadLetterId);
    const envelope = decodeEntry([ENVELOPE_FIELD, letter.message], topic, letter.entryId, this.#options.maxMessageBytes);
    envelope.attempt = 1;
    const trim =
      'maxLen' in this.#options.trim
        ? ['MAXLEN', '~', this.#options.trim.maxLen]
        : ['MINID', '~', Date.now() - this.#options.trim.maxAgeMs];
    const results = await this.#client
      .multi()
      .call('XADD', streamKey(topic, envelope.priority), ...trim, '*', ENVELOPE_FIELD, JSON.stringify(envelope))
      .call('XDEL', deadLetterKey(topic), deadLetterId)
      .exec();
    const [added] = results ?? [];
    if (added === undefined || added[0] !== null) throw added?.[0] ?? new Error('replay transaction aborted');
    return String(added[1]);
  }

  /** Replays every replayable entry (up to `limit`); returns how many were replayed. */
  async replayAll(topic: string, limit = 10_000): Promise<number> {
    let replayed = 0;
    for (const letter of await this.list(topic, { count: limit })) {
      try {
        await this.replay(topic, letter.deadLetterId);
        replayed += 1;
      } catch {
        // Malformed entries stay for a human to look at; the rest still go.
      }
    }
    return replayed;
  }

  /** Deletes one entry, or the whole dead-letter stream; returns how many went. */
  async purge(topic: string, deadLetterId?: string): Promise<number> {
    if (deadLetterId !== undefined) return Number(await this.#client.call('XDEL', deadLetterKey(topic), deadLetterId));
    const size = await this.size(topic);
    await this.#client.del(deadLetterKey(topic));
    return size;
  }
}
