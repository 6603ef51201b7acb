// k6 load for POST /token (client credentials), for users who run k6 themselves; `npm
// run perf` runs the same scenario with vegeta. The client secret is checked with scrypt,
// tens of ms of CPU each by design, so the rate is low.
//   k6 run -e TARGET_URL=http://127.0.0.1:8080 -e CLIENT_ID=… -e CLIENT_SECRET=… perf/k6/token.js
import http from 'k6/http';
import { check } from 'k6';
import { okWith, pickScenario, scenarioOptions, summaryWriter } from './lib/scenario.js';

const SCENARIO = pickScenario(open('../scenarios.json'), 'token', (s) => s.request === 'token' && s.event === undefined);
const URL = `${__ENV.TARGET_URL}/token`;
const BODY = { grant_type: 'client_credentials', client_id: __ENV.CLIENT_ID, client_secret: __ENV.CLIENT_SECRET };
const PARAMS = { tags: { endpoint: 'token', scenario: SCENARIO.name } };

export const options = scenarioOptions(SCENARIO);

export function load() {
  check(http.post(URL, BODY, PARAMS), okWith('access_token'));
}

export const handleSummary = summaryWriter(SCENARIO.name);
