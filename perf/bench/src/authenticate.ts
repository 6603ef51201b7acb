// `npm run bench -- authenticate`: the whole stack on this machine (redis-server,
// policy-service, auth-service as real processes) with the load generated in the same
// run by vegeta, a native process of its own (the scenario of perf/k6/authenticate.js,
// which users with k6 can run themselves):
// - warm path (40 resources × 2 actions, cached after the first pass) at a fixed 3,000
//   req/s, and at its maximum (closed loop, 32 in flight);
// - cold path (every request a new decision: a new context) at a fixed 1,000 req/s;
// - the same cold load with the client's batching switched off (AUTH_BATCHING=false);
// - the cold path at its maximum (closed loop), batching on and off: batching's capacity gain.
// batch_efficiency = requests per policy round trip, from the auth-service's own
// portcullis_batch_round_trips_total counter.
import { attack, findVegeta, summarize, type Summary, type Target } from './_vegeta.ts';
import { startBenchStack } from './_stack.ts';
import { authenticateBody } from './suite/targets.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const WORKERS = 32;

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

const show = (name: string, load: Summary): void =>
  console.log(
    `${name.padEnd(34)} ${load.rps.toFixed(0).padStart(6)} req/s  p50 ${load.p50.toFixed(2)} ms  p95 ${load.p95.toFixed(2)} ms  p99 ${load.p99.toFixed(2)} ms  errors ${load.failed}/${load.sent}${load.failed > 0 ? ` (${load.failedCodes})` : ''}`,
  );

type Mode = 'warm' | 'cold';

/** `count` bodies of a mode: warm cycles 80 cacheable decisions, cold makes each one new (from `offset`). */
function targets(url: string, token: string, mode: Mode, count: number, offset: number): Target[] {
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${token}` };
  return Array.from({ length: count }, (_, n) => ({
    method: 'POST',
    url: `${url}/authenticate`,
    headers,
    body: JSON.stringify(authenticateBody(mode, n, offset)),
  }));
}

export async function run(): Promise<void> {
  const vegeta = findVegeta();
  const stack = await startBenchStack({ policyOnBus: false });
  try {
    const startAuth = (batching: boolean) => stack.startAuth({ AUTH_BATCHING: String(batching), AUTH_POLICY_TIMEOUT_MS: '200' });
    const auth = await startAuth(true);
    const token = await stack.token(auth.url);
    // Open loop at `rate`, or closed loop with WORKERS in flight when rate is 'max'.
    const load = async (url: string, mode: Mode, rate: number | 'max', offset = 0, seconds = SECONDS): Promise<Summary> => {
      // Warm bodies cycle (80 decisions); cold ones must all differ: enough for 10,000 req/s
      // in a closed loop, well above what this stack answers cold.
      const count = mode === 'warm' ? 80 : rate === 'max' ? 10_000 * seconds : rate * seconds + 1;
      const pace = rate === 'max' ? { workers: WORKERS } : { rate };
      return summarize(await attack(vegeta, targets(url, token, mode, count, offset), { seconds, ...pace }), seconds);
    };
    await load(auth.url, 'cold', 1000, 50_000_000, 3); // warm-up: JIT, connections

    // Cold phases first: the warm phases' audit events (tens of thousands) would still be
    // draining through the bus and compete for the same two cores.
    const before = await roundTrips(auth.url);
    const cold = await load(auth.url, 'cold', 1000);
    const trips = (await roundTrips(auth.url)) - before;
    show('cold, fixed 1,000 req/s, batching', cold);
    const efficiency = cold.sent / Math.max(1, trips);
    console.log(`  batch efficiency: ${efficiency.toFixed(1)} requests per policy round trip (${trips} round trips)`);

    const unbatched = await startAuth(false);
    await load(unbatched.url, 'cold', 1000, 5_000_000, 3);
    const before2 = await roundTrips(unbatched.url);
    const coldOff = await load(unbatched.url, 'cold', 1000, 10_000_000);
    const trips2 = (await roundTrips(unbatched.url)) - before2;
    show('cold, fixed 1,000 req/s, no batching', coldOff);
    console.log(
      `  batch efficiency: ${(coldOff.sent / Math.max(1, trips2)).toFixed(1)} requests per policy round trip (${trips2} round trips)`,
    );
    // Where batching pays: capacity. Closed loop, every request a new decision.
    const coldMaxOff = await load(unbatched.url, 'cold', 'max', 20_000_000);
    show(`cold, max (${WORKERS} in flight), no batching`, coldMaxOff);
    await unbatched.handle.stop();
    const before3 = await roundTrips(auth.url);
    const coldMax = await load(auth.url, 'cold', 'max', 30_000_000);
    const trips3 = (await roundTrips(auth.url)) - before3;
    show(`cold, max (${WORKERS} in flight), batching`, coldMax);
    console.log(
      `  batch efficiency: ${(coldMax.sent / Math.max(1, trips3)).toFixed(1)} requests per policy round trip; ${(coldMax.rps / coldMaxOff.rps).toFixed(2)}× the unbatched rate`,
    );

    await load(auth.url, 'warm', 1000, 0, 1); // fill the cache
    const bucketsBefore = await serverBuckets(auth.url);
    const warmFixed = await load(auth.url, 'warm', 3000);
    show('warm, fixed 3,000 req/s', warmFixed);
    const warmServerP95 = serverP95(bucketsBefore, await serverBuckets(auth.url));
    console.log(`  server-side (the auth-service's own histogram): p95 <= ${warmServerP95} ms`);
    const warmMax = await load(auth.url, 'warm', 'max');
    show(`warm, max (${WORKERS} in flight)`, warmMax);

    console.log(
      `RESULT authenticate warm_rps_max=${warmMax.rps.toFixed(0)} warm_p95_ms=${warmFixed.p95.toFixed(2)} cold_p95_ms=${cold.p95.toFixed(2)} batch_efficiency=${efficiency.toFixed(1)} cold_p95_ms_unbatched=${coldOff.p95.toFixed(2)} cold_rps_max=${coldMax.rps.toFixed(0)} cold_rps_max_vs_unbatched=${(coldMax.rps / coldMaxOff.rps).toFixed(2)} warm_server_p95_ms_le=${warmServerP95}`,
    );
  } finally {
    await stack.stop();
  }
}
