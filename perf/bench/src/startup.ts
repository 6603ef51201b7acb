// `npm run bench -- startup`: is load served from the first second after `/ready`?
// Each run starts the whole stack fresh (redis-server, policy-service, auth-service as
// real processes, default settings), and the moment the auth-service says it is ready
// sends open-loop load of new decisions (every request a new resource) with vegeta.
// The limit is zero: no 503 and no breaker opening while both services are healthy.
// STARTUP_RATE (200/s), STARTUP_SECONDS (10) and STARTUP_RUNS (3) tune it.
import { attack, findVegeta, type Hit } from './_vegeta.ts';
import { startBenchStack } from './_stack.ts';
import { median, percentile } from './_stats.ts';

const RATE = Number(process.env.STARTUP_RATE ?? 200);
const SECONDS = Number(process.env.STARTUP_SECONDS ?? 10);
const RUNS = Number(process.env.STARTUP_RUNS ?? 3);

interface RunResult {
  hits: Hit[];
  breakerOpens: number;
  readyMs: number;
}

async function oneRun(vegeta: string, run: number): Promise<RunResult> {
  const began = performance.now();
  const stack = await startBenchStack({ policyOnBus: true });
  try {
    const auth = await stack.startAuth();
    const readyMs = performance.now() - began;
    const token = await stack.token(auth.url);
    const targets = Array.from({ length: RATE * SECONDS + 1 }, (_, n) => ({
      method: 'POST',
      url: `${auth.url}/authenticate`,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ action: n % 3 === 0 ? 'edit' : 'view', resource: { type: 'Document', id: `startup-${run}-${n}` } }),
    }));
    const hits = await attack(vegeta, targets, { rate: RATE, seconds: SECONDS });
    const breakerOpens = auth.handle
      .output()
      .split('\n')
      .filter((line) => /policy-service circuit open/.test(line)).length;
    return { hits, breakerOpens, readyMs };
  } finally {
    await stack.stop();
  }
}

export async function run(): Promise<void> {
  const vegeta = findVegeta();
  console.log(`${RUNS} runs: fresh stack, then ${RATE} new decisions/s for ${SECONDS} s from the moment the auth-service is ready`);
  const rows: { errors: number; firstSecond: number; opens: number; p95: number; p99: number; readyMs: number }[] = [];
  for (let run = 0; run < RUNS; run++) {
    const { hits, breakerOpens, readyMs } = await oneRun(vegeta, run);
    const failed = hits.filter((h) => h.code !== 200);
    const latencies = hits.map((h) => h.latencyMs).sort((a, b) => a - b);
    const row = {
      errors: failed.length,
      firstSecond: failed.filter((h) => h.atMs < 1000).length,
      opens: breakerOpens,
      p95: percentile(latencies, 95),
      p99: percentile(latencies, 99),
      readyMs,
    };
    rows.push(row);
    const codes = [...new Set(failed.map((h) => h.code))].join(',') || '-';
    console.log(
      `run ${run + 1}: ready after ${readyMs.toFixed(0)} ms; ${hits.length} requests, ${row.errors} not 200 (codes ${codes}), ${row.firstSecond} of them in the first second; breaker opened ${row.opens}×; p95 ${row.p95.toFixed(1)} ms, p99 ${row.p99.toFixed(1)} ms`,
    );
  }
  const total = (pick: (r: (typeof rows)[number]) => number): number => rows.reduce((sum, r) => sum + pick(r), 0);
  console.log(
    `RESULT startup rate=${RATE} seconds=${SECONDS} runs=${RUNS} errors=${total((r) => r.errors)} first_second_errors=${total((r) => r.firstSecond)} breaker_opens=${total((r) => r.opens)} p95_ms=${median(rows.map((r) => r.p95)).toFixed(2)} p99_ms=${median(rows.map((r) => r.p99)).toFixed(2)} ready_ms=${median(rows.map((r) => r.readyMs)).toFixed(0)} limit_errors=0`,
  );
}
