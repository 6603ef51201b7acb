import { optionError, optionInt } from '@portcullis/contracts';
import type { Registry } from '@portcullis/observability';
import type { Logger } from '@portcullis/observability';
import type { RedisClient } from '@portcullis/redis';
import type { InvalidationTransport } from './invalidation.ts';
import type { L2Driver } from './l2.ts';

/** TTL policy of one operation type (`'allow'`, `'deny'`, `'token'`...). */
export interface TypePolicy {
  /** How long an entry of this type is fresh. */
  ttlMs: number;
  /** How long after expiry it may still be served, marked stale, when L2 or the factory fails. */
  graceMs?: number;
}

/** Options of {@link Cache}. Every field but `name` has a default; see `resolveOptions`. */
export interface CacheOptions {
  /** The cache's name: its metric label and part of every Redis key. */
  name: string;
  /**
   * A caller-owned client (standalone or Cluster), typically the process's shared one
   * from `openRedis` of `@portcullis/redis`. The cache never closes it.
   */
  redis?: RedisClient;
  /** Or a URL the cache connects to itself (a comma-separated host list means a Cluster). */
  url?: string;
  /** Or a ready L2 driver (a wrapped one in tests). Takes precedence over `redis`/`url`. */
  l2?: L2Driver;
  /** No L2 at all: an L1-only cache (tests, simulations). */
  l1Only?: boolean;
  /** Root of every Redis key of this cache (default `pc`). */
  prefix?: string;
  /** L1 bound in entries (default 10 000). */
  l1MaxEntries?: number;
  /** L1 bound in bytes of serialized values (default 64 MiB). */
  l1MaxBytes?: number;
  /** Entries up to this size may enter L1 on their first hit (default 1 KiB). */
  hotEntryBytes?: number;
  /** Entries above this size never enter L1 (default 10 KiB). */
  maxL1EntryBytes?: number;
  /** Larger values are refused with `E_CACHE_VALUE_TOO_LARGE` (default 4 MiB). */
  maxValueBytes?: number;
  /** Longer keys are refused with `E_CACHE_INVALID_KEY` (default 1024 characters). */
  maxKeyLength?: number;
  /** Reads within the sketch's window before an L2 hit is promoted to L1 (default 2). */
  promoteAfterHits?: number;
  /** Frequency-sketch sample window, as a multiple of `l1MaxEntries` (default 128). */
  sketchWindowFactor?: number;
  /**
   * `learn`: keys this process has never seen skip L2 (read and write-behind) while such
   * keys' L2 hit rate stays under 5%, sampled to notice a change (see FirstSeenAdmission).
   * `always` (default): every miss probes L2 and every load is written there.
   */
  firstSeenL2?: 'always' | 'learn';
  /** Fresh time of entries set without a type (default 60 s). */
  ttlMs?: number;
  /** Grace of entries set without a type (default 0: never served stale). */
  graceMs?: number;
  /** TTL policies by operation type name. */
  types?: Record<string, TypePolicy>;
  /** Timeout of every L2 call (default 100 ms). */
  l2TimeoutMs?: number;
  /** Consecutive L2 failures that open the breaker (default 5). */
  breakerThreshold?: number;
  /** How long the breaker stays open before a trial call (default 5 s). */
  breakerResetMs?: number;
  /** Cross-instance invalidation (none by default: a single instance needs none). */
  invalidation?: InvalidationTransport;
  /** How many hottest keys are recorded in Redis and warmed at start (default 1000, 0 = off). */
  hotKeys?: number;
  /** How often the hottest keys are written to Redis and gauges refreshed (default 10 s). */
  hotFlushMs?: number;
  /** Where the PRODUCT.md metrics live (default registry of @portcullis/observability). */
  registry?: Registry;
  /** A pino logger; L2 failures are logged at warn, never thrown into reads. */
  logger?: Logger;
  /** Whether `/ready` depends on this cache's L2 (default true). */
  healthCritical?: boolean;
}

/** Options after validation, every default applied. */
export interface ResolvedOptions {
  name: string;
  prefix: string;
  l1MaxEntries: number;
  l1MaxBytes: number;
  hotEntryBytes: number;
  maxL1EntryBytes: number;
  maxValueBytes: number;
  maxKeyLength: number;
  promoteAfterHits: number;
  sketchWindowFactor: number;
  firstSeenL2: 'always' | 'learn';
  defaultType: Required<TypePolicy>;
  types: ReadonlyMap<string, Required<TypePolicy>>;
  l2TimeoutMs: number;
  breakerThreshold: number;
  breakerResetMs: number;
  hotKeys: number;
  hotFlushMs: number;
  healthCritical: boolean;
}

const int = optionInt;

function firstSeenL2(value: unknown): 'always' | 'learn' {
  if (value === undefined) return 'always';
  if (value === 'always' || value === 'learn') return value;
  throw optionError('firstSeenL2', "'always' or 'learn'", value);
}

function policy(name: string, p: TypePolicy | undefined): Required<TypePolicy> {
  if (p === null || typeof p !== 'object') throw optionError(name, '{ttlMs, graceMs?}', p);
  return { ttlMs: int(`${name}.ttlMs`, p.ttlMs, 0, 1), graceMs: int(`${name}.graceMs`, p.graceMs, 0, 0) };
}

const NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** Validates and defaults every option in one place; a bad one is a RangeError naming it. */
export function resolveOptions(options: CacheOptions): ResolvedOptions {
  if (typeof options?.name !== 'string' || !NAME.test(options.name)) {
    throw optionError('name', `a string matching ${NAME}`, options?.name);
  }
  const prefix = options.prefix ?? 'pc';
  if (typeof prefix !== 'string' || !NAME.test(prefix)) throw optionError('prefix', `a string matching ${NAME}`, prefix);
  const l1MaxEntries = int('l1MaxEntries', options.l1MaxEntries, 10_000, 1);
  const maxL1EntryBytes = int('maxL1EntryBytes', options.maxL1EntryBytes, 10 * 1024, 1);
  const hotEntryBytes = int('hotEntryBytes', options.hotEntryBytes, 1024, 1, maxL1EntryBytes);
  const types = new Map<string, Required<TypePolicy>>();
  for (const [type, p] of Object.entries(options.types ?? {})) types.set(type, policy(`types.${type}`, p));
  if (options.redis === undefined && options.url === undefined && options.l2 === undefined && options.l1Only !== true) {
    throw optionError('redis', 'given, or one of url, l2 or l1Only: true', undefined);
  }
  return {
    name: options.name,
    prefix: `${prefix}:${options.name}:`,
    l1MaxEntries,
    l1MaxBytes: int('l1MaxBytes', options.l1MaxBytes, 64 * 1024 * 1024, 1),
    hotEntryBytes,
    maxL1EntryBytes,
    maxValueBytes: int('maxValueBytes', options.maxValueBytes, 4 * 1024 * 1024, 1, 512 * 1024 * 1024),
    maxKeyLength: int('maxKeyLength', options.maxKeyLength, 1024, 1, 64 * 1024),
    promoteAfterHits: int('promoteAfterHits', options.promoteAfterHits, 2, 1, 255),
    sketchWindowFactor: int('sketchWindowFactor', options.sketchWindowFactor, 128, 1, 4096),
    firstSeenL2: firstSeenL2(options.firstSeenL2),
    defaultType: policy('ttlMs/graceMs', { ttlMs: options.ttlMs ?? 60_000, graceMs: options.graceMs ?? 0 }),
    types,
    l2TimeoutMs: int('l2TimeoutMs', options.l2TimeoutMs, 100, 1),
    breakerThreshold: int('breakerThreshold', options.breakerThreshold, 5, 1),
    breakerResetMs: int('breakerResetMs', options.breakerResetMs, 5_000, 1),
    hotKeys: int('hotKeys', options.hotKeys, 1000, 0, 100_000),
    hotFlushMs: int('hotFlushMs', options.hotFlushMs, 10_000, 10),
    healthCritical: options.healthCritical ?? true,
  };
}
