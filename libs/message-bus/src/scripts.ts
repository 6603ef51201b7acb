/**
 * The bus's Lua scripts. Each one touches keys of a single topic only (one hash tag),
 * so it runs on one Redis Cluster shard. Keys are built in keys.ts.
 */

/**
 * busAck — a message was handled: acknowledge it and remember its id.
 * KEYS[1] priority stream, KEYS[2] attempts hash, KEYS[3] dedup marker
 * ARGV[1] group, ARGV[2] entry id, ARGV[3] marker TTL (ms)
 * Returns the XACK count (0 when the entry was no longer pending, e.g. after a restart).
 * The marker is written in the same script as the ack, so a message is never marked
 * done without being acked, nor acked without being marked.
 */
export const ACK_LUA = `
local acked = redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('SET', KEYS[3], '1', 'PX', ARGV[3])
redis.call('HDEL', KEYS[2], ARGV[2])
return acked
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
