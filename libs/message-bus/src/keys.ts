/**
 * Every Redis key the bus uses, built in this one module (as BullMQ does), so the
 * layout can be read in one place:
 *
 * | key | type | holds |
 * |---|---|---|
 * | `pc:{topic}:p:<priority>` | stream | messages of one topic and priority |
 * | `pc:{topic}:dlq` | stream | dead-lettered messages of the topic, all groups |
 * | `pc:{topic}:att:<group>` | hash | entry id → failed attempts so far (cleared on ack) |
 * | `pc:{topic}:done:<group>:<message id>` | string | dedup marker, set with the ack, expires |
 *
 * The `{topic}` hash tag puts all of a topic's keys in one Redis Cluster slot, so one
 * XREADGROUP can read all five priority streams and one Lua script can touch the
 * stream, the dead-letter stream and the markers atomically.
 */
export const PRIORITIES = ['critical', 'high', 'normal', 'low', 'background'] as const;

/** A message priority, highest first in {@link PRIORITIES}. */
export type Priority = (typeof PRIORITIES)[number];

const PREFIX = 'pc';

/** Topic names go inside a hash tag; braces would break it, so they are refused. */
const TOPIC_RE = /^[A-Za-z0-9._:-]{1,200}$/;

/** True when `topic` can be used as a topic name. */
export function isValidTopic(topic: string): boolean {
  return TOPIC_RE.test(topic);
}

export function streamKey(topic: string, priority: Priority): string {
  return `${PREFIX}:{${topic}}:p:${priority}`;
}

export function streamKeys(topic: string): string[] {
  return PRIORITIES.map((priority) => streamKey(topic, priority));
}

export function deadLetterKey(topic: string): string {
  return `${PREFIX}:{${topic}}:dlq`;
}

export function attemptsKey(topic: string, group: string): string {
  return `${PREFIX}:{${topic}}:att:${group}`;
}

export function doneKey(topic: string, group: string, messageId: string): string {
  return `${PREFIX}:{${topic}}:done:${group}:${messageId}`;
}

/** The priority a stream key belongs to, or undefined for a foreign key. */
export function priorityOfKey(key: string): Priority | undefined {
  const suffix = key.slice(key.lastIndexOf(':') + 1);
  return (PRIORITIES as readonly string[]).includes(suffix) ? (suffix as Priority) : undefined;
}
