import { randomUUID } from 'node:crypto';

const SAFE_ID = /^[\w.:-]{1,128}$/;

/**
 * The request id for a request: the caller's `x-request-id` when it is a short, plain
 * token (so ids can be followed across services), otherwise a fresh UUID. Hostile
 * values (newlines, huge strings) are never echoed into logs or headers.
 */
export function requestIdFrom(header: string | string[] | undefined): string {
  const value = Array.isArray(header) ? header[0] : header;
  return value !== undefined && SAFE_ID.test(value) ? value : randomUUID();
}
