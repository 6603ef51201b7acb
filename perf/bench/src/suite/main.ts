// `npm run perf [-- <scenario>…] [--smoke] [--profile <factor>]`: the scenarios of
// perf/scenarios.json against the whole stack started here (redis-server, policy-service,
// auth-service as real processes), load from vegeta (MIT, built with `go install` when
// missing; k6 is never built or run here: perf/k6 holds the same scenarios for users'
// own k6), two auth-service instances (events must reach both). Writes
// perf/results/<timestamp>/summary.json, summary.md and report.html (charts, see
// report.ts), prints a table, and exits 1 when a gated threshold fails.
// `--smoke` runs every scenario for a few seconds at a low rate and gates only error
// rates: absolute latency and throughput hold only on the machine they were set for. It
// proves every scenario works end to end, so its auth-service gets a 1 s policy deadline
// (as the e2e tests do): on these VMs a new decision at 25/s, every process waking from
// idle, has a tail of 60-90 ms, which the 50 ms default answers with a fail-closed 503.
// The full run keeps the default deadline. `--profile 0.5` halves every rate.
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BENCH_CLIENT, startBenchStack } from '../_stack.ts';
import { findVegeta } from '../_vegeta.ts';
import { readPeers, renderReport, type Chart } from './report.ts';
import { runScenario, type Check, type RunContext, type ScenarioResult } from './run-scenario.ts';
import { loadDefinition } from './scenarios.ts';

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

const digits = (threshold: Check['threshold']): number => (threshold === 'error_rate' || threshold === 'cache_hit_rate' ? 4 : 2);
const mark = (check: Check): string =>
  `${check.passed ? 'ok' : check.gated ? 'FAIL' : 'over'} ${check.threshold} ${check.actual.toFixed(digits(check.threshold))} (limit ${check.limit})`;

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
    const env: Record<string, string> = smoke ? { AUTH_POLICY_TIMEOUT_MS: '1000' } : {};
    const instances = [await stack.startAuth(env), await stack.startAuth(env)];
    const first = instances[0] as (typeof instances)[number];
    const context: RunContext = {
      vegeta,
      stack,
      instances,
      endpoints: {
        authUrl: first.url,
        policyUrl: stack.policyUrl,
        token: await stack.token(first.url),
        manyRoleTokens: await stack.manyRoleTokens(first.url),
        client: { id: BENCH_CLIENT.client_id, secret: BENCH_CLIENT.client_secret },
      },
      definition,
      smoke,
      profile,
      offset: Date.now() % 1_000_000_000,
    };
    for (const scenario of chosen) {
      const { result, charts: drawn } = await runScenario(scenario, context);
      context.offset += 20_000_000;
      results.push(result);
      charts.set(scenario.name, drawn);
      console.log(
        `${scenario.name.padEnd(22)} ${result.load.padStart(12)}  ${result.rps.toFixed(0).padStart(6)} req/s  p50 ${result.p50.toFixed(2)} ms  p95 ${result.p95.toFixed(2)} ms  errors ${result.failed}/${result.sent}${result.failed > 0 ? ` (${result.failedCodes})` : ''}  ${result.checks.map(mark).join(', ')}`,
      );
      for (const note of result.notes) console.log(`  ${note}`);
    }
  } finally {
    await stack.stop();
  }
  const failed = results.flatMap((r) => r.checks.filter((c) => c.gated && !c.passed).map((c) => `${r.name} ${c.threshold}`));
  const dir = writeResults(results, charts, { smoke, profile, failed });
  console.log(`report: ${dir}report.html`);
  console.log(
    `RESULT perf scenarios=${results.length} smoke=${smoke} failed_thresholds=${failed.length}${failed.length > 0 ? ` failed=${failed.join(',')}` : ''}`,
  );
  return failed.length === 0 ? 0 : 1;
}

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
      `| ${r.name} | ${r.load} | ${r.rps.toFixed(0)} | ${r.p50.toFixed(2)} | ${r.p95.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.failed}/${r.sent} | ${r.checks.map(mark).join('; ')} |`,
  );
  const notes = results.flatMap((r) => r.notes.map((note) => `- ${r.name}: ${note}`));
  const text = [
    `# Perf run ${stamp}${run.smoke ? ' (smoke: low rate, a few seconds, only error rates gated)' : ''}`,
    '',
    `Profile ${run.profile}. Latency thresholds hold only on a machine like the one they were set for (2 cores).`,
    '',
    '| scenario | load | req/s | p50 ms | p95 ms | p99 ms | not 200 | thresholds |',
    '|---|---|---|---|---|---|---|---|',
    ...rows,
    '',
    ...(notes.length > 0 ? [...notes, ''] : []),
    run.failed.length === 0 ? 'Every gated threshold held.' : `Failed: ${run.failed.join(', ')}.`,
    '',
  ].join('\n');
  writeFileSync(`${dir}summary.md`, text);
  const scenarios = results.map((r) => ({ ...r, load: `${r.load}, ${r.seconds} s`, charts: charts.get(r.name) ?? [] }));
  writeFileSync(`${dir}report.html`, renderReport({ title: `Perf run ${stamp}`, ...run, scenarios, peers: readPeers() }));
  return dir;
}

process.exitCode = await main(process.argv.slice(2));
