// k6: a policy update under load, for users who run k6 themselves (`npm run perf --
// policy-update` runs the same scenario here). The realistic mix goes round robin to every
// auth-service instance; a quarter into the run one iteration puts live a forbid that
// flips a cached allow (an editor viewing doc-39), and `policy_propagation_ms` is the time
// until every instance answers that request with deny under the new version. The old
// policies are put back afterwards.
//   k6 run -e INSTANCE_URLS=http://a:8080,http://b:8080 -e POLICY_URL=http://127.0.0.1:8181 \
//     -e TOKEN=$TOKEN -e ADMIN_TOKEN=$(cat .data/admin-token) perf/k6/policy-update.js
import http from 'k6/http';
import { check } from 'k6';
import { Trend } from 'k6/metrics';
import { INSTANCES, bearer, eventOptions, mixLoad, pollUntil } from './lib/instances.js';
import { pickScenario, summaryWriter, tokenSetup } from './lib/scenario.js';

const SCENARIO = pickScenario(open('../scenarios.json'), 'policy-update', (s) => s.event === 'policy-update');
const POLICIES = `${__ENV.POLICY_URL || 'http://127.0.0.1:8181'}/policies`;
const ADMIN = {
  headers: { 'content-type': 'application/json', authorization: `Bearer ${__ENV.ADMIN_TOKEN}` },
  tags: { endpoint: 'policies' },
};
const PROBE = JSON.stringify({ action: 'view', resource: { type: 'Document', id: 'doc-39' } });
const FORBID = '\n@id("perf-update-probe")\nforbid (principal, action == Action::"view", resource == Document::"doc-39");\n';
const propagation = new Trend('policy_propagation_ms', true);

export const setup = tokenSetup;

export const options = eventOptions(SCENARIO, 'policy_propagation_ms');

export const load = mixLoad(SCENARIO.name);

/** @param {{ token: string }} data from setup() */
export function event(data) {
  const live = /** @type {{ policies: string, schema: string }} */ (http.get(POLICIES, ADMIN).json());
  const params = bearer(data.token, { endpoint: 'authenticate', scenario: 'event' });
  for (const url of INSTANCES)
    check(http.post(`${url}/authenticate`, PROBE, params), { 'the probe is allowed before': (r) => r.json('decision') === 'allow' });
  const sent = Date.now();
  const put = http.put(POLICIES, JSON.stringify({ policies: live.policies + FORBID, schema: live.schema }), ADMIN);
  check(put, { 'PUT /policies is 200': (r) => r.status === 200 });
  const version = put.json('version');
  let worst = 0;
  for (const url of INSTANCES) {
    const ms = pollUntil(
      () => http.post(`${url}/authenticate`, PROBE, params),
      (r) => r.status === 200 && r.json('decision') === 'deny' && r.json('policyVersion') === version,
      sent,
    );
    worst = Math.max(worst, ms);
  }
  propagation.add(worst);
  check(http.put(POLICIES, JSON.stringify(live), ADMIN), { 'the old policies are back': (r) => r.status === 200 });
}

export const handleSummary = summaryWriter(SCENARIO.name, ['policy_propagation_ms']);
