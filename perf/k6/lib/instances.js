// The auth-service instances an event must reach, and the realistic mix as load over them.
import http from 'k6/http';
import exec from 'k6/execution';
import { check, sleep } from 'k6';
import { mixBody } from './bodies.js';
import { okWith, scenarioOptions } from './scenario.js';

/** INSTANCE_URLS (comma-separated; every replica, addressed one by one) or TARGET_URL. */
export const INSTANCES = (__ENV.INSTANCE_URLS || __ENV.TARGET_URL || '').split(',').filter((u) => u !== '');
if (INSTANCES.length === 0) throw new Error('set TARGET_URL, or INSTANCE_URLS to every auth-service instance');

/**
 * Bearer JSON request params.
 * @param {string} token
 * @param {Record<string, string>} tags
 */
export const bearer = (token, tags) => ({ headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, tags });

/**
 * One request of the realistic mix on the next instance, round robin.
 * @param {number} n the iteration
 * @param {string} scenario
 * @param {string} token
 */
export function mixRequest(n, scenario, token) {
  const url = INSTANCES[n % INSTANCES.length];
  const response = http.post(
    `${url}/authenticate`,
    JSON.stringify(mixBody(Math.random)),
    bearer(token, { endpoint: 'authenticate', scenario }),
  );
  check(response, okWith('decision'));
}

/**
 * Asks `url` every 5 ms until `done` holds for the answer or `limitMs` passed since `from`;
 * returns the ms since `from`.
 * @param {() => import('k6/http').RefinedResponse<import('k6/http').ResponseType | undefined>} ask
 * @param {(r: import('k6/http').RefinedResponse<import('k6/http').ResponseType | undefined>) => boolean} done
 * @param {number} from `Date.now()` when the event was sent
 * @param {number} [limitMs]
 */
export function pollUntil(ask, done, from, limitMs = 30_000) {
  while (Date.now() - from < limitMs) {
    if (done(ask())) break;
    sleep(0.005); // seconds
  }
  return Date.now() - from;
}

/**
 * k6 options for an event scenario: the realistic mix as `load` (see mixLoad), and one
 * iteration of the script's `event` a quarter into the run, judged by `metric` against
 * the scenario's propagation limit.
 * @param {import('./scenario.js').Scenario} scenario
 * @param {string} metric
 */
export function eventOptions(scenario, metric) {
  return scenarioOptions(scenario, {
    extra: {
      event: {
        executor: 'shared-iterations',
        vus: 1,
        iterations: 1,
        startTime: `${scenario.seconds / 4}s`,
        maxDuration: '60s',
        exec: 'event',
      },
    },
    extraThresholds: { [metric]: [`max<${scenario.thresholds.propagation_ms ?? 1000}`] },
  });
}

/**
 * The `load` export of an event script: one request of the realistic mix an iteration.
 * @param {string} scenario
 * @returns {(data: { token: string }) => void}
 */
export function mixLoad(scenario) {
  return (data) => mixRequest(exec.scenario.iterationInTest, scenario, data.token);
}
