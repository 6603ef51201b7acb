// The requests of each scenario kind, as vegeta targets. Bodies match perf/k6's scripts.
import { seededRandom } from '../_stats.ts';
import type { Target } from '../_vegeta.ts';
import type { Scenario } from './scenarios.ts';

/** Where the stack answers, and what to authenticate with. */
export interface Endpoints {
  authUrl: string;
  policyUrl: string;
  token: string;
  /** Tokens of principals with many roles; the realistic mix sends 5 % of its requests with them. */
  manyRoleTokens?: string[];
  client: { id: string; secret: string };
}

const json = { 'content-type': 'application/json' };
const ACTIONS = ['edit', 'delete', 'share'];

/**
 * The n-th `/authenticate` body: `warm` cycles 80 cacheable decisions (40 documents × 2
 * actions); `cold` makes every one a new decision (a new risk score, counted from `offset`).
 */
export function authenticateBody(
  mode: 'warm' | 'cold',
  n: number,
  offset = 0,
): { action: string; resource: { type: string; id: string }; context?: { riskScore: number } } {
  const resource = { type: 'Document', id: `doc-${1 + (n % 40)}` };
  return mode === 'cold' ? { action: 'view', resource, context: { riskScore: offset + n } } : { action: n % 2 ? 'edit' : 'view', resource };
}

/** Zipf(1.0) ranks 0..n-1 from a uniform draw in [0,1), by inverting the cumulative weights. */
function zipf(n: number): (u: number) => number {
  const cumulative: number[] = [];
  let sum = 0;
  for (let k = 1; k <= n; k++) cumulative.push((sum += 1 / k));
  return (u) => cumulative.findIndex((c) => c >= u * sum);
}

/** `count` targets of the scenario (cycled if the run wants more); `offset` keeps cold bodies new across runs. */
export function targetsFor(scenario: Scenario, endpoints: Endpoints, count: number, offset: number): Target[] {
  const bearer = { ...json, authorization: `Bearer ${endpoints.token}` };
  const authenticate = (body: unknown, token = endpoints.token): Target => ({
    method: 'POST',
    url: `${endpoints.authUrl}/authenticate`,
    headers: { ...bearer, authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  const heavy = endpoints.manyRoleTokens ?? [];
  switch (scenario.request) {
    case 'authenticate-warm':
      return Array.from({ length: 80 }, (_, n) => authenticate(authenticateBody('warm', n)));
    case 'authenticate-cold':
      return Array.from({ length: count }, (_, n) => authenticate(authenticateBody('cold', n, offset)));
    case 'authenticate-mix': {
      const rank = zipf(60);
      const next = seededRandom(42);
      return Array.from({ length: Math.min(count, 20_000) }, () => {
        const r = rank(next());
        const resource = r < 40 ? { type: 'Document', id: `doc-${r + 1}` } : { type: 'Photo', id: `photo-${r - 39}.jpg` };
        const action = next() < 0.9 ? 'view' : ACTIONS[Math.floor(next() * ACTIONS.length)];
        const token = heavy.length > 0 && next() < 0.05 ? heavy[Math.floor(next() * heavy.length)] : undefined;
        return authenticate({ action, resource }, token);
      });
    }
    case 'evaluate-batch': {
      const items = scenario.items ?? 1;
      return Array.from({ length: 20 }, (_, n) => ({
        method: 'POST',
        url: `${endpoints.policyUrl}/evaluate/batch`,
        headers: json,
        body: JSON.stringify({
          requests: Array.from({ length: items }, (_item, i) => ({
            principal: { type: 'User', id: 'alice' },
            action: { type: 'Action', id: i % 2 ? 'edit' : 'view' },
            resource: { type: 'Document', id: `doc-${1 + ((n * items + i) % 40)}` },
            context: { riskScore: (n * items + i) % 100 },
            entities: [{ uid: { type: 'User', id: 'alice' }, attrs: {}, parents: [{ type: 'Role', id: 'editor' }] }],
          })),
        }),
      }));
    }
    case 'token':
      return [
        {
          method: 'POST',
          url: `${endpoints.authUrl}/token`,
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            grant_type: 'client_credentials',
            client_id: endpoints.client.id,
            client_secret: endpoints.client.secret,
          }).toString(),
        },
      ];
  }
}
