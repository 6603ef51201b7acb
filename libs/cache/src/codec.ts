import { InvalidKeyError, NotSerializableError, ValueTooLargeError } from './errors.ts';

/** An entry as read back from L2. */
export interface DecodedEntry {
  value: unknown;
  expiresAt: number;
  graceUntil: number;
  tags: string[];
  size: number;
}

// JSON silently turns undefined, functions and symbols into nothing, NaN into null, a
// Map into {} and a Date into a string: every one of those would hand a different value
// back than was stored. This replacer refuses them instead, so a value either
// round-trips exactly or is rejected with a typed error.
function strict(this: Record<string, unknown>, key: string, value: unknown): unknown {
  const original = this[key];
  const kind = typeof original;
  if (kind === 'function' || kind === 'symbol' || kind === 'undefined' || kind === 'bigint') {
    throw new NotSerializableError(`value at "${key}" is ${kind}, which JSON cannot hold`, { context: { at: key, kind } });
  }
  if (kind === 'number' && !Number.isFinite(original)) {
    throw new NotSerializableError(`value at "${key}" is ${String(original)}, which JSON cannot hold`, { context: { at: key } });
  }
  if (kind === 'object' && original !== null) {
    const proto: unknown = Object.getPrototypeOf(original);
    if (proto !== Object.prototype && proto !== Array.prototype && proto !== null) {
      const name = (original as { constructor?: { name?: string } }).constructor?.name ?? 'object';
      throw new NotSerializableError(`value at "${key}" is a ${name}, which JSON cannot hold faithfully`, {
        context: { at: key, kind: name },
      });
    }
  }
  return value;
}

/** Serializes a value as strict JSON, refusing what would not round-trip or is too large. */
export function encodeValue(value: unknown, maxBytes: number, key: string): { json: string; size: number } {
  let json: string;
  try {
    json = JSON.stringify(value, strict);
  } catch (error) {
    if (error instanceof NotSerializableError) {
      throw new NotSerializableError(error.message, { cause: error, context: { ...error.context, key } });
    }
    throw new NotSerializableError(`value is not serializable: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
      context: { key },
    });
  }
  const size = Buffer.byteLength(json);
  if (size > maxBytes)
    throw new ValueTooLargeError(`value of ${size} bytes exceeds maxValueBytes ${maxBytes}`, { context: { key, size, maxBytes } });
  return { json, size };
}

/** The L2 wire form: the lifetimes and tags, then the value's JSON as is. */
export function encodeEntry(json: string, expiresAt: number, graceUntil: number, tags: readonly string[]): string {
  return `{"e":${expiresAt},"g":${graceUntil},"t":${JSON.stringify(tags)},"v":${json}}`;
}

/** Parses an L2 entry; anything that is not one (foreign or damaged data) is undefined. */
export function decodeEntry(raw: string): DecodedEntry | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (parsed === null || typeof parsed !== 'object') return undefined;
  const { e, g, t, v } = parsed as Record<string, unknown>;
  if (typeof e !== 'number' || typeof g !== 'number' || !Array.isArray(t) || !('v' in parsed)) return undefined;
  if (!t.every((tag) => typeof tag === 'string')) return undefined;
  return { value: deepFreeze(v), expiresAt: e, graceUntil: g, tags: t as string[], size: Buffer.byteLength(raw) };
}

/**
 * Freezes a value cached in L1 so that a caller mutating what it got back cannot change
 * what the next caller gets. Done once per insertion, never on a hit.
 */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

const TAG_MAX = 256;

/** Rejects what is not a non-empty well-formed string of at most `max` characters. */
export function checkKey(key: unknown, max: number, what = 'key'): string {
  if (typeof key !== 'string') {
    throw new InvalidKeyError(`${what} must be a string, got ${key === null ? 'null' : typeof key}`, { context: { [what]: typeof key } });
  }
  if (key.length === 0 || key.length > max) {
    throw new InvalidKeyError(`${what} length must be 1..${max}, got ${key.length}`, { context: { length: key.length } });
  }
  // A lone surrogate is encoded as U+FFFD on the way to Redis: two different keys would
  // then share one Redis key. Refuse them instead of corrupting each other.
  if (!key.isWellFormed())
    throw new InvalidKeyError(`${what} is not well-formed UTF-16 (lone surrogate)`, { context: { length: key.length } });
  return key;
}

/** Validates a tag list (at most 64 tags of at most 256 characters). */
export function checkTags(tags: unknown): string[] {
  if (tags === undefined) return [];
  if (!Array.isArray(tags) || tags.length > 64)
    throw new InvalidKeyError('tags must be an array of at most 64 strings', { context: { tags: typeof tags } });
  return tags.map((tag) => checkKey(tag, TAG_MAX, 'tag'));
}

/** Escapes SCAN glob metacharacters so a prefix matches only itself. */
export function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}
