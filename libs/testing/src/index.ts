export { freePort } from './free-port.ts';
export { startRedisServer, type RedisServerHandle, type RedisServerOptions } from './redis-server.ts';
export { startRedisCluster, type RedisClusterHandle } from './redis-cluster.ts';
export { startProcess, type ProcessHandle, type StartProcessOptions } from './process.ts';
export { uniqueId } from './unique-id.ts';
export { h2Connect, h2Request } from './h2.ts';
export { startOtlpReceiver, type OtlpReceiverHandle, type ReceivedSpan } from './otlp-receiver.ts';
export { useRedisServer } from './use-redis-server.ts';
export { isCodedClientError, sendRaw, sendableHeader, type KnownCodes } from './hostile.ts';
