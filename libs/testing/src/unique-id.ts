import { randomUUID } from 'node:crypto';

/** A short unique prefix for a test's key space (`test-1a2b3c4d`), as BullMQ's tests do. */
export function uniqueId(prefix = 'test'): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}
