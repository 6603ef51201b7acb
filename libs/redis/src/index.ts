export {
  closeRedis,
  duplicateRedis,
  isCluster,
  isRedisClient,
  openRedis,
  redisErrorCode,
  type RedisClient,
  type RedisRole,
} from './connect.ts';
export { isNotReplicated, NotReplicatedError, writeReplicated, type RedisPipeline } from './replicated.ts';
