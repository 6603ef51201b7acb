// k6 load for POST /authenticate, for users who run k6 themselves. This project does not
// build, fetch or run k6 (AGPL); `npm run perf` runs the same scenarios with vegeta.
// Executor, rate, duration and thresholds come from ../scenarios.json, the one definition
// both runners read. By hand, against `npm start`:
//   k6 run -e TARGET_URL=http://127.0.0.1:8080 -e CLIENT_ID=… -e CLIENT_SECRET=… -e SCENARIO=authenticate-warm perf/k6/authenticate.js
// (setup() gets a token from /token; -e TOKEN= instead skips that).
// SCENARIO: authenticate-warm, authenticate-max, authenticate-cold or authenticate-mix.
// MANY_ROLE_TOKENS (comma-separated): tokens of principals with many roles, which the mix
// sends 5 % of its requests with. PROFILE scales open-loop rates (0.5 halves them).
import http from 'k6/http';
import exec from 'k6/execution';
import { check } from 'k6';
import { mixBody } from './lib/bodies.js';
import { okWith, pickScenario, scenarioOptions, summaryWriter, tokenSetup } from './lib/scenario.js';

const SCENARIO = pickScenario(
  open('../scenarios.json'),
  'authenticate-warm',
  (s) => s.request.startsWith('authenticate-') && s.event === undefined,
);
const URL = `${__ENV.TARGET_URL}/authenticate`;
const HEAVY = (__ENV.MANY_ROLE_TOKENS || '').split(',').filter((t) => t !== '');
const TAGS = { endpoint: 'authenticate', scenario: SCENARIO.name };

export const setup = tokenSetup;

export const options = scenarioOptions(SCENARIO);

/** The body of the n-th request of the scenario, as `npm run perf` sends it. @param {number} n */
function body(n) {
  const doc = { type: 'Document', id: `doc-${1 + (n % 40)}` };
  if (SCENARIO.request === 'authenticate-cold') return { action: 'view', resource: doc, context: { riskScore: n } };
  if (SCENARIO.request === 'authenticate-mix') return mixBody(Math.random);
  return { action: n % 2 ? 'edit' : 'view', resource: doc };
}

/** @param {{ token: string }} data from setup() */
export function load(data) {
  const token = HEAVY.length > 0 && Math.random() < 0.05 ? HEAVY[Math.floor(Math.random() * HEAVY.length)] : data.token;
  const params = { headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, tags: TAGS };
  check(http.post(URL, JSON.stringify(body(exec.scenario.iterationInTest)), params), okWith('decision'));
}

export const handleSummary = summaryWriter(SCENARIO.name);
