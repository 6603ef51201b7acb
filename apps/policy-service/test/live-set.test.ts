// Replicas sharing one live policy set through a real Redis: what a PUT, a restart, a
// rollout with newer files, a replica left with older files and Redis going away each do.
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { mkdir, mkdtemp, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { TOPICS } from '@portcullis/contracts';
import { MessageBus, type ProcessedEvent } from '@portcullis/message-bus';
import { createLogger, portcullisMetrics, Registry } from '@portcullis/observability';
import { closeRedis, openRedis, type RedisClient } from '@portcullis/redis';
import { logLines, useRedisServer } from '@portcullis/testing';
import { compileBundle, type BundleSource } from '../src/engine/bundle.ts';
import { Evaluator } from '../src/engine/evaluator.ts';
import { lastChangeOf } from '../src/engine/loader.ts';
import { LIVE_SET_KEY, LiveSetStore } from '../src/live-set/store.ts';
import { followPolicyUpdates, LiveSetSync, PolicyStoreUnavailableError } from '../src/live-set/sync.ts';

const set = (id: string, action: string): BundleSource => ({
  policies: `@id("${id}") permit(principal, action == Action::"${action}", resource);`,
});
const DEPLOYED = set('deployed', 'view');
const ROLLED_OUT = set('rolled-out', 'comment');
const versionOf = (source: BundleSource): string => compileBundle(source).version;

/** One replica: its evaluator, its sync, the files it reads (changed by the test) and its log lines. */
function replica(redis: RedisClient, files: { source: BundleSource; changedAtMs: number }) {
  const { lines, destination } = logLines();
  const evaluator = new Evaluator({ metrics: portcullisMetrics(new Registry()), decisionCacheSize: 0 });
  const sync = new LiveSetSync({
    evaluator,
    store: new LiveSetStore(redis, { timeoutMs: 500 }),
    readFiles: async () => files,
    log: createLogger({ service: 'test', destination }),
  });
  return { evaluator, sync, files, lines, version: () => evaluator.bundle?.version };
}

test('lastChangeOf: the newest modification time of POLICY_DIR and what it holds, through symlinks (a ConfigMap volume)', async () => {
  const root = await mkdtemp(join(tmpdir(), 'policy-dir-'));
  const dir = join(root, 'policies');
  try {
    await writeFile(join(root, 'mounted.cedar'), 'permit(principal, action, resource);');
    await mkdir(dir);
    await writeFile(join(dir, 'a.cedar'), 'permit(principal, action, resource);');
    await symlink(join(root, 'mounted.cedar'), join(dir, 'b.cedar'));
    const at = (seconds: number): Date => new Date(seconds * 1000);
    await utimes(join(dir, 'a.cedar'), at(1000), at(1000));
    await utimes(join(root, 'mounted.cedar'), at(900), at(900));
    await utimes(dir, at(800), at(800));
    assert.equal(await lastChangeOf(dir), 1_000_000);
    await utimes(join(root, 'mounted.cedar'), at(3000), at(3000));
    assert.equal(await lastChangeOf(dir), 3_000_000, 'the file the symlink points at');
    await utimes(dir, at(4000), at(4000));
    assert.equal(await lastChangeOf(dir), 4_000_000, 'the directory: a file removed or renamed');
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

describe('the live set shared by policy-service replicas (real Redis)', () => {
  const server = useRedisServer();
  let redis: RedisClient;
  let store: LiveSetStore;

  before(async () => {
    await server.started;
    redis = openRedis(server.url);
    store = new LiveSetStore(redis);
  });
  beforeEach(async () => {
    await redis.flushall();
  });
  after(async () => {
    await closeRedis(redis);
  });

  test('the first replica stores its files; the next with the same files serves them and writes nothing', async () => {
    const first = replica(redis, { source: DEPLOYED, changedAtMs: 1000 });
    await first.sync.filesChanged('start');
    const stored = await store.read();
    assert.equal(stored?.version, versionOf(DEPLOYED));
    assert.equal(stored?.origin, 'files');
    assert.deepEqual(stored?.files, { version: versionOf(DEPLOYED), changedAtMs: 1000 });
    const second = replica(redis, { source: DEPLOYED, changedAtMs: 1200 });
    await second.sync.filesChanged('start');
    assert.equal(second.version(), versionOf(DEPLOYED));
    assert.equal(await store.revision(), 1);
  });

  test('a PUT on one replica goes live on the others at their refresh, and outlives a restart with the same files', async () => {
    const a = replica(redis, { source: DEPLOYED, changedAtMs: 1000 });
    const b = replica(redis, { source: DEPLOYED, changedAtMs: 1000 });
    await a.sync.filesChanged('start');
    await b.sync.filesChanged('start');
    const put = await a.sync.put(set('edited', 'edit'));
    assert.equal(a.version(), put.version);
    assert.equal(b.version(), versionOf(DEPLOYED), 'not before it refreshes');
    await b.sync.refresh('policy.updated');
    assert.equal(b.version(), put.version);
    assert.ok(b.lines.some((line) => line.includes('"reason":"policy.updated"') && line.includes('"origin":"api"')));
    // b restarts (or a replica scales out) with the files it had: the PUT stays live.
    const restarted = replica(redis, { source: DEPLOYED, changedAtMs: 1000 });
    await restarted.sync.filesChanged('start');
    assert.equal(restarted.version(), put.version);
    assert.equal((await store.read())?.files?.version, versionOf(DEPLOYED), 'the PUT keeps the files it was made over');
  });

  test('newer files (a rollout) replace a PUT; a replica left with the older files serves the stored set', async () => {
    const a = replica(redis, { source: DEPLOYED, changedAtMs: 1000 });
    await a.sync.filesChanged('start');
    await a.sync.put(set('edited', 'edit'));
    const rolledOut = replica(redis, { source: ROLLED_OUT, changedAtMs: 5000 });
    await rolledOut.sync.filesChanged('start');
    assert.equal(rolledOut.version(), versionOf(ROLLED_OUT));
    assert.equal((await store.read())?.origin, 'files');
    await a.sync.refresh('poll');
    assert.equal(a.version(), versionOf(ROLLED_OUT));
    // An old pod restarting mid-rollout: older files must not take the fleet back.
    const old = replica(redis, { source: DEPLOYED, changedAtMs: 1000 });
    await old.sync.filesChanged('start');
    assert.equal(old.version(), versionOf(ROLLED_OUT));
    assert.equal((await store.read())?.version, versionOf(ROLLED_OUT));
  });

  test('files changed in place on a running replica go live everywhere', async () => {
    const a = replica(redis, { source: DEPLOYED, changedAtMs: 1000 });
    const b = replica(redis, { source: DEPLOYED, changedAtMs: 1000 });
    await a.sync.filesChanged('start');
    await b.sync.filesChanged('start');
    a.files.source = ROLLED_OUT;
    a.files.changedAtMs = 2000;
    await a.sync.filesChanged('file change');
    await b.sync.refresh('policy.updated');
    assert.equal(b.version(), versionOf(ROLLED_OUT));
    // b's own copy of the files then changes too: nothing more to store.
    b.files.source = ROLLED_OUT;
    b.files.changedAtMs = 2100;
    await b.sync.filesChanged('file change');
    assert.equal(await store.revision(), 2);
  });

  test('two replicas storing newer files at once: one compare-and-set loses, reads again, and the later files win on both', async () => {
    await replica(redis, { source: DEPLOYED, changedAtMs: 1000 }).sync.filesChanged('start');
    const earlier = replica(redis, { source: set('earlier', 'edit'), changedAtMs: 3000 });
    const later = replica(redis, { source: ROLLED_OUT, changedAtMs: 4000 });
    await Promise.all([later.sync.filesChanged('start'), earlier.sync.filesChanged('start')]);
    await Promise.all([later.sync.refresh('poll'), earlier.sync.refresh('poll')]);
    assert.equal((await store.read())?.version, versionOf(ROLLED_OUT));
    assert.equal(earlier.version(), versionOf(ROLLED_OUT));
    assert.equal(later.version(), versionOf(ROLLED_OUT));
  });

  test('a write over a revision that is no longer the stored one is refused and changes nothing', async () => {
    const first = await store.write(compileBundle(DEPLOYED), { origin: 'files', files: { version: versionOf(DEPLOYED), changedAtMs: 1 } });
    await store.write(compileBundle(ROLLED_OUT), { origin: 'api', files: undefined, ifRevision: first });
    // A PUT held up in a client's queue while Redis was away, answered 503 meanwhile.
    const late = await store.write(compileBundle(set('late', 'edit')), { origin: 'api', files: undefined, ifRevision: first });
    assert.equal(late, undefined);
    assert.equal((await store.read())?.version, versionOf(ROLLED_OUT));
    assert.equal(await store.revision(), 2);
  });

  test('a PUT Cedar refuses changes nothing, here or in the store', async () => {
    const a = replica(redis, { source: DEPLOYED, changedAtMs: 1000 });
    await a.sync.filesChanged('start');
    await assert.rejects(a.sync.put({ policies: 'permit(principal, action resource);' }), { code: 'E_POLICY_INVALID' });
    assert.equal(a.version(), versionOf(DEPLOYED));
    assert.equal(await store.revision(), 1);
  });

  test('a stored set that is not JSON, not a policy set, or refused by Cedar is not loaded; the replica keeps its set', async () => {
    const a = replica(redis, { source: DEPLOYED, changedAtMs: 1000 });
    await a.sync.filesChanged('start');
    for (const [index, source] of [
      '{not json',
      JSON.stringify({ policies: 42 }),
      JSON.stringify({ policies: 'permit(', schema: null, entities: [] }),
    ].entries()) {
      await redis.hset(LIVE_SET_KEY, { source, version: `hostile-${index}`, revision: 10 + index });
      await a.sync.refresh('poll');
      assert.equal(a.version(), versionOf(DEPLOYED), source);
    }
    assert.ok(a.lines.some((line) => line.includes('cannot read the shared live set')));
    assert.ok(a.lines.some((line) => line.includes('does not compile here')));
  });

  test('Redis away: a PUT changes nothing anywhere and says so; changed files go live here, and are stored once Redis is back', async () => {
    const a = replica(redis, { source: DEPLOYED, changedAtMs: 1000 });
    await a.sync.filesChanged('start');
    await server.stop();
    try {
      await assert.rejects(a.sync.put(set('edited', 'edit')), PolicyStoreUnavailableError);
      assert.equal(a.version(), versionOf(DEPLOYED));
      a.files.source = ROLLED_OUT;
      a.files.changedAtMs = 2000;
      await a.sync.filesChanged('file change');
      assert.equal(a.version(), versionOf(ROLLED_OUT), 'served alone until the store is back');
    } finally {
      await server.restart();
    }
    // The restarted server kept nothing (no persistence in tests): the next poll stores the files.
    await redis.ping();
    await a.sync.refresh('poll');
    assert.equal((await store.read())?.version, versionOf(ROLLED_OUT));
  });

  test('policy.updated makes a replica load the stored set; forged and malformed events change nothing', async () => {
    const bus = new MessageBus({ redis: server.url, registry: new Registry(), logger: createLogger({ service: 'test', level: 'silent' }) });
    const a = replica(redis, { source: DEPLOYED, changedAtMs: 1000 });
    const b = replica(redis, { source: DEPLOYED, changedAtMs: 1000 });
    const outcomes: ProcessedEvent[] = [];
    let settled: () => void = () => undefined;
    const fourSettled = new Promise<void>((resolve) => (settled = resolve));
    const listener = (event: unknown): void => {
      if ((event as ProcessedEvent).topic !== TOPICS.policyUpdated.topic) return;
      outcomes.push(event as ProcessedEvent);
      if (outcomes.length === 4) settled();
    };
    subscribe('portcullis:bus:processed', listener);
    try {
      await a.sync.filesChanged('start');
      await b.sync.filesChanged('start');
      await followPolicyUpdates(bus, b.evaluator, b.sync);
      const publish = (payload: unknown) => bus.publish(TOPICS.policyUpdated.topic, payload, { priority: TOPICS.policyUpdated.priority });
      await publish({ version: 'forged', previousVersion: null, policyCount: 1 });
      await publish({ version: 42 });
      await publish({ version: 'x'.repeat(100_000), previousVersion: null, policyCount: 1 });
      const put = await a.sync.put(set('edited', 'edit'));
      await publish({ version: put.version, previousVersion: versionOf(DEPLOYED), policyCount: 1 });
      await fourSettled;
      assert.deepEqual(outcomes.map((event) => event.outcome).sort(), ['dead_letter', 'dead_letter', 'success', 'success']);
      assert.equal(b.version(), put.version, 'the stored set, whatever the events said');
    } finally {
      unsubscribe('portcullis:bus:processed', listener);
      await bus.close();
    }
  });
});
