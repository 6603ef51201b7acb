import type { RedisClient, RedisPipeline } from '@portcullis/redis';

/**
 * The bus's Lua scripts. Each one touches keys of a single topic only (one hash tag),
 * so it runs on one Redis Cluster shard. Keys are built in keys.ts.
 */

/**
 * busAck — messages of one stream were handled: acknowledge them and remember their ids.
 * KEYS[1] priority stream, KEYS[2] attempts hash, KEYS[3..] dedup markers (one per entry)
 * ARGV[1] group, ARGV[2] marker TTL (ms), ARGV[3..] entry ids (same order as the markers)
 * Returns the XACK count. One call acks a whole batch: the consumer coalesces the acks
 * of everything that finished in the same tick.
 */
export const ACK_MANY_LUA = `
local ids = {}
for i = 3, #ARGV do
  ids[#ids + 1] = ARGV[i]
  redis.call('SET', KEYS[i], '1', 'PX', ARGV[2])
end
local acked = redis.call('XACK', KEYS[1], ARGV[1], unpack(ids))
redis.call('HDEL', KEYS[2], unpack(ids))
return acked
`;

/**
 * busPublishMany — append a batch of messages of one topic, each trimmed like a lone XADD.
 * KEYS[1..] the topic's priority streams used by the batch
 * ARGV[1] envelope field, ARGV[2] `MAXLEN` or `MINID`, ARGV[3] its bound (approximate),
 * ARGV[4..] pairs of (index into KEYS, envelope JSON)
 * Returns the number of entries added. One script call instead of a pipeline of XADDs:
 * the client builds one command and one promise per batch, not per message, and Redis
 * parses one request.
 */
export const PUBLISH_MANY_LUA = `
local added = 0
for i = 4, #ARGV, 2 do
  redis.call('XADD', KEYS[tonumber(ARGV[i])], ARGV[2], '~', ARGV[3], '*', ARGV[1], ARGV[i + 1])
  added = added + 1
end
return added
`;

/**
 * busDeadLetter — move a message to the dead-letter stream.
 * KEYS[1] priority stream, KEYS[2] dead-letter stream, KEYS[3] attempts hash
 * ARGV[1] group, ARGV[2] entry id, ARGV[3] dead-letter MAXLEN (approximate),
 * ARGV[4..] field/value pairs of the dead-letter entry
 * Returns the dead-letter entry id. The XADD and the XACK are one step: a message is
 * never both pending and dead-lettered, nor lost between the two.
 */
export const DEAD_LETTER_LUA = `
local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', unpack(ARGV, 4))
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('HDEL', KEYS[3], ARGV[2])
return id
`;

/** The Lua commands the bus defines on its command client (contracts above). */
export interface BusScripts {
  busAckMany(numberOfKeys: number, ...keysAndArgs: (string | number)[]): Promise<number>;
  busPublishMany(numberOfKeys: number, ...keysAndArgs: (string | number)[]): Promise<number>;
  busDeadLetter(
    stream: string,
    deadLetter: string,
    attempts: string,
    group: string,
    entryId: string,
    maxLen: number,
    ...fields: string[]
  ): Promise<string>;
}

/** A pipeline that can queue busPublishMany (what a replicated publish sends before WAIT). */
export type BusPipeline = RedisPipeline & { busPublishMany(numberOfKeys: number, ...keysAndArgs: (string | number)[]): RedisPipeline };

/** Defines the bus's scripts on `client` (idempotent, so a shared client is fine). */
export function withBusScripts(client: RedisClient): RedisClient & BusScripts {
  client.defineCommand('busAckMany', { lua: ACK_MANY_LUA });
  client.defineCommand('busPublishMany', { lua: PUBLISH_MANY_LUA });
  client.defineCommand('busDeadLetter', { numberOfKeys: 3, lua: DEAD_LETTER_LUA });
  return client as RedisClient & BusScripts;
}
