// `npm run bench -- cache [rounds]`: @portcullis/cache against bentocache (two tiers, same
// sizes, same Redis) and raw lru-cache (the in-process limit), plus a Zipf(1.0) hit-rate
// simulation of the L1 policy against a plain LRU of the same size. Medians of `rounds`.
import { createCache, simulateHitRate } from '@portcullis/cache';
import { startRedisServer } from '@portcullis/testing';
import { BentoCache, bentostore } from 'bentocache';
import { memoryDriver } from 'bentocache/drivers/memory';
import { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import { opsPerSecond, zipfStream } from './_cache-zipf.ts';
import { median } from './_stats.ts';

const L1_ENTRIES = 10_000;
const SLICE_MS = 300;

export async function run(args: string[]): Promise<void> {
  const { redisDriver } = await import('bentocache/drivers/redis');
  const rounds = Number(args[0] ?? 5);
  const server = process.env.REDIS_URL === undefined ? await startRedisServer() : undefined;
  const url = process.env.REDIS_URL ?? (server?.url as string);
  const clients = [new Redis(url), new Redis(url)];
  const [c1, c2] = clients as [Redis, Redis];
  const name = `bench${process.pid}`;
  const ours = await createCache({ name, redis: c1, l1MaxEntries: L1_ENTRIES, hotKeys: 0 });
  const oursReader = await createCache({ name, redis: c2, l1MaxEntries: L1_ENTRIES, hotKeys: 0 });
  // bentocache brings its own ioredis 5 (its peer range), so it gets connection options
  // rather than one of our ioredis 6 clients; each instance still has its own connection.
  const { hostname, port } = new URL(url);
  const bentoOf = () =>
    new BentoCache({
      default: 'tiered',
      stores: {
        tiered: bentostore()
          .useL1Layer(memoryDriver({ maxItems: L1_ENTRIES }))
          .useL2Layer(redisDriver({ connection: { host: hostname, port: Number(port) }, prefix: `${name}-bento` })),
      },
    });
  const bento = bentoOf();
  const bentoReader = bentoOf();
  const lru = new LRUCache<string, object>({ max: L1_ENTRIES });
  const value = { decision: 'allow', reasons: ['policy0'], policyVersion: 'v1' };

  await ours.set('hot', value);
  await bento.set({ key: 'hot', value });
  lru.set('hot', value);
  // Keys read once each by the reader instances: every such read is an L2 hit.
  const cold = Array.from({ length: 60_000 }, (_v, i) => `cold:${i}`);
  for (let i = 0; i < cold.length; i += 1000) {
    const slice = cold.slice(i, i + 1000);
    await ours.setMany(slice.map((key) => ({ key, value })));
    await Promise.all(slice.map((key) => bento.set({ key, value })));
  }
  let oursCursor = 0;
  let bentoCursor = 0;
  const figures: Record<string, number[]> = {};
  const record = (key: string, n: number) => (figures[key] ??= []).push(n);
  const concurrent = async (body: (i: number) => Promise<unknown>) => {
    const workers = 64;
    let n = 0;
    const start = performance.now();
    await Promise.all(
      Array.from({ length: workers }, async () => {
        while (performance.now() - start < SLICE_MS) await body(n++ % 1000);
      }),
    );
    return n / ((performance.now() - start) / 1000);
  };

  for (let round = 0; round < rounds; round += 1) {
    record('l1_ours', await opsPerSecond(SLICE_MS, 1, () => ours.get('hot')));
    record('l1_bento', await opsPerSecond(SLICE_MS, 1, () => bento.get({ key: 'hot' })));
    record('l1_lru', await opsPerSecond(SLICE_MS, 1, () => lru.get('hot')));
    record('l2_ours', await opsPerSecond(SLICE_MS / 3, 1, () => oursReader.get(cold[oursCursor++ % cold.length] as string)));
    record('l2_bento', await opsPerSecond(SLICE_MS / 3, 1, () => bentoReader.get({ key: cold[bentoCursor++ % cold.length] as string })));
    const r = round;
    record('gos_ours', await concurrent((i) => ours.getOrSet(`gos${r}:${i}`, async () => value)));
    record('gos_bento', await concurrent((i) => bento.getOrSet({ key: `gos${r}:${i}`, factory: async () => value })));
    const trips = oursReader.stats().l2RoundTrips;
    let batches = 0;
    record(
      'many_ours',
      await opsPerSecond(SLICE_MS / 3, 1, () => {
        batches += 1;
        const start = (oursCursor += 100);
        return oursReader.getMany(Array.from({ length: 100 }, (_v, i) => cold[(start + i) % cold.length] as string));
      }),
    );
    record('many_trips', (oursReader.stats().l2RoundTrips - trips) / batches);
    record(
      'many_bento',
      await opsPerSecond(SLICE_MS / 3, 1, () => {
        const start = (bentoCursor += 100);
        return Promise.all(Array.from({ length: 100 }, (_v, i) => bentoReader.get({ key: cold[(start + i) % cold.length] as string })));
      }),
    );
  }

  const stream = zipfStream(100_000, 1.0, 4_000_000);
  const sim = simulateHitRate(stream, { maxEntries: L1_ENTRIES });
  const plain = new LRUCache<string, true>({ max: L1_ENTRIES });
  let plainHits = 0;
  let plainSteady = 0;
  stream.forEach((key, i) => {
    if (plain.get(key) !== undefined) {
      plainHits += 1;
      if (i >= stream.length / 2) plainSteady += 1;
    } else plain.set(key, true);
  });

  const m = (key: string) => median(figures[key] ?? [0]);
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  console.log(`rounds: ${rounds}, medians (ops/s)`);
  console.log(`L1-hit get      ours ${fmt(m('l1_ours'))}  bentocache ${fmt(m('l1_bento'))}  lru-cache ${fmt(m('l1_lru'))}`);
  console.log(`L2-hit get      ours ${fmt(m('l2_ours'))}  bentocache ${fmt(m('l2_bento'))}  (sequential, loopback Redis)`);
  console.log(`getOrSet x64    ours ${fmt(m('gos_ours'))}  bentocache ${fmt(m('gos_bento'))}  (1000 keys, 64 concurrent callers)`);
  console.log(
    `getMany(100)    ours ${fmt(m('many_ours'))}  bentocache ${fmt(m('many_bento'))} (100 concurrent get)  batches/s; ours ${m('many_trips')} round trips each`,
  );
  console.log(
    `Zipf(1.0) 100k keys, L1 10k, 4M requests: ours ${sim.hitRate.toFixed(4)} overall, ${sim.steadyHitRate.toFixed(4)} second half; plain LRU ${(plainHits / stream.length).toFixed(4)} overall, ${(plainSteady / (stream.length / 2)).toFixed(4)} second half`,
  );
  const ratio = (a: number, b: number) => (a / b).toFixed(3);
  console.log(
    `ratios vs bentocache: l2_hit ${ratio(m('l2_ours'), m('l2_bento'))} getorset ${ratio(m('gos_ours'), m('gos_bento'))} getmany ${ratio(m('many_ours'), m('many_bento'))}`,
  );

  await Promise.all([ours.close(), oursReader.close(), bento.disconnect(), bentoReader.disconnect()]);
  for (const client of clients) client.disconnect();
  await server?.close();
  console.log(
    `RESULT cache l1_hit_ops=${Math.round(m('l1_ours'))} vs_bentocache=${ratio(m('l1_ours'), m('l1_bento'))} vs_lru=${ratio(m('l1_ours'), m('l1_lru'))} zipf_hit_rate=${sim.steadyHitRate.toFixed(4)} getmany_round_trips=${m('many_trips')}`,
  );
}
