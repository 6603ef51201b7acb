// k6 load for POST /authenticate, for users who run k6 themselves. This project does not
// build, fetch or run k6 (AGPL); `npm run perf` runs the same scenarios with vegeta.
// Executor, rate, duration and thresholds come from ../scenarios.json, the one definition
// both runners read. By hand, against `npm start`:
//   k6 run -e TARGET_URL=http://127.0.0.1:8080 -e TOKEN=$TOKEN -e SCENARIO=authenticate-warm perf/k6/authenticate.js
// SCENARIO: authenticate-warm, authenticate-max, authenticate-cold or authenticate-mix.
// PROFILE scales open-loop rates (0.5 halves them) for a smaller machine.
import http from 'k6/http';
import exec from 'k6/execution';
import { check } from 'k6';

/**
 * One scenario of perf/scenarios.json (see perf/bench/src/suite/scenarios.ts).
 * @typedef {{ name: string, request: string, executor: 'constant-arrival-rate' | 'constant-vus', rate?: number, workers?: number, seconds: number, thresholds: { p95_ms?: number, min_rps?: number, error_rate?: number } }} Scenario
 */

/** @type {{ scenarios: Scenario[] }} */
const DEFINITION = JSON.parse(open('../scenarios.json'));
const NAME = __ENV.SCENARIO || 'authenticate-warm';
const SCENARIO = DEFINITION.scenarios.find((s) => s.name === NAME && s.request.startsWith('authenticate-'));
if (SCENARIO === undefined) throw new Error(`SCENARIO must be one of the authenticate-* scenarios of perf/scenarios.json, got ${NAME}`);
const PROFILE = Number(__ENV.PROFILE || 1);
const URL = `${__ENV.TARGET_URL}/authenticate`;
const PARAMS = {
  headers: { 'content-type': 'application/json', authorization: `Bearer ${__ENV.TOKEN}` },
  tags: { endpoint: 'authenticate', scenario: NAME },
};

/** @type {Record<string, string[]>} */
const thresholds = { checks: ['rate>0.999'] };
if (SCENARIO.thresholds.p95_ms !== undefined) thresholds.http_req_duration = [`p(95)<${SCENARIO.thresholds.p95_ms}`];
if (SCENARIO.thresholds.error_rate !== undefined) thresholds.http_req_failed = [`rate<=${SCENARIO.thresholds.error_rate}`];
if (SCENARIO.thresholds.min_rps !== undefined) thresholds.http_reqs = [`rate>=${SCENARIO.thresholds.min_rps}`];

/** @type {import('k6/options').Options} */
export const options = {
  summaryTrendStats: ['med', 'p(95)', 'p(99)', 'max'],
  thresholds,
  scenarios: {
    [NAME]:
      SCENARIO.executor === 'constant-vus'
        ? { executor: 'constant-vus', vus: SCENARIO.workers ?? 1, duration: `${SCENARIO.seconds}s` }
        : // Open loop: requests leave on schedule whether or not earlier ones were answered.
          {
            executor: 'constant-arrival-rate',
            rate: Math.max(1, Math.round((SCENARIO.rate ?? 1) * PROFILE)),
            timeUnit: '1s',
            duration: `${SCENARIO.seconds}s`,
            preAllocatedVUs: 64,
            maxVUs: 512,
          },
  },
};

/** Zipf(1.0) over 60 resources (40 documents, then 20 photos), as the vegeta runner draws them. */
/** @type {number[]} */
const CUMULATIVE = [];
for (let k = 1, sum = 0; k <= 60; k++) CUMULATIVE.push((sum += 1 / k));
/** @param {number} u a uniform draw in [0,1) */
const zipfRank = (u) => CUMULATIVE.findIndex((c) => c >= u * /** @type {number} */ (CUMULATIVE[CUMULATIVE.length - 1]));

/** The body of the n-th request of the scenario. @param {number} n */
function body(n) {
  const doc = { type: 'Document', id: `doc-${1 + (n % 40)}` };
  if (SCENARIO?.request === 'authenticate-cold') return { action: 'view', resource: doc, context: { riskScore: n } };
  if (SCENARIO?.request === 'authenticate-mix') {
    const r = zipfRank(Math.random());
    const resource = r < 40 ? { type: 'Document', id: `doc-${r + 1}` } : { type: 'Photo', id: `photo-${r - 39}.jpg` };
    const action = Math.random() < 0.9 ? 'view' : ['edit', 'delete', 'share'][Math.floor(Math.random() * 3)];
    return { action, resource };
  }
  return { action: n % 2 ? 'edit' : 'view', resource: doc };
}

export default function () {
  const response = http.post(URL, JSON.stringify(body(exec.scenario.iterationInTest)), PARAMS);
  check(response, {
    'status is 200': (r) => r.status === 200,
    'a decision came back': (r) => {
      const answer = r.status === 200 ? r.json() : null;
      return answer !== null && typeof answer === 'object' && 'decision' in answer;
    },
  });
}

/**
 * k6's end-of-test summary (@types/k6 does not type it): each metric's computed values.
 * @typedef {{ metrics: Record<string, { values: Record<string, number> }> }} EndOfTestSummary
 * @param {EndOfTestSummary} data
 */
export function handleSummary(data) {
  const d = data.metrics.http_req_duration?.values ?? {};
  const summary = {
    scenario: NAME,
    rps: data.metrics.http_reqs?.values.rate,
    sent: data.metrics.http_reqs?.values.count,
    failed: data.metrics.http_req_failed?.values.passes,
    p50: d.med,
    p95: d['p(95)'],
    p99: d['p(99)'],
    max: d.max,
    dropped: data.metrics.dropped_iterations?.values.count ?? 0,
  };
  return {
    stdout: `${JSON.stringify(summary, null, 2)}\n`,
    [`k6-summary-${NAME}.json`]: JSON.stringify(summary),
  };
}
