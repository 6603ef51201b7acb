// k6: a revocation under load, for users who run k6 themselves (`npm run perf --
// revocation` runs the same scenario here). The realistic mix goes round robin to every
// auth-service instance; a quarter into the run one iteration gets a fresh token, uses it
// on every instance (each then holds it verified and its decision cached), revokes it on
// the first, and `revocation_propagation_ms` is the time until every instance refuses it.
//   k6 run -e INSTANCE_URLS=http://a:8080,http://b:8080 -e TOKEN=$TOKEN \
//     -e CLIENT_ID=… -e CLIENT_SECRET=… perf/k6/revocation.js
import http from 'k6/http';
import { check } from 'k6';
import { Trend } from 'k6/metrics';
import { INSTANCES, bearer, eventOptions, mixLoad, pollUntil } from './lib/instances.js';
import { pickScenario, summaryWriter, tokenSetup } from './lib/scenario.js';

const SCENARIO = pickScenario(open('../scenarios.json'), 'revocation', (s) => s.event === 'revocation');
const CLIENT = { client_id: __ENV.CLIENT_ID, client_secret: __ENV.CLIENT_SECRET };
const PROBE = JSON.stringify({ action: 'view', resource: { type: 'Document', id: 'doc-1' } });
const propagation = new Trend('revocation_propagation_ms', true);

export const setup = tokenSetup;

export const options = eventOptions(SCENARIO, 'revocation_propagation_ms');

export const load = mixLoad(SCENARIO.name);

// The event revokes a token of its own, not the load's.
export function event() {
  const first = INSTANCES[0];
  const issued = http.post(`${first}/token`, { grant_type: 'client_credentials', ...CLIENT }, { tags: { endpoint: 'token' } });
  check(issued, { 'a fresh token': (r) => r.status === 200 });
  const token = String(issued.json('access_token'));
  const params = bearer(token, { endpoint: 'authenticate', scenario: 'event' });
  for (const url of INSTANCES) check(http.post(`${url}/authenticate`, PROBE, params), { 'accepted before': (r) => r.status === 200 });
  const sent = Date.now();
  check(http.post(`${first}/revoke`, { token, ...CLIENT }, { tags: { endpoint: 'revoke' } }), { revoked: (r) => r.status === 200 });
  let worst = 0;
  for (const url of INSTANCES) {
    worst = Math.max(
      worst,
      pollUntil(
        () => http.post(`${url}/authenticate`, PROBE, params),
        (r) => r.status === 401,
        sent,
      ),
    );
  }
  propagation.add(worst);
}

export const handleSummary = summaryWriter(SCENARIO.name, ['revocation_propagation_ms']);
