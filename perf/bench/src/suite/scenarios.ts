// Reads perf/scenarios.json, the suite's one definition, and checks its shape so a typo
// fails before any load is sent.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** What a scenario's requests are (see targets.ts). */
export type RequestKind = 'authenticate-warm' | 'authenticate-cold' | 'authenticate-mix' | 'evaluate-batch' | 'token';
const KINDS: readonly RequestKind[] = ['authenticate-warm', 'authenticate-cold', 'authenticate-mix', 'evaluate-batch', 'token'];

/**
 * What happens during the load besides it (see events.ts): a policy update, a token
 * revoked, the policy-service killed and restarted; or `bus`, where the load is a Node
 * publisher on the message bus instead of HTTP requests.
 */
export type EventKind = 'policy-update' | 'revocation' | 'policy-stopped' | 'bus';
const EVENTS: readonly EventKind[] = ['policy-update', 'revocation', 'policy-stopped', 'bus'];

/**
 * Limits a run is judged by; any may be absent. Each is a most (`…_ms`, `…_s`, counts,
 * `error_rate`) or a least (`min_rps`, `cache_hit_rate`), see {@link THRESHOLDS}.
 */
export interface Thresholds {
  /** 95th percentile latency, ms (only on a machine like the one it was set on). */
  p95_ms?: number;
  /** Least throughput, requests a second. */
  min_rps?: number;
  /** Largest share of non-200 answers (0..1); for `policy-stopped`, 503s are the right answer and are not counted. */
  error_rate?: number;
  /** Least share of decision-cache lookups answered from L1 or L2 (0..1). */
  cache_hit_rate?: number;
  /** Policy update or revocation: longest time until every instance answers by it (ms). */
  propagation_ms?: number;
  /** policy-service stopped: longest 95th percentile of the 503s while it was down (ms). */
  fail_fast_ms?: number;
  /** policy-service stopped: longest time from it being ready again to new decisions on every instance (s). */
  recovery_s?: number;
  /** Most answers 500..599 other than 503. */
  server_errors_5xx?: number;
  /** Most new decisions answered 200 while no policy-service could decide them. */
  allowed_without_decision?: number;
}

/**
 * How each threshold is judged: `max` or `min`, and whether a smoke run gates it
 * (correctness always; times and rates only on a machine like the one they were set for).
 */
export const THRESHOLDS: Readonly<Record<keyof Thresholds, { bound: 'max' | 'min'; smoke: boolean }>> = {
  p95_ms: { bound: 'max', smoke: false },
  min_rps: { bound: 'min', smoke: false },
  error_rate: { bound: 'max', smoke: true },
  cache_hit_rate: { bound: 'min', smoke: false },
  propagation_ms: { bound: 'max', smoke: false },
  fail_fast_ms: { bound: 'max', smoke: false },
  recovery_s: { bound: 'max', smoke: false },
  server_errors_5xx: { bound: 'max', smoke: true },
  allowed_without_decision: { bound: 'max', smoke: true },
};

/** One scenario of perf/scenarios.json. */
export interface Scenario {
  name: string;
  description: string;
  /** The load's requests; for `bus`, unused. */
  request: RequestKind;
  /** What happens during the load, if anything. */
  event?: EventKind;
  /** Items a batch (evaluate-batch only). */
  items?: number;
  /** Open loop at `rate` a second, or closed loop with `workers` in flight. */
  executor: 'constant-arrival-rate' | 'constant-vus';
  rate?: number;
  workers?: number;
  seconds: number;
  thresholds: Thresholds;
}

/** The whole definition. */
export interface Definition {
  smoke: { seconds: number; rate: number; workers: number };
  scenarios: Scenario[];
}

export const DEFINITION_FILE = fileURLToPath(new URL('../../../scenarios.json', import.meta.url));

const positive = (value: unknown): boolean => typeof value === 'number' && Number.isFinite(value) && value > 0;

/** Loads and checks the definition; throws naming the scenario and field that is wrong. */
export function loadDefinition(file = DEFINITION_FILE): Definition {
  const raw = JSON.parse(readFileSync(file, 'utf8')) as Definition;
  const fail = (where: string, what: string): never => {
    throw new Error(`${file}: ${where}: ${what}`);
  };
  if (!positive(raw.smoke?.seconds) || !positive(raw.smoke?.rate) || !positive(raw.smoke?.workers))
    fail('smoke', 'needs positive seconds, rate and workers');
  const names = new Set<string>();
  for (const s of raw.scenarios ?? []) {
    const where = `scenario ${JSON.stringify(s.name)}`;
    if (typeof s.name !== 'string' || !/^[a-z0-9-]+$/.test(s.name) || names.has(s.name)) fail(where, 'needs a unique [a-z0-9-] name');
    names.add(s.name);
    if (!KINDS.includes(s.request)) fail(where, `request must be one of ${KINDS.join(', ')}`);
    if (s.event !== undefined && !EVENTS.includes(s.event)) fail(where, `event must be one of ${EVENTS.join(', ')}`);
    if (s.request === 'evaluate-batch' && !(Number.isInteger(s.items) && (s.items ?? 0) >= 1)) fail(where, 'items must be an integer >= 1');
    if (s.executor === 'constant-arrival-rate' ? !positive(s.rate) : s.executor === 'constant-vus' ? !positive(s.workers) : true)
      fail(where, 'needs executor constant-arrival-rate with a rate, or constant-vus with workers');
    if (!positive(s.seconds)) fail(where, 'seconds must be positive');
    for (const [key, value] of Object.entries(s.thresholds ?? {}))
      if (!(key in THRESHOLDS) || typeof value !== 'number' || value < 0) fail(where, `bad threshold ${key}`);
  }
  if (names.size === 0) fail('scenarios', 'none defined');
  return raw;
}
