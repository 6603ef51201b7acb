import { decodeEntry, type Envelope } from './envelope.ts';
import type { MalformedEntryError } from './errors.ts';
import { priorityOfKey, type Priority } from './keys.ts';

/** One stream entry this consumer owns (pending under its name in the group). */
export interface Delivery {
  stream: string;
  priority: Priority;
  entryId: string;
  /** {@link deliveryKey}, computed once: the held map is looked up several times per message. */
  key: string;
  fields: string[] | null;
  envelope: Envelope | undefined;
  malformed: MalformedEntryError | undefined;
  /** Failed attempts recorded so far (a dead consumer's attempt counts). */
  failures: number;
  /** Retries this consumer made for a `RetryLaterError` (not counted as attempts). */
  deferrals?: number;
}

/** The key under which a consumer tracks a delivery: entry ids repeat across streams. */
export function deliveryKey(delivery: Pick<Delivery, 'priority' | 'entryId'>): string {
  return `${delivery.priority}/${delivery.entryId}`;
}

function toDelivery(topic: string, stream: string, priority: Priority, entry: unknown, maxBytes: number): Delivery | undefined {
  if (!Array.isArray(entry) || typeof entry[0] !== 'string') return undefined;
  const entryId = entry[0];
  const raw = entry[1] as unknown;
  // RESP2 replies are strings already; copy only the odd hand-written reply that is not.
  const fields = Array.isArray(raw) ? (raw.every((field) => typeof field === 'string') ? (raw as string[]) : raw.map(String)) : null;
  const key = deliveryKey({ priority, entryId });
  try {
    return {
      stream,
      priority,
      entryId,
      key,
      fields,
      envelope: decodeEntry(fields, topic, entryId, maxBytes),
      malformed: undefined,
      failures: 0,
    };
  } catch (error) {
    return { stream, priority, entryId, key, fields, envelope: undefined, malformed: error as MalformedEntryError, failures: 0 };
  }
}

/** Turns an XREADGROUP reply (`[[stream, [[id, fields], ...]], ...]`) into deliveries. */
export function fromReadReply(topic: string, reply: unknown, maxBytes: number): Delivery[] {
  const out: Delivery[] = [];
  if (!Array.isArray(reply)) return out;
  for (const streamReply of reply) {
    if (!Array.isArray(streamReply) || typeof streamReply[0] !== 'string' || !Array.isArray(streamReply[1])) continue;
    const priority = priorityOfKey(streamReply[0]);
    if (priority === undefined) continue;
    for (const entry of streamReply[1] as unknown[]) {
      const delivery = toDelivery(topic, streamReply[0], priority, entry, maxBytes);
      if (delivery !== undefined) out.push(delivery);
    }
  }
  return out;
}

/** Turns an XAUTOCLAIM reply (`[cursor, [[id, fields], ...], [deleted ids]]`) into a cursor and deliveries. */
export function fromClaimReply(
  topic: string,
  stream: string,
  priority: Priority,
  reply: unknown,
  maxBytes: number,
): { cursor: string; deliveries: Delivery[] } {
  if (!Array.isArray(reply) || typeof reply[0] !== 'string') return { cursor: '0-0', deliveries: [] };
  const entries = Array.isArray(reply[1]) ? (reply[1] as unknown[]) : [];
  const deliveries: Delivery[] = [];
  for (const entry of entries) {
    // Redis 7 drops trimmed entries from the PEL and lists them apart; a nil here is one.
    if (!Array.isArray(entry) || entry[1] === null) continue;
    const delivery = toDelivery(topic, stream, priority, entry, maxBytes);
    if (delivery !== undefined) deliveries.push(delivery);
  }
  return { cursor: reply[0], deliveries };
}
