import { isRawJson } from '@portcullis/contracts';

/**
 * JSON with object keys sorted at every level, so two requests that differ only in key
 * order get one dedup key and one slot in a batch. `undefined` members are dropped the
 * way JSON.stringify drops them.
 */
export function canonicalJson(value: unknown): string {
  // An exact integer past 2^53 (contracts' parseJson) is written as its source text.
  if (isRawJson(value)) return value.rawJSON;
  if (value === null || typeof value !== 'object') {
    const text = JSON.stringify(value);
    // JSON.stringify gives undefined for undefined/functions/symbols; in arrays JSON uses null.
    return text === undefined ? 'null' : text;
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return canonicalJson((value as { toJSON(): unknown }).toJSON());
  const record = value as Record<string, unknown>;
  const parts: string[] = [];
  for (const key of Object.keys(record).sort()) {
    const member = record[key];
    if (member === undefined || typeof member === 'function' || typeof member === 'symbol') continue;
    parts.push(`${JSON.stringify(key)}:${canonicalJson(member)}`);
  }
  return `{${parts.join(',')}}`;
}
