// One scenario of perf/scenarios.json against a running stack: its load from vegeta (or,
// for `bus`, from a Node publisher on the stack's Redis), its event alongside when it has
// one (events.ts), its figures judged by its thresholds (THRESHOLDS says how).
import type { BenchStack } from '../_stack.ts';
import { busLatency } from '../bus.ts';
import { attack, summarize, type Hit, type Summary, type Target } from '../_vegeta.ts';
import { runEvent, type Instance } from './events.ts';
import { scenarioCharts, type Chart } from './report.ts';
import { THRESHOLDS, type Definition, type Scenario, type Thresholds } from './scenarios.ts';
import { targetsFor, type Endpoints } from './targets.ts';

/** One threshold's verdict. */
export interface Check {
  threshold: keyof Thresholds;
  limit: number;
  actual: number;
  passed: boolean;
  /** False when the run does not judge it (times and rates in a smoke run). */
  gated: boolean;
}

/** What a scenario measured. */
export interface ScenarioResult extends Summary {
  name: string;
  description: string;
  /** `1000/s` or `32 in flight`. */
  load: string;
  seconds: number;
  errorRate: number;
  figures: Partial<Record<keyof Thresholds, number>>;
  checks: Check[];
  notes: string[];
}

/** What every scenario of a run shares. */
export interface RunContext {
  vegeta: string;
  stack: BenchStack;
  instances: Instance[];
  endpoints: Endpoints;
  definition: Definition;
  smoke: boolean;
  profile: number;
  /** Where cold bodies start, so no two scenarios (or runs) ask the same new decision. */
  offset: number;
}

/** Judges every threshold the scenario has and the run measured. */
export function judge(thresholds: Thresholds, figures: Partial<Record<keyof Thresholds, number>>, smoke: boolean): Check[] {
  const checks: Check[] = [];
  for (const [key, limit] of Object.entries(thresholds) as [keyof Thresholds, number][]) {
    const actual = figures[key];
    if (actual === undefined) continue;
    const rule = THRESHOLDS[key];
    const passed = rule.bound === 'max' ? actual <= limit : actual >= limit;
    checks.push({ threshold: key, limit, actual, passed, gated: !smoke || rule.smoke });
  }
  return checks;
}

/** Decision-cache lookups so far over every instance: hits (L1 or L2) and lookups. */
async function cacheLookups(instances: Instance[]): Promise<{ hits: number; lookups: number }> {
  let hits = 0;
  let lookups = 0;
  for (const instance of instances) {
    const text = await (await fetch(`${instance.url}/metrics`)).text();
    for (const match of text.matchAll(
      /^portcullis_cache_requests_total\{cache="decisions",level="(l1|l2)",result="(hit|miss)"\} (\d+)/gm,
    )) {
      const [, level, result, value] = match;
      if (result === 'hit') hits += Number(value);
      if (level === 'l1') lookups += Number(value);
    }
  }
  return { hits, lookups };
}

/** The scenario's targets, spread over every instance when it has an event to see on all of them. */
function loadTargets(scenario: Scenario, context: RunContext, count: number): Target[] {
  const instances = scenario.event === undefined ? context.instances.slice(0, 1) : context.instances;
  const lists = instances.map((instance, k) =>
    targetsFor(scenario, { ...context.endpoints, authUrl: instance.url }, count, context.offset + k * count),
  );
  const longest = Math.max(...lists.map((list) => list.length));
  const targets: Target[] = [];
  for (let i = 0; i < longest; i++) for (const list of lists) if (i < list.length) targets.push(list[i] as Target);
  return targets;
}

export async function runScenario(scenario: Scenario, context: RunContext): Promise<{ result: ScenarioResult; charts: Chart[] }> {
  const { smoke, profile, definition } = context;
  const seconds = smoke ? Math.min(scenario.seconds, definition.smoke.seconds) : scenario.seconds;
  const open = scenario.executor === 'constant-arrival-rate';
  const rate = open
    ? Math.max(1, Math.round((smoke ? Math.min(scenario.rate ?? 1, definition.smoke.rate) : (scenario.rate ?? 1)) * profile))
    : undefined;
  const workers = open ? undefined : smoke ? Math.min(scenario.workers ?? 1, definition.smoke.workers) : (scenario.workers ?? 1);
  const count = rate !== undefined ? rate * seconds + 1 : 10_000 * seconds;
  const before = await cacheLookups(context.instances);
  const started = performance.now();
  let hits: Hit[];
  let event: Awaited<ReturnType<typeof runEvent>> | undefined;
  if (scenario.event === 'bus') {
    hits = await busLatency(context.stack.redisUrl, { rate: rate ?? 1, seconds });
  } else {
    const targets = loadTargets(scenario, context, count);
    const pace = rate !== undefined ? { rate } : { workers: workers ?? 1 };
    const load = attack(context.vegeta, targets, { seconds, ...pace });
    const eventContext = {
      stack: context.stack,
      instances: context.instances,
      token: context.endpoints.token,
      atMs: (seconds * 1000) / 4,
      faultMs: smoke ? 1000 : 3000,
    };
    [hits, event] = await Promise.all([load, scenario.event === undefined ? undefined : runEvent(scenario.event, eventContext, started)]);
  }
  const after = await cacheLookups(context.instances);
  // While the policy-service is down a 503 is the right answer for a new decision.
  const expected = (code: number): boolean => code === 200 || (scenario.event === 'policy-stopped' && code === 503);
  const summary = summarize(hits, seconds);
  const errorRate = hits.length === 0 ? 1 : hits.filter((h) => !expected(h.code)).length / hits.length;
  const lookups = after.lookups - before.lookups;
  const figures: ScenarioResult['figures'] = {
    p95_ms: summary.p95,
    min_rps: summary.rps,
    error_rate: errorRate,
    server_errors_5xx: hits.filter((h) => h.code >= 500 && h.code !== 503).length,
    ...(lookups > 0 && scenario.request.startsWith('authenticate-') ? { cache_hit_rate: (after.hits - before.hits) / lookups } : {}),
    ...event?.figures,
  };
  const result: ScenarioResult = {
    name: scenario.name,
    description: scenario.description,
    load: rate !== undefined ? `${rate}/s` : `${workers} in flight`,
    seconds,
    errorRate,
    figures,
    checks: judge(scenario.thresholds, figures, smoke),
    notes: event?.notes ?? [],
    ...summary,
  };
  return { result, charts: scenarioCharts(scenario.name, hits, seconds, scenario.thresholds, event?.marks ?? []) };
}
