// `npm run perf [-- <scenario>…] [--smoke] [--profile <factor>]`: the scenarios of
// perf/scenarios.json against the whole stack started here (redis-server, policy-service,
// auth-service as real processes), load from vegeta (MIT, built with `go install` when
// missing; k6 is never built or run here: perf/k6 holds the same scenarios for users'
// own k6). Writes perf/results/<timestamp>/summary.json, summary.md and report.html
// (charts, see report.ts), prints a table, and exits 1 when a gated threshold fails.
// `--smoke` runs every scenario for a few seconds at a low rate and gates only error
// rates: absolute latency and throughput hold only on the machine they were set for. It
// proves every scenario works end to end, so its auth-service gets a 1 s policy deadline
// (as the e2e tests do): on these VMs a new decision at 25/s, every process waking from
// idle, has a tail of 60-90 ms, which the 50 ms default answers with a fail-closed 503.
// The full run keeps the default deadline. `--profile 0.5` halves every rate.
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BENCH_CLIENT, startBenchStack } from '../_stack.ts';
import { attack, findVegeta, summarize, type Summary } from '../_vegeta.ts';
import { loadDefinition, type Scenario, type Thresholds } from './scenarios.ts';
import { targetsFor, type Endpoints } from './targets.ts';
import { readPeers, renderReport, scenarioCharts, type Chart } from './report.ts';

interface Check {
  threshold: keyof Thresholds;
  limit: number;
  actual: number;
  passed: boolean;
  /** False when the run does not judge it (latency and throughput in a smoke run). */
  gated: boolean;
}

interface ScenarioResult extends Summary {
  name: string;
  description: string;
  executor: Scenario['executor'];
  rate?: number;
  workers?: number;
  seconds: number;
  errorRate: number;
  checks: Check[];
}

function parseArgs(argv: string[]): { names: string[]; smoke: boolean; profile: number } {
  const names: string[] = [];
  let smoke = false;
  let profile = 1;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--smoke') smoke = true;
    else if (arg === '--profile') profile = Number(argv[++i]);
    else if (arg.startsWith('--')) throw new Error(`unknown option ${arg}`);
    else names.push(arg);
  }
  if (!(profile > 0)) throw new Error('--profile needs a positive factor, e.g. 0.5');
  return { names, smoke, profile };
}

function judge(thresholds: Thresholds, result: Summary & { errorRate: number }, smoke: boolean): Check[] {
  const checks: Check[] = [];
  const add = (threshold: keyof Thresholds, actual: number, passed: (limit: number) => boolean, gated: boolean): void => {
    const limit = thresholds[threshold];
    if (limit !== undefined) checks.push({ threshold, limit, actual, passed: passed(limit), gated });
  };
  add('error_rate', result.errorRate, (limit) => result.errorRate <= limit, true);
  add('p95_ms', result.p95, (limit) => result.p95 <= limit, !smoke);
  add('min_rps', result.rps, (limit) => result.rps >= limit, !smoke);
  return checks;
}

const mark = (check: Check): string =>
  `${check.passed ? 'ok' : check.gated ? 'FAIL' : 'over'} ${check.threshold} ${check.actual.toFixed(check.threshold === 'error_rate' ? 4 : 2)} (limit ${check.limit})`;

export async function main(argv: string[]): Promise<number> {
  const { names, smoke, profile } = parseArgs(argv);
  const definition = loadDefinition();
  const unknown = names.filter((name) => !definition.scenarios.some((s) => s.name === name));
  if (unknown.length > 0)
    throw new Error(`unknown scenario ${unknown.join(', ')}; known: ${definition.scenarios.map((s) => s.name).join(', ')}`);
  const chosen = definition.scenarios.filter((s) => names.length === 0 || names.includes(s.name));
  const vegeta = findVegeta();
  const stack = await startBenchStack({ policyOnBus: true });
  const results: ScenarioResult[] = [];
  const charts = new Map<string, Chart[]>();
  try {
    const auth = await stack.startAuth(smoke ? { AUTH_POLICY_TIMEOUT_MS: '1000' } : {});
    const endpoints: Endpoints = {
      authUrl: auth.url,
      policyUrl: stack.policyUrl,
      token: await stack.token(auth.url),
      client: { id: BENCH_CLIENT.client_id, secret: BENCH_CLIENT.client_secret },
    };
    let offset = Date.now() % 1_000_000_000;
    for (const scenario of chosen) {
      const seconds = smoke ? Math.min(scenario.seconds, definition.smoke.seconds) : scenario.seconds;
      const open = scenario.executor === 'constant-arrival-rate';
      const rate = open
        ? Math.max(1, Math.round((smoke ? Math.min(scenario.rate ?? 1, definition.smoke.rate) : (scenario.rate ?? 1)) * profile))
        : undefined;
      const workers = open ? undefined : smoke ? Math.min(scenario.workers ?? 1, definition.smoke.workers) : scenario.workers;
      const count = rate !== undefined ? rate * seconds + 1 : 10_000 * seconds;
      const targets = targetsFor(scenario, endpoints, count, offset);
      offset += count;
      const pace = rate !== undefined ? { rate } : { workers: workers ?? 1 };
      const hits = await attack(vegeta, targets, { seconds, ...pace });
      const summary = summarize(hits, seconds);
      charts.set(scenario.name, scenarioCharts(scenario.name, hits, seconds, scenario.thresholds));
      const errorRate = summary.sent === 0 ? 1 : summary.failed / summary.sent;
      const checks = judge(scenario.thresholds, { ...summary, errorRate }, smoke);
      const result: ScenarioResult = {
        name: scenario.name,
        description: scenario.description,
        executor: scenario.executor,
        seconds,
        errorRate,
        checks,
        ...summary,
        ...(rate !== undefined ? { rate } : { workers }),
      };
      results.push(result);
      console.log(
        `${scenario.name.padEnd(22)} ${(rate !== undefined ? `${rate}/s` : `${workers} in flight`).padStart(12)}  ${summary.rps.toFixed(0).padStart(6)} req/s  p50 ${summary.p50.toFixed(2)} ms  p95 ${summary.p95.toFixed(2)} ms  errors ${summary.failed}/${summary.sent}${summary.failed > 0 ? ` (${summary.failedCodes})` : ''}  ${checks.map(mark).join(', ')}`,
      );
    }
  } finally {
    await stack.stop();
  }
  const failed = results.flatMap((r) => r.checks.filter((c) => c.gated && !c.passed).map((c) => `${r.name} ${c.threshold}`));
  const dir = writeResults(results, charts, { smoke, profile, failed });
  console.log(`report: ${dir}`);
  console.log(
    `RESULT perf scenarios=${results.length} smoke=${smoke} failed_thresholds=${failed.length}${failed.length > 0 ? ` failed=${failed.join(',')}` : ''}`,
  );
  return failed.length === 0 ? 0 : 1;
}

const loadOf = (r: ScenarioResult): string => (r.rate !== undefined ? `${r.rate}/s` : `${r.workers} in flight`);

function writeResults(
  results: ScenarioResult[],
  charts: Map<string, Chart[]>,
  run: { smoke: boolean; profile: number; failed: string[] },
): string {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const dir = fileURLToPath(new URL(`../../../results/${stamp}/`, import.meta.url));
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    `${dir}summary.json`,
    `${JSON.stringify({ at: new Date().toISOString(), node: process.version, ...run, scenarios: results }, null, 2)}\n`,
  );
  const rows = results.map(
    (r) =>
      `| ${r.name} | ${loadOf(r)} | ${r.rps.toFixed(0)} | ${r.p50.toFixed(2)} | ${r.p95.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.failed}/${r.sent} | ${r.checks.map(mark).join('; ')} |`,
  );
  const text = [
    `# Perf run ${stamp}${run.smoke ? ' (smoke: low rate, a few seconds, only error rates gated)' : ''}`,
    '',
    `Profile ${run.profile}. Latency thresholds hold only on a machine like the one they were set for (2 cores).`,
    '',
    '| scenario | load | req/s | p50 ms | p95 ms | p99 ms | errors | thresholds |',
    '|---|---|---|---|---|---|---|---|',
    ...rows,
    '',
    run.failed.length === 0 ? 'Every gated threshold held.' : `Failed: ${run.failed.join(', ')}.`,
    '',
  ].join('\n');
  writeFileSync(`${dir}summary.md`, text);
  const scenarios = results.map((r) => ({ ...r, load: `${loadOf(r)}, ${r.seconds} s`, charts: charts.get(r.name) ?? [] }));
  writeFileSync(`${dir}report.html`, renderReport({ title: `Perf run ${stamp}`, ...run, scenarios, peers: readPeers() }));
  return dir;
}

process.exitCode = await main(process.argv.slice(2));
