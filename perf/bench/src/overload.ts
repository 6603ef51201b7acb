// `npm run bench -- overload`: what the stack answers when asked for more new decisions
// than it can make. One stack as `npm start` runs it (redis-server, the policy-service on
// the bus, an auth-service with a worker per core, logs at info); every request a new decision.
// 1. Capacity C: closed loop, 16 in flight, OVERLOAD_SECONDS (10).
// 2. Open loop at OVERLOAD_FACTOR × C (2) for as long (vegeta, up to 1,000 in flight).
// The limit: at 2 × C the stack still answers at least 0.8 × C a second (no congestion
// collapse), and the breaker never opens (the policy-service is busy, not broken). What it
// cannot answer it refuses (503) fast. Before the adaptive in-flight limit: 0.56–0.91 × C,
// refusals at the 50 ms deadline, 10–22 openings (perf/RESULTS.md).
import { attack, findVegeta, type Hit } from './_vegeta.ts';
import { startBenchStack } from './_stack.ts';
import { percentile } from './_stats.ts';

const SECONDS = Number(process.env.OVERLOAD_SECONDS ?? 10);
const FACTOR = Number(process.env.OVERLOAD_FACTOR ?? 2);
const MIN_ANSWERED_VS_CAPACITY = 0.8;

const p = (hits: Hit[], q: number): number =>
  percentile(
    hits.map((h) => h.latencyMs).sort((a, b) => a - b),
    q,
  );

export async function run(): Promise<void> {
  const vegeta = findVegeta();
  // Logs at info, as `npm start` and the manifests run them: the policy-service writes a line
  // an audited decision, which is part of what a decision costs it.
  const stack = await startBenchStack({ policyOnBus: true, policyEnv: { LOG_LEVEL: 'info' } });
  try {
    const auth = await stack.startAuth({ AUTH_WORKERS: 'auto', LOG_LEVEL: 'info' });
    const token = await stack.token(auth.url);
    let n = 0;
    const targets = (count: number) =>
      Array.from({ length: count }, () => ({
        method: 'POST',
        url: `${auth.url}/authenticate`,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ action: 'view', resource: { type: 'Document', id: `doc-${1 + (n % 40)}` }, context: { riskScore: n++ } }),
      }));
    await attack(vegeta, targets(900), { rate: 300, seconds: 3 });
    const closed = await attack(vegeta, targets(300_000), { workers: 16, seconds: SECONDS });
    const capacity = closed.filter((h) => h.code === 200).length / SECONDS;
    console.log(`capacity: ${capacity.toFixed(0)} decisions/s (closed loop, 16 in flight), p99 ${p(closed, 99).toFixed(1)} ms`);
    const rate = Math.round(capacity * FACTOR);
    const opensBefore = breakerOpenings(auth.handle.output());
    const hits = await attack(vegeta, targets(rate * SECONDS + 1000), { rate, seconds: SECONDS, maxWorkers: 1000, timeoutSeconds: 5 });
    const opens = breakerOpenings(auth.handle.output()) - opensBefore;
    const answered = hits.filter((h) => h.code === 200);
    const refused = hits.filter((h) => h.code === 503);
    const other = hits.length - answered.length - refused.length;
    const ratio = answered.length / SECONDS / capacity;
    console.log(
      `${FACTOR} × C = ${rate}/s open loop: ${(answered.length / SECONDS).toFixed(0)} answered a second (p50 ${p(answered, 50).toFixed(1)} ms, p99 ${p(answered, 99).toFixed(1)} ms); ${refused.length} refused (503, p50 ${p(refused, 50).toFixed(1)} ms); ${other} other; breaker opened ${opens}×`,
    );
    console.log(
      `RESULT overload capacity_rps=${capacity.toFixed(0)} factor=${FACTOR} answered_vs_capacity=${ratio.toFixed(2)} refused_p50_ms=${p(refused, 50).toFixed(1)} other=${other} breaker_opens=${opens} limit_answered_vs_capacity=${MIN_ANSWERED_VS_CAPACITY} limit_breaker_opens=0 ${ratio >= MIN_ANSWERED_VS_CAPACITY && opens === 0 ? 'met' : 'NOT MET'}`,
    );
  } finally {
    await stack.stop();
  }
}

function breakerOpenings(output: string): number {
  return output.split('\n').filter((line) => /policy-service circuit open/.test(line)).length;
}
