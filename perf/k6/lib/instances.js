// The auth-service instances an event must reach, and the realistic mix as load over them.
import http from 'k6/http';
import { check, sleep } from 'k6';
import { mixBody } from './bodies.js';
import { okWith } from './scenario.js';

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
