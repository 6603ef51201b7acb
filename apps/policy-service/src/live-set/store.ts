import { Entity, parseJson } from '@portcullis/contracts';
import { writeReplicated, type RedisClient } from '@portcullis/redis';
import { withDeadline } from '@portcullis/resilience';
import { z } from 'zod';
import type { BundleSource, PolicyBundle } from '../engine/bundle.ts';

/** The live policy set every policy-service replica serves: one hash, so one Cluster slot. */
export const LIVE_SET_KEY = 'portcullis:{policies}:live';

/** A POLICY_DIR as a replica read it: its bundle's version and when it last changed. */
export interface FilesMark {
  version: string;
  changedAtMs: number;
}

/** The live set as stored. `revision` grows with every write, whoever wrote it. */
export interface StoredLiveSet {
  revision: number;
  version: string;
  source: BundleSource;
  /** `api`: a `PUT /policies`; `files`: a replica's POLICY_DIR. */
  origin: 'api' | 'files';
  /** The POLICY_DIR the set was built on or replaced; absent if no replica had loaded one. */
  files: FilesMark | undefined;
}

const StoredSource = z.object({
  policies: z.string(),
  schema: z.string().nullable(),
  entities: z.array(Entity),
});

// Compare-and-set on the revision (ARGV[1], '' for any), then the set; the files mark
// (ARGV[5], ARGV[6]) is replaced when the origin (ARGV[4]) is the files, else kept (a PUT
// leaves the files it was built on as they are) unless there is none yet. Returns the new
// revision, or nil when another write came first.
const WRITE_SCRIPT = `
local current = redis.call('HGET', KEYS[1], 'revision') or '0'
if ARGV[1] ~= '' and ARGV[1] ~= current then return false end
redis.call('HSET', KEYS[1], 'version', ARGV[2], 'source', ARGV[3], 'origin', ARGV[4])
if ARGV[5] ~= '' and (ARGV[4] == 'files' or redis.call('HEXISTS', KEYS[1], 'filesVersion') == 0) then
  redis.call('HSET', KEYS[1], 'filesVersion', ARGV[5], 'filesChangedAtMs', ARGV[6])
end
return redis.call('HINCRBY', KEYS[1], 'revision', 1)`;

/**
 * Where the live policy set outlives the replica that took it, so every replica serves
 * the same one: a `PUT /policies` lands here and each replica loads it (see
 * `live-set/sync.ts`). Each call gives up after `timeoutMs` (Redis away: its client would
 * otherwise hold the command through reconnects). A write that gave up may still land
 * later; writers pass the revision they read (`ifRevision`), so it never lands over a
 * set stored after that read.
 */
export class LiveSetStore {
  readonly #redis: RedisClient;
  readonly #key: string;
  readonly #replicas: number;
  readonly #timeoutMs: number;

  /** `replicas` (REDIS_WAIT_REPLICAS) must hold a write before it resolves. */
  constructor(redis: RedisClient, options: { key?: string; replicas?: number; timeoutMs?: number } = {}) {
    this.#redis = redis;
    this.#key = options.key ?? LIVE_SET_KEY;
    this.#replicas = options.replicas ?? 0;
    this.#timeoutMs = options.timeoutMs ?? 2000;
  }

  /** The stored revision (0 when nothing is stored): one HGET, for cheap polling. */
  async revision(): Promise<number> {
    return Number((await withDeadline(this.#redis.hget(this.#key, 'revision'), this.#timeoutMs, 'Redis, reading the live set,')) ?? 0);
  }

  /** The stored set, or undefined when none is. Throws when it cannot be read or parsed. */
  async read(): Promise<StoredLiveSet | undefined> {
    const fields = await withDeadline(this.#redis.hgetall(this.#key), this.#timeoutMs, 'Redis, reading the live set,');
    if (fields.revision === undefined || fields.source === undefined || fields.version === undefined) return undefined;
    const { schema, ...rest } = StoredSource.parse(parseJson(fields.source));
    const source: BundleSource = { ...rest, schema: schema ?? undefined };
    return {
      revision: Number(fields.revision),
      version: fields.version,
      source,
      origin: fields.origin === 'api' ? 'api' : 'files',
      files:
        fields.filesVersion === undefined ? undefined : { version: fields.filesVersion, changedAtMs: Number(fields.filesChangedAtMs ?? 0) },
    };
  }

  /**
   * Stores `bundle` as the live set and resolves to its revision. `files` is the writer's
   * POLICY_DIR: with `origin: 'files'` it becomes the set's files mark; with `api` it is
   * kept only when the set had none. `ifRevision` makes it a compare-and-set: resolves
   * undefined, writing nothing, when the stored revision is another one.
   */
  async write(
    bundle: PolicyBundle,
    options: { origin: 'api' | 'files'; files: FilesMark | undefined; ifRevision?: number },
  ): Promise<number | undefined> {
    const { origin, files, ifRevision } = options;
    const args = [
      ifRevision === undefined ? '' : String(ifRevision),
      bundle.version,
      JSON.stringify(bundle.source),
      origin,
      files?.version ?? '',
      String(files?.changedAtMs ?? 0),
    ];
    const revision = await withDeadline(
      writeReplicated<number | null>(this.#redis, this.#replicas, (pipeline) => pipeline.eval(WRITE_SCRIPT, 1, this.#key, ...args)),
      this.#timeoutMs,
      'Redis, storing the live set,',
    );
    return revision === null ? undefined : Number(revision);
  }
}
