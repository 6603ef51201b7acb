// k6 load for POST /authenticate, for users who run k6 themselves. This project does not
// build, fetch or run k6 (AGPL); `npm run bench -- authenticate` runs the same scenario
// with vegeta (perf/bench/src/authenticate.ts). By hand:
//   k6 run -e TARGET_URL=http://127.0.0.1:8080 -e TOKEN=$(...) -e MODE=warm -e RATE=3000 perf/k6/authenticate.js
// MODE: `warm` (40 resources × 2 actions: cached after the first pass), `cold` (a new
// context every request, so every request needs a new decision), `max` and `cold-max`
// (warm or cold bodies, VUS virtual users in a closed loop: the most the stack answers).
// Thresholds are the goals; the harness reads the summary whatever they say.
import http from 'k6/http';
import exec from 'k6/execution';

const MODE = __ENV.MODE || 'warm';
const RATE = Number(__ENV.RATE || 1000);
const DURATION = __ENV.DURATION || '5s';
const OFFSET = Number(__ENV.OFFSET || 0);
const URL = `${__ENV.TARGET_URL}/authenticate`;
const PARAMS = { headers: { 'content-type': 'application/json', authorization: `Bearer ${__ENV.TOKEN}` } };

/** @type {Record<string, string[]>} */
const GOALS = { warm: ['p(95)<1'], cold: ['p(95)<5'], max: [], 'cold-max': [] };
const CLOSED_LOOP = MODE === 'max' || MODE === 'cold-max';

/** @type {import('k6/options').Options} */
export const options = {
  discardResponseBodies: true,
  summaryTrendStats: ['med', 'p(95)', 'p(99)', 'max'],
  thresholds: { http_req_duration: GOALS[MODE], http_req_failed: ['rate<0.001'] },
  scenarios: {
    load: CLOSED_LOOP
      ? { executor: 'constant-vus', vus: Number(__ENV.VUS || 32), duration: DURATION }
      : // Open loop: requests leave on schedule whether or not earlier ones were answered.
        { executor: 'constant-arrival-rate', rate: RATE, timeUnit: '1s', duration: DURATION, preAllocatedVUs: 64, maxVUs: 512 },
  },
};

export default function () {
  const n = exec.scenario.iterationInTest;
  const resource = { type: 'Document', id: `doc-${1 + (n % 40)}` };
  const body =
    MODE === 'cold' || MODE === 'cold-max'
      ? { action: 'view', resource, context: { riskScore: OFFSET + n } }
      : { action: n % 2 ? 'edit' : 'view', resource };
  http.post(URL, JSON.stringify(body), PARAMS);
}

/**
 * k6's end-of-test summary (@types/k6 does not type it): each metric's computed values.
 * @typedef {{ metrics: Record<string, { values: Record<string, number> }> }} EndOfTestSummary
 * @param {EndOfTestSummary} data
 */
export function handleSummary(data) {
  const d = data.metrics.http_req_duration.values;
  const summary = {
    rps: data.metrics.http_reqs.values.rate,
    sent: data.metrics.http_reqs.values.count,
    failed: data.metrics.http_req_failed.values.passes,
    p50: d.med,
    p95: d['p(95)'],
    p99: d['p(99)'],
    max: d.max,
    dropped: data.metrics.dropped_iterations ? data.metrics.dropped_iterations.values.count : 0,
  };
  return { stdout: `K6_SUMMARY ${JSON.stringify(summary)}\n` };
}
