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

/**
 * Default largest entry (`m` and any other fields, UTF-8 bytes) a consumer will parse
 * and the largest envelope publish accepts. Above the largest message the event
 * contracts allow (`cache.invalidate`: 1000 keys × 1024 and 1000 tags × 256 characters,
 * JSON-escaped, about 7.7 MB), so it only stops entries no producer should write.
 */
export const DEFAULT_MAX_MESSAGE_BYTES = 8 * 1024 * 1024;

/** Most characters of a malformed entry kept in its dead letter. */
const MAX_RAW_CHARS = 64 * 1024;

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
  // Well-formed Unicode: Redis gets UTF-8, where every lone surrogate becomes U+FFFD, so
  // two ids differing only in one would share a dedup key and the second be dropped.
  return id.length > 0 && id.length <= MAX_ID_LENGTH && !/[{}\s]/.test(id) && id.isWellFormed();
}

/**
 * Decodes a stream entry's flat field list into an envelope. Hostile or hand-written
 * entries (over `maxBytes`, missing field, bad JSON, wrong shapes, a `type` other than
 * the stream's topic) throw {@link MalformedEntryError} with a reason, which the
 * consumer dead-letters instead of crashing.
 */
export function decodeEntry(
  fields: readonly string[] | null,
  topic: string,
  entryId: string,
  maxBytes: number = DEFAULT_MAX_MESSAGE_BYTES,
): Envelope {
  const context = { topic, entryId };
  if (fields === null) throw new MalformedEntryError('entry was deleted from the stream', { context });
  // Before any parsing: a hand-written entry of any size must not be parsed nor copied whole.
  if (entryBytes(fields, maxBytes) > maxBytes)
    throw new MalformedEntryError(`entry is larger than ${maxBytes} bytes`, { context: { ...context, maxBytes } });
  const raw = envelopeText(fields);
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
  if (envelope['type'] !== topic) problems.push('type');
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

/** The text of an entry's `m` field: the envelope exactly as it was written. */
export function envelopeText(fields: readonly string[] | null): string | undefined {
  let raw: string | undefined;
  if (fields !== null)
    for (let index = 0; index + 1 < fields.length; index += 2) if (fields[index] === ENVELOPE_FIELD) raw = fields[index + 1];
  return raw;
}

/**
 * UTF-8 size of an entry's names and values, counted exactly only when it could exceed
 * `limit`: a UTF-16 code unit is at most 3 UTF-8 bytes, so the common case costs one
 * length sum, no encoding.
 */
function entryBytes(fields: readonly string[], limit: number): number {
  let units = 0;
  for (const field of fields) units += field.length;
  if (units * 3 <= limit || units > limit) return units;
  let bytes = 0;
  for (const field of fields) bytes += Buffer.byteLength(field);
  return bytes;
}

/**
 * The raw text of an entry, kept in the dead-letter stream for a malformed one, cut to
 * {@link MAX_RAW_CHARS} (it cannot be replayed; the start is enough to tell what it was).
 */
export function rawEntry(fields: readonly string[] | null): string {
  if (fields === null) return '';
  // No prototype: a field named `__proto__` is kept as a key, not swallowed by the setter.
  const object: Record<string, string> = Object.create(null) as Record<string, string>;
  for (let index = 0; index + 1 < fields.length; index += 2) object[fields[index] ?? ''] = fields[index + 1] ?? '';
  const raw = object[ENVELOPE_FIELD];
  const text = raw !== undefined && Object.keys(object).length === 1 ? raw : JSON.stringify(object);
  return text.length > MAX_RAW_CHARS ? text.slice(0, MAX_RAW_CHARS) : text;
}
