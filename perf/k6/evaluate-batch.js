// k6 load for the policy-service's POST /evaluate/batch (1, 10, 50 or 1000 items), for
// users who run k6 themselves; `npm run perf` runs the same scenarios with vegeta.
//   k6 run -e POLICY_URL=http://127.0.0.1:8181 -e SCENARIO=evaluate-batch-50 perf/k6/evaluate-batch.js
import http from 'k6/http';
import exec from 'k6/execution';
import { check } from 'k6';
import { okWith, pickScenario, scenarioOptions, summaryWriter } from './lib/scenario.js';

const SCENARIO = pickScenario(open('../scenarios.json'), 'evaluate-batch-10', (s) => s.request === 'evaluate-batch');
const URL = `${__ENV.POLICY_URL || 'http://127.0.0.1:8181'}/evaluate/batch`;
const ITEMS = SCENARIO.items ?? 1;
const PARAMS = { headers: { 'content-type': 'application/json' }, tags: { endpoint: 'evaluate-batch', scenario: SCENARIO.name } };

export const options = scenarioOptions(SCENARIO);

/** The n-th batch: an editor's views and edits of the sample documents, as `npm run perf` sends them. @param {number} n */
function batch(n) {
  return {
    requests: Array.from({ length: ITEMS }, (_, i) => ({
      principal: { type: 'User', id: 'alice' },
      action: { type: 'Action', id: i % 2 ? 'edit' : 'view' },
      resource: { type: 'Document', id: `doc-${1 + ((n * ITEMS + i) % 40)}` },
      context: { riskScore: (n * ITEMS + i) % 100 },
      entities: [{ uid: { type: 'User', id: 'alice' }, attrs: {}, parents: [{ type: 'Role', id: 'editor' }] }],
    })),
  };
}

export function load() {
  const response = http.post(URL, JSON.stringify(batch(exec.scenario.iterationInTest % 20)), PARAMS);
  check(response, {
    ...okWith('results'),
    'one result an item': (r) => {
      const answer = r.status === 200 ? r.json('results') : null;
      return Array.isArray(answer) && answer.length === ITEMS;
    },
  });
}

export const handleSummary = summaryWriter(SCENARIO.name);
