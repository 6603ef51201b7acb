import { optionError, optionInt, optionOneOf } from '@portcullis/contracts';
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Registry, Tracer } from '@portcullis/observability';
import { isRedisClient, type RedisClient } from '@portcullis/redis';
import { DEFAULT_MAX_MESSAGE_BYTES } from './envelope.ts';
import { PRIORITIES, type Priority } from './keys.ts';
import { DEFAULT_WEIGHTS } from './scheduler.ts';

/** How a stream is kept bounded: by entry count or by entry age (both approximate). */
export type TrimPolicy = { maxLen: number } | { maxAgeMs: number };

/** Options of {@link MessageBus}. Everything but `redis` has a default. */
export interface BusOptions {
  /**
   * `redis://host:port` (several comma-separated nodes for Redis Cluster): the bus opens
   * and closes its own connections. Or a shared command client (`openRedis` of
   * `@portcullis/redis`, caller-owned): the bus sends its commands on it and opens only
   * its blocking readers, one a subscription.
   */
  redis: string | RedisClient;
  /** Envelope `source`, and the start of consumer names. Default `hostname`. */
  source?: string;
  /** Stream bound applied on every XADD. Default `{ maxLen: 100_000 }` per stream. */
  trim?: TrimPolicy;
  /** Dead-letter stream bound (entries, approximate). Default 10 000. */
  deadLetterMaxLen?: number;
  /**
   * Largest message in UTF-8 bytes: publish refuses a bigger envelope, and a consumer
   * dead-letters a bigger entry (E_MALFORMED_ENTRY) without parsing it. Default 8 MiB.
   */
  maxMessageBytes?: number;
  /**
   * Replicas that must hold each publish before it resolves (Redis `WAIT`, on the
   * connection to the stream's master). A publish the master stored but no replica
   * acknowledged within a second rejects with `E_PUBLISH_FAILED` (cause
   * `E_NOT_REPLICATED`): a failover could take it away, so the caller publishes again
   * under the same message id and the consumer's deduplication drops the copy. WAIT holds
   * the connection while it waits: give such a bus a connection of its own (a URL).
   * Default 0: resolve once the master stored it.
   */
  publishReplicas?: number;
  /** prom-client registry for the PRODUCT.md metrics. Default: observability's. */
  registry?: Registry;
  /** Dispatch weights per priority. Default 16:8:4:2:1. */
  weights?: Partial<Record<Priority, number>>;
  /** How often pending counts and stream lengths are sampled into gauges (ms). Default 5000. */
  statsIntervalMs?: number;
  /**
   * With a tracer, each handled message is a consumer span, the child of the envelope's
   * `traceparent`, and the handler sees that span's `traceparent`.
   */
  tracer?: Tracer | undefined;
}

/** Options of one subscription. */
export interface SubscribeOptions<T = unknown> {
  /** `work`: one group shared by a service's instances; `broadcast`: every instance gets every message. */
  mode: 'work' | 'broadcast';
  /** Group name: the service name for `work`; a prefix of the per-instance group for `broadcast`. */
  group: string;
  /** Handlers running at once. Default 16. */
  concurrency?: number;
  /** Failed attempts before dead-lettering. Default 5. */
  maxAttempts?: number;
  /** First retry delay (ms). Default 100. */
  backoffBaseMs?: number;
  /** Largest retry delay (ms). Default 10 000; must be under `reclaimIdleMs`. */
  backoffMaxMs?: number;
  /** Pending entries idle longer than this are taken from dead consumers (ms). Default 30 000. */
  reclaimIdleMs?: number;
  /** How often to look for such entries (ms). Default `reclaimIdleMs / 4`. */
  reclaimIntervalMs?: number;
  /** Entries read per stream per XREADGROUP. Default `max(64, 2 × concurrency)`. */
  prefetch?: number;
  /** Longest XREADGROUP BLOCK (ms). Default 1000. */
  blockMs?: number;
  /** Where a new group starts: `earliest` (retained backlog) or `latest`. Default: work earliest, broadcast latest. */
  startFrom?: 'earliest' | 'latest';
  /** How long a processed message id is remembered for deduplication (ms). Default 1 hour. */
  dedupTtlMs?: number;
  /** Validates and converts the payload; a throw dead-letters with E_INVALID_PAYLOAD, no retry. */
  parse?: (payload: unknown) => T;
}

export type ResolvedBusOptions = Required<Omit<BusOptions, 'registry' | 'weights' | 'tracer'>> & {
  registry: Registry | undefined;
  tracer: Tracer | undefined;
  weights: Record<Priority, number>;
  consumerName: string;
};
export type ResolvedSubscribeOptions<T> = Required<Omit<SubscribeOptions<T>, 'parse'>> & { parse: ((payload: unknown) => T) | undefined };

/** An integer in 1..max; `undefined` takes the fallback. */
const positiveInt = (name: string, value: number | undefined, fallback: number, max?: number): number =>
  optionInt(name, value, fallback, 1, max);

const GROUP_RE = /^[A-Za-z0-9._-]{1,100}$/;

/** Validates and defaults the bus options once; a bad value throws a RangeError naming it. */
export function resolveBusOptions(options: BusOptions): ResolvedBusOptions {
  const redis = options.redis as unknown;
  if (typeof redis === 'string' ? !/^rediss?:\/\//.test(redis) : !isRedisClient(redis)) {
    throw optionError('redis', 'a redis:// URL or an ioredis client', typeof redis === 'string' ? redis : typeof redis);
  }
  const trim = options.trim ?? { maxLen: 100_000 };
  if ('maxLen' in trim) positiveInt('trim.maxLen', trim.maxLen, 0);
  else positiveInt('trim.maxAgeMs', trim.maxAgeMs, 0);
  const weights = { ...DEFAULT_WEIGHTS, ...options.weights };
  for (const priority of PRIORITIES) positiveInt(`weights.${priority}`, weights[priority], 1, 1000);
  const source = options.source ?? hostname();
  return {
    redis: options.redis,
    source,
    trim,
    deadLetterMaxLen: positiveInt('deadLetterMaxLen', options.deadLetterMaxLen, 10_000),
    // Redis refuses bulk strings over 512 MB.
    maxMessageBytes: positiveInt('maxMessageBytes', options.maxMessageBytes, DEFAULT_MAX_MESSAGE_BYTES, 512 * 1024 * 1024),
    publishReplicas: optionInt('publishReplicas', options.publishReplicas, 0, 0, 16),
    registry: options.registry,
    tracer: options.tracer,
    weights,
    statsIntervalMs: positiveInt('statsIntervalMs', options.statsIntervalMs, 5000),
    consumerName: `${source}-${process.pid}-${randomUUID().slice(0, 8)}`,
  };
}

/** Validates and defaults one subscription's options. */
export function resolveSubscribeOptions<T>(options: SubscribeOptions<T>): ResolvedSubscribeOptions<T> {
  optionOneOf('mode', options.mode, ['work', 'broadcast'], options.mode);
  if (typeof options.group !== 'string' || !GROUP_RE.test(options.group))
    throw optionError('group', `a string matching ${GROUP_RE}`, options.group);
  const concurrency = positiveInt('concurrency', options.concurrency, 16, 10_000);
  const reclaimIdleMs = positiveInt('reclaimIdleMs', options.reclaimIdleMs, 30_000);
  const backoffBaseMs = positiveInt('backoffBaseMs', options.backoffBaseMs, 100);
  const backoffMaxMs = positiveInt('backoffMaxMs', options.backoffMaxMs, Math.min(10_000, Math.floor(reclaimIdleMs / 3)));
  // A message waiting out its backoff stays pending under this consumer; the heartbeat
  // keeps it from looking idle, but a cap well under the reclaim time keeps that cheap.
  if (backoffMaxMs >= reclaimIdleMs) throw optionError('backoffMaxMs', `below reclaimIdleMs (${reclaimIdleMs})`, backoffMaxMs);
  const startFrom = optionOneOf('startFrom', options.startFrom, ['earliest', 'latest'], options.mode === 'work' ? 'earliest' : 'latest');
  if (options.parse !== undefined && typeof options.parse !== 'function') throw optionError('parse', 'a function', typeof options.parse);
  return {
    mode: options.mode,
    group: options.group,
    concurrency,
    maxAttempts: positiveInt('maxAttempts', options.maxAttempts, 5, 1000),
    backoffBaseMs,
    backoffMaxMs,
    reclaimIdleMs,
    reclaimIntervalMs: positiveInt('reclaimIntervalMs', options.reclaimIntervalMs, Math.max(1, Math.floor(reclaimIdleMs / 4))),
    prefetch: positiveInt('prefetch', options.prefetch, Math.max(64, concurrency * 2), 10_000),
    blockMs: positiveInt('blockMs', options.blockMs, 1000, 60_000),
    startFrom,
    dedupTtlMs: positiveInt('dedupTtlMs', options.dedupTtlMs, 3_600_000),
    parse: options.parse,
  };
}
