import { randomUUID } from 'node:crypto';
import { MalformedEntryError } from './errors.ts';
import { PRIORITIES, type Priority } from './keys.ts';

/** The message envelope of PRODUCT.md, as stored in a stream entry's `m` field. */
export interface Envelope<T = unknown> {
  /** Producer-chosen or generated id; the deduplication key. */
  id: string;
  /** The topic (event type), e.g. `policy.updated`. */
  type: string;
  priority: Priority;
  /** ISO 8601 time of publication. */
  occurredAt: string;
  /** The producing service or instance. */
  source: string;
  /** 1 on first delivery; grows with each failed attempt. */
  attempt: number;
  /** W3C trace context of the producer, when it had one. */
  traceparent?: string;
  payload: T;
}

/** The field of a stream entry that holds the JSON envelope. */
export const ENVELOPE_FIELD = 'm';

const MAX_ID_LENGTH = 200;

export function createEnvelope<T>(
  topic: string,
  payload: T,
  priority: Priority,
  source: string,
  id?: string,
  traceparent?: string,
  occurredAt = new Date().toISOString(),
): Envelope<T> {
  const envelope: Envelope<T> = { id: id ?? randomUUID(), type: topic, priority, occurredAt, source, attempt: 1, payload };
  if (traceparent !== undefined) envelope.traceparent = traceparent;
  return envelope;
}

/** Checks a publish-time message id: non-empty, bounded, no braces (they go into keys). */
export function isValidMessageId(id: string): boolean {
  return id.length > 0 && id.length <= MAX_ID_LENGTH && !/[{}\s]/.test(id);
}

/**
 * Decodes a stream entry's flat field list into an envelope. Hostile or hand-written
 * entries (missing field, bad JSON, wrong shapes) throw {@link MalformedEntryError} with
 * a reason, which the consumer dead-letters instead of crashing.
 */
export function decodeEntry(fields: readonly string[] | null, topic: string, entryId: string): Envelope {
  const context = { topic, entryId };
  if (fields === null) throw new MalformedEntryError('entry was deleted from the stream', { context });
  let raw: string | undefined;
  for (let index = 0; index + 1 < fields.length; index += 2) {
    if (fields[index] === ENVELOPE_FIELD) raw = fields[index + 1];
  }
  if (raw === undefined) throw new MalformedEntryError(`entry has no "${ENVELOPE_FIELD}" field`, { context });
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (error) {
    throw new MalformedEntryError('entry is not valid JSON', { cause: error, context });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new MalformedEntryError('envelope is not an object', { context });
  }
  const envelope = value as Record<string, unknown>;
  const problems: string[] = [];
  if (typeof envelope['id'] !== 'string' || !isValidMessageId(envelope['id'])) problems.push('id');
  if (typeof envelope['type'] !== 'string') problems.push('type');
  if (!PRIORITIES.includes(envelope['priority'] as Priority)) problems.push('priority');
  if (typeof envelope['occurredAt'] !== 'string' || Number.isNaN(Date.parse(envelope['occurredAt']))) problems.push('occurredAt');
  if (typeof envelope['source'] !== 'string') problems.push('source');
  if (typeof envelope['attempt'] !== 'number' || !Number.isInteger(envelope['attempt']) || envelope['attempt'] < 1)
    problems.push('attempt');
  if (envelope['traceparent'] !== undefined && typeof envelope['traceparent'] !== 'string') problems.push('traceparent');
  if (!('payload' in envelope)) problems.push('payload');
  if (problems.length > 0)
    throw new MalformedEntryError(`envelope has invalid ${problems.join(', ')}`, { context: { ...context, fields: problems } });
  return envelope as unknown as Envelope;
}

/** The raw text of an entry, kept in the dead-letter stream for a malformed one. */
export function rawEntry(fields: readonly string[] | null): string {
  if (fields === null) return '';
  const object: Record<string, string> = {};
  for (let index = 0; index + 1 < fields.length; index += 2) object[fields[index] ?? ''] = fields[index + 1] ?? '';
  const raw = object[ENVELOPE_FIELD];
  return raw !== undefined && Object.keys(object).length === 1 ? raw : JSON.stringify(object);
}
