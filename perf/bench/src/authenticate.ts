// `npm run bench -- authenticate`: the whole stack on this machine (redis-server,
// policy-service, auth-service as real processes) with the load generated in the same
// run by k6 (perf/k6/authenticate.js, a native process of its own):
// - warm path (decisions cached) at a fixed 3,000 req/s, and at its maximum (closed loop);
// - cold path (every request a new decision) at a fixed 1,000 req/s;
// - the same cold load with the client's batching switched off (AUTH_BATCHING=false);
// - the cold path at its maximum (closed loop), batching on and off: batching's capacity gain.
// batch_efficiency = requests per policy round trip, from the auth-service's own
// portcullis_batch_round_trips_total counter.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, startProcess, startRedisServer, type ProcessHandle } from '@portcullis/testing';
import { findK6, runK6, type K6Summary } from './_k6.ts';

const AUTH_MAIN = fileURLToPath(new URL('../../../apps/auth-service/src/main.ts', import.meta.url));
const POLICY_MAIN = fileURLToPath(new URL('../../../apps/policy-service/src/main.ts', import.meta.url));
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CLIENT = { client_id: 'bench', client_secret: 'bench-secret-0123456789', roles: ['editor'] };

async function roundTrips(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const match = /portcullis_batch_round_trips_total\{target="policy-service"\} (\d+)/.exec(text);
  return Number(match?.[1] ?? 0);
}

/** Cumulative counts of the auth-service's own /authenticate latency histogram, by bucket. */
async function serverBuckets(url: string): Promise<Map<number, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const buckets = new Map<number, number>();
  for (const match of text.matchAll(
    /http_request_duration_seconds_bucket\{le="([^"]+)",service="auth-service",route="\/authenticate",method="POST",status_code="200"\} (\d+)/g,
  )) {
    buckets.set(match[1] === '+Inf' ? Infinity : Number(match[1]), Number(match[2]));
  }
  return buckets;
}

/** The bucket bound (ms) under which 95% of the requests between two snapshots finished, server-side. */
function serverP95(before: Map<number, number>, after: Map<number, number>): number {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const total = (after.get(Infinity) ?? 0) - (before.get(Infinity) ?? 0);
  const bound = bounds.find((le) => (after.get(le) ?? 0) - (before.get(le) ?? 0) >= 0.95 * total);
  return (bound ?? Infinity) * 1000;
}

const show = (name: string, load: K6Summary): void =>
  console.log(
    `${name.padEnd(34)} ${load.rps.toFixed(0).padStart(6)} req/s  p50 ${load.p50.toFixed(2)} ms  p95 ${load.p95.toFixed(2)} ms  p99 ${load.p99.toFixed(2)} ms  errors ${load.failed}/${load.sent}  late ${load.dropped}`,
  );

export async function run(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-auth-'));
  const clients = join(dir, 'clients.json');
  await writeFile(clients, JSON.stringify(CLIENT));
  const redis = await startRedisServer();
  const policyPort = await freePort();
  const processes: ProcessHandle[] = [];
  const startAuth = async (batching: boolean): Promise<{ url: string; handle: ProcessHandle }> => {
    const port = await freePort();
    const handle = await startProcess({
      command: process.execPath,
      args: [AUTH_MAIN],
      env: {
        AUTH_PORT: String(port),
        POLICY_URL: `http://127.0.0.1:${policyPort}`,
        REDIS_URL: redis.url,
        JWT_SECRET: 'bench-jwt-secret-0123456789abcdef0123456789',
        AUTH_CLIENTS_FILE: clients,
        AUTH_BATCHING: String(batching),
        LOG_LEVEL: 'warn',
        AUTH_POLICY_TIMEOUT_MS: '200',
      },
      readyWhen: /auth-service ready on/,
    });
    processes.push(handle);
    return { url: `http://127.0.0.1:${port}`, handle };
  };
  try {
    processes.push(
      await startProcess({
        command: process.execPath,
        args: [POLICY_MAIN],
        env: { POLICY_PORT: String(policyPort), POLICY_WATCH: 'false', LOG_LEVEL: 'warn' },
        readyWhen: /policy-service ready on/,
      }),
    );
    const auth = await startAuth(true);
    const tokenRes = await fetch(`${auth.url}/token`, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: CLIENT.client_id, client_secret: CLIENT.client_secret }),
    });
    const { access_token: token } = (await tokenRes.json()) as { access_token: string };
    const k6 = findK6();
    const load = (target: string, mode: 'warm' | 'cold' | 'max' | 'cold-max', extra: Record<string, string | number>): Promise<K6Summary> =>
      runK6(k6, 'authenticate.js', { TARGET_URL: target, TOKEN: token, MODE: mode, DURATION: `${SECONDS}s`, ...extra });
    await load(auth.url, 'cold', { RATE: 1000, DURATION: '3s', OFFSET: 50_000_000 }); // warm-up: JIT, connections

    // Cold phases first: the warm phases' audit events (tens of thousands) would still be
    // draining through the bus and compete for the same two cores.
    const before = await roundTrips(auth.url);
    const cold = await load(auth.url, 'cold', { RATE: 1000, OFFSET: 0 });
    const trips = (await roundTrips(auth.url)) - before;
    show('cold, fixed 1,000 req/s, batching', cold);
    const efficiency = cold.sent / Math.max(1, trips);
    console.log(`  batch efficiency: ${efficiency.toFixed(1)} requests per policy round trip (${trips} round trips)`);

    const unbatched = await startAuth(false);
    await load(unbatched.url, 'cold', { RATE: 1000, DURATION: '3s', OFFSET: 5_000_000 });
    const before2 = await roundTrips(unbatched.url);
    const coldOff = await load(unbatched.url, 'cold', { RATE: 1000, OFFSET: 10_000_000 });
    const trips2 = (await roundTrips(unbatched.url)) - before2;
    show('cold, fixed 1,000 req/s, no batching', coldOff);
    console.log(
      `  batch efficiency: ${(coldOff.sent / Math.max(1, trips2)).toFixed(1)} requests per policy round trip (${trips2} round trips)`,
    );
    // Where batching pays: capacity. Closed loop, every request a new decision.
    const coldMaxOff = await load(unbatched.url, 'cold-max', { VUS: 32, OFFSET: 20_000_000 });
    show('cold, max (32 VUs), no batching', coldMaxOff);
    await unbatched.handle.stop();
    const before3 = await roundTrips(auth.url);
    const coldMax = await load(auth.url, 'cold-max', { VUS: 32, OFFSET: 30_000_000 });
    const trips3 = (await roundTrips(auth.url)) - before3;
    show('cold, max (32 VUs), batching', coldMax);
    console.log(
      `  batch efficiency: ${(coldMax.sent / Math.max(1, trips3)).toFixed(1)} requests per policy round trip; ${(coldMax.rps / coldMaxOff.rps).toFixed(2)}× the unbatched rate`,
    );

    await load(auth.url, 'warm', { RATE: 1000, DURATION: '1s' }); // fill the cache
    const bucketsBefore = await serverBuckets(auth.url);
    const warmFixed = await load(auth.url, 'warm', { RATE: 3000 });
    show('warm, fixed 3,000 req/s', warmFixed);
    const warmServerP95 = serverP95(bucketsBefore, await serverBuckets(auth.url));
    console.log(`  server-side (the auth-service's own histogram): p95 <= ${warmServerP95} ms`);
    const warmMax = await load(auth.url, 'max', { VUS: 32 });
    show('warm, max (32 k6 VUs)', warmMax);

    console.log(
      `RESULT authenticate warm_rps_max=${warmMax.rps.toFixed(0)} warm_p95_ms=${warmFixed.p95.toFixed(2)} cold_p95_ms=${cold.p95.toFixed(2)} batch_efficiency=${efficiency.toFixed(1)} cold_p95_ms_unbatched=${coldOff.p95.toFixed(2)} cold_rps_max=${coldMax.rps.toFixed(0)} cold_rps_max_vs_unbatched=${(coldMax.rps / coldMaxOff.rps).toFixed(2)} warm_server_p95_ms_le=${warmServerP95}`,
    );
  } finally {
    await Promise.all(processes.map((p) => p.stop()));
    await redis.close();
    await rm(dir, { recursive: true, force: true });
  }
}
