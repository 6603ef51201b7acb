// Reads perf/scenarios.json, the suite's one definition, and checks its shape so a typo
// fails before any load is sent.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** What a scenario's requests are (see targets.ts). */
export type RequestKind = 'authenticate-warm' | 'authenticate-cold' | 'authenticate-mix' | 'evaluate-batch' | 'token';
const KINDS: readonly RequestKind[] = ['authenticate-warm', 'authenticate-cold', 'authenticate-mix', 'evaluate-batch', 'token'];

/** Limits a run is judged by; any may be absent. */
export interface Thresholds {
  /** 95th percentile latency, ms (only on a machine like the one it was set on). */
  p95_ms?: number;
  /** Least throughput, requests a second (closed-loop scenarios). */
  min_rps?: number;
  /** Largest share of non-200 answers (0..1). */
  error_rate?: number;
}

/** One scenario of perf/scenarios.json. */
export interface Scenario {
  name: string;
  description: string;
  request: RequestKind;
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
    if (s.request === 'evaluate-batch' && !(Number.isInteger(s.items) && (s.items ?? 0) >= 1)) fail(where, 'items must be an integer >= 1');
    if (s.executor === 'constant-arrival-rate' ? !positive(s.rate) : s.executor === 'constant-vus' ? !positive(s.workers) : true)
      fail(where, 'needs executor constant-arrival-rate with a rate, or constant-vus with workers');
    if (!positive(s.seconds)) fail(where, 'seconds must be positive');
    for (const [key, value] of Object.entries(s.thresholds ?? {}))
      if (!['p95_ms', 'min_rps', 'error_rate'].includes(key) || typeof value !== 'number' || value < 0) fail(where, `bad threshold ${key}`);
  }
  if (names.size === 0) fail('scenarios', 'none defined');
  return raw;
}
