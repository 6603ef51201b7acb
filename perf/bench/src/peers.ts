// `npm run bench -- peers`: Portcullis against its peer, an OPA server, on this machine in
// the same run, doing the same job: verify the same HS256 token (signature, iss, aud,
// exp), then decide with the sample domain's policies (Cedar for us, the same rules in
// Rego for OPA) over the same entities. It refuses to measure unless both give the same
// decision on the whole sample grid. Each side is loaded alone, the sides interleaved over
// BENCH_ROUNDS rounds (default 3; medians reported, each ratio the median of the rounds'
// own ratios), with the generators the issue names:
// - warm: one decision asked again and again, wrk with 32 connections (closed loop);
// - cold: every request a new decision (a new risk score), vegeta with 16 workers (it
//   sends a list of different bodies; wrk sends one).
// Both generators share the two cores with the servers; wrk costs far less a request.
// CPU a decision = CPU time of every server process of the side (Portcullis:
// auth-service and its workers, policy-service, redis-server; OPA: opa) over the decisions
// answered. The auth-service runs as `npm start` runs it on one machine, a worker per core
// (AUTH_WORKERS=auto; BENCH_AUTH_WORKERS=1 measures one process), as OPA uses every core.
// BENCH_AUTH_NODE_OPTIONS gives the auth-service alone Node options: a profiler, or an
// experiment's `--import` (perf/experiments/embedded-decisions).
import { cpuSeconds } from './_cpu.ts';
import { median } from './_stats.ts';
import { checkSameDecisions } from './_peer-grid.ts';
import { startOpa } from './_peer-opa.ts';
import { startBenchStack } from './_stack.ts';
import { authenticateBody } from './suite/targets.ts';
import { attack, findVegeta, summarize, type Summary, type Target } from './_vegeta.ts';
import { findWrk, wrkAttack } from './_wrk.ts';
import { PEERS_FILE, type PeersResult } from './suite/report.ts';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECRET = 'bench-jwt-secret-0123456789abcdef0123456789';
const ISSUER = 'https://auth.bench.portcullis.test';
const AUDIENCE = 'portcullis';

type Mode = 'warm' | 'cold';
interface Side {
  name: string;
  /** Server processes by role, e.g. `auth-service` → pid. */
  pids: Record<string, number>;
  targets(mode: Mode, count: number, offset: number): Target[];
}
interface Measured extends Summary {
  cpuUsPerDecision: number;
  /** The same, process by process. */
  cpuUsByProcess: Record<string, number>;
}

/** Warm is one decision asked again and again (OPA keeps no cache); cold is the suite's new-decision body. */
const body = (mode: Mode, n: number, offset: number) =>
  mode === 'warm' ? { action: 'view', resource: { type: 'Document', id: 'doc-7' }, context: {} } : authenticateBody('cold', n, offset);

/** Loads `side` for `seconds`: wrk with 32 connections (warm), vegeta with 16 workers (cold). */
async function load(tools: Tools, side: Side, mode: Mode, offset: number, seconds: number): Promise<Summary> {
  if (mode === 'warm') return wrkAttack(tools.wrk, side.targets(mode, 1, offset)[0] as Target, { seconds, connections: 32 });
  return summarize(await attack(tools.vegeta, side.targets(mode, 15_000 * seconds, offset), { seconds, workers: 16 }), seconds);
}

interface Tools {
  vegeta: string;
  wrk: string;
}

async function measure(tools: Tools, side: Side, mode: Mode, offset: number): Promise<Measured> {
  await load(tools, side, mode, offset + 500_000_000, 1); // warm-up
  const roles = Object.entries(side.pids);
  const before = roles.map(([, pid]) => cpuSeconds([pid]));
  const summary = await load(tools, side, mode, offset, SECONDS);
  const decisions = Math.max(1, summary.sent - summary.failed);
  const cpuUsByProcess = Object.fromEntries(
    roles.map(([role, pid], i) => [role, ((cpuSeconds([pid]) - (before[i] as number)) * 1e6) / decisions]),
  );
  const cpuUsPerDecision = Object.values(cpuUsByProcess).reduce((sum, us) => sum + us, 0);
  return { ...summary, cpuUsPerDecision, cpuUsByProcess };
}

const show = (name: string, m: Measured): void =>
  console.log(
    `${name.padEnd(18)} ${m.rps.toFixed(0).padStart(6)} req/s  p50 ${m.p50.toFixed(2)} ms  p95 ${m.p95.toFixed(2)} ms  CPU ${m.cpuUsPerDecision.toFixed(0).padStart(5)} µs a decision (${Object.entries(
      m.cpuUsByProcess,
    )
      .map(([role, us]) => `${role} ${us.toFixed(0)}`)
      .join(', ')})  errors ${m.failed}/${m.sent}${m.failed > 0 ? ` (${m.failedCodes})` : ''}`,
  );

export async function run(): Promise<void> {
  const tools = { vegeta: findVegeta(), wrk: findWrk() };
  const stack = await startBenchStack({ policyOnBus: true });
  const opa = await startOpa({ secret: SECRET, issuer: ISSUER, audience: AUDIENCE });
  try {
    const auth = await stack.startAuth({
      AUTH_POLICY_TIMEOUT_MS: '200',
      AUTH_WORKERS: process.env.BENCH_AUTH_WORKERS ?? 'auto',
      ...(process.env.BENCH_AUTH_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_AUTH_NODE_OPTIONS } : {}),
    });
    const token = await stack.token(auth.url);
    const headers = { 'content-type': 'application/json' };
    const ours: Side = {
      name: 'Portcullis',
      pids: await stack.serverPids(),
      targets: (mode, count, offset) =>
        Array.from({ length: count }, (_, n) => ({
          method: 'POST',
          url: `${auth.url}/authenticate`,
          headers: { ...headers, authorization: `Bearer ${token}` },
          body: JSON.stringify(body(mode, n, offset)),
        })),
    };
    const peer: Side = {
      name: 'OPA',
      pids: { opa: opa.pid },
      targets: (mode, count, offset) =>
        Array.from({ length: count }, (_, n) => ({
          method: 'POST',
          url: `${opa.url}/v1/data/portcullis/authenticate`,
          headers,
          body: JSON.stringify({ input: { token, ...body(mode, n, offset) } }),
        })),
    };
    const grid = await checkSameDecisions({ policyUrl: stack.policyUrl, opaUrl: opa.url, authUrl: auth.url, token });
    console.log(`same decisions: ${grid.compared} grid requests and ${grid.fullPath} full-path requests agree`);

    // Host noise on these shared machines drifts over a run: interleave the sides (and
    // swap who goes first each round) and report each figure's median over the rounds.
    const runs = new Map<string, Measured[]>();
    for (let round = 0; round < ROUNDS; round++) {
      for (const mode of ['warm', 'cold'] as const) {
        for (const side of round % 2 === 0 ? [peer, ours] : [ours, peer]) {
          const measured = await measure(tools, side, mode, round * 100_000_000);
          show(`${side.name} ${mode} #${round + 1}`, measured);
          runs.set(`${side.name} ${mode}`, [...(runs.get(`${side.name} ${mode}`) ?? []), measured]);
        }
      }
    }
    const medianOf = (name: string, pick: (m: Measured) => number): number => median((runs.get(name) ?? []).map(pick));
    // A round measures both sides back to back, so each round's ratio compares them on the
    // same machine; the median of those ratios stands up to drift across a run, where a
    // ratio of medians does not (seen here: OPA's cold throughput went from 1,187 to 2,703
    // req/s between the first and the last round of one run, and ours with it).
    const ratio = (figure: (m: Measured) => number, mode: Mode): string => {
      const opa = runs.get(`OPA ${mode}`) ?? [];
      return median((runs.get(`Portcullis ${mode}`) ?? []).map((m, i) => figure(m) / figure(opa[i] as Measured))).toFixed(2);
    };
    console.log(`medians of ${ROUNDS} rounds:`);
    for (const name of ['OPA warm', 'Portcullis warm', 'OPA cold', 'Portcullis cold'])
      console.log(
        `  ${name.padEnd(16)} ${medianOf(name, (m) => m.rps)
          .toFixed(0)
          .padStart(
            6,
          )} req/s  p95 ${medianOf(name, (m) => m.p95).toFixed(2)} ms  CPU ${medianOf(name, (m) => m.cpuUsPerDecision).toFixed(0)} µs a decision`,
      );
    const errors = [...runs.values()].flat().reduce((sum, m) => sum + m.failed, 0);
    const ratios = {
      warm_vs_opa: ratio((m) => m.rps, 'warm'),
      cold_vs_opa: ratio((m) => m.rps, 'cold'),
      warm_cpu_vs_opa: ratio((m) => m.cpuUsPerDecision, 'warm'),
      cold_cpu_vs_opa: ratio((m) => m.cpuUsPerDecision, 'cold'),
      cold_p95_vs_opa: ratio((m) => m.p95, 'cold'),
    };
    console.log(
      `RESULT peers ${Object.entries(ratios)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')} errors=${errors}`,
    );
    // The perf suite's report shows the last comparison (perf/results is not committed).
    const names = ['OPA warm', 'Portcullis warm', 'OPA cold', 'Portcullis cold'];
    const result: PeersResult = {
      at: new Date().toISOString(),
      rounds: ROUNDS,
      seconds: SECONDS,
      medians: Object.fromEntries(
        names.map((name) => [
          name,
          {
            rps: medianOf(name, (m) => m.rps),
            p95: medianOf(name, (m) => m.p95),
            cpuUsPerDecision: medianOf(name, (m) => m.cpuUsPerDecision),
          },
        ]),
      ),
      ratios: Object.fromEntries(Object.entries(ratios).map(([k, v]) => [k, Number(v)])),
      errors,
    };
    mkdirSync(dirname(PEERS_FILE), { recursive: true });
    writeFileSync(PEERS_FILE, `${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await opa.stop();
    await stack.stop();
  }
}
