// Before any figure is taken: Cedar (through the policy-service) and the Rego (through
// OPA) must give the same decision on the whole sample grid (every principal kind, action,
// resource and a set of contexts), and the full paths (/authenticate against OPA's
// token-verifying rule) must agree on a sample of the benchmark's own requests.
import { opaData } from './_peer-opa.ts';

const PRINCIPALS = [
  { id: 'alice', roles: ['editor'] },
  { id: 'bob', roles: ['viewer'] },
  { id: 'root', roles: ['admin'] },
  { id: 'carol', roles: [] },
  { id: 'dave', roles: ['viewer', 'editor'] },
];
const ACTIONS = ['view', 'edit', 'delete', 'share'];
/** Contexts in Cedar's JSON (an ipaddr is an extension value) and as OPA reads them. */
const CONTEXTS: { cedar: Record<string, unknown>; opa: Record<string, unknown> }[] = [
  { cedar: {}, opa: {} },
  { cedar: { riskScore: 81 }, opa: { riskScore: 81 } },
  { cedar: { riskScore: 80, mfa: true }, opa: { riskScore: 80, mfa: true } },
  { cedar: { mfa: false, sourceIp: { __extn: { fn: 'ip', arg: '10.1.2.3' } } }, opa: { mfa: false, sourceIp: '10.1.2.3' } },
  { cedar: { sourceIp: { __extn: { fn: 'ip', arg: '192.168.1.9' } } }, opa: { sourceIp: '192.168.1.9' } },
];

async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<unknown> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${url} answered ${response.status}: ${await response.text()}`);
  return response.json();
}

/** Runs `task` over `items`, `width` at a time. */
async function eachLimited<T>(items: T[], width: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await task(items[next++] as T);
    }),
  );
}

/** Throws, naming the first disagreement, unless both sides decide alike; returns how many requests were compared. */
export async function checkSameDecisions(options: {
  policyUrl: string;
  opaUrl: string;
  authUrl: string;
  token: string;
}): Promise<{ compared: number; fullPath: number }> {
  const resources = Object.keys((await opaData()).entities)
    .filter((key) => /^(Document|Photo|Album)::/.test(key))
    .map((key) => ({ type: key.split('::')[0] as string, id: key.slice(key.indexOf('::') + 2) }));
  const grid = PRINCIPALS.flatMap((principal) =>
    ACTIONS.flatMap((action) => resources.flatMap((resource) => CONTEXTS.map((context) => ({ principal, action, resource, context })))),
  );
  const cedar: string[] = [];
  for (let i = 0; i < grid.length; i += 100) {
    const chunk = grid.slice(i, i + 100).map(({ principal, action, resource, context }) => ({
      principal: { type: 'User', id: principal.id },
      action: { type: 'Action', id: action },
      resource,
      context: context.cedar,
      entities: [{ uid: { type: 'User', id: principal.id }, attrs: {}, parents: principal.roles.map((id) => ({ type: 'Role', id })) }],
    }));
    const answer = (await post(`${options.policyUrl}/evaluate/batch`, { requests: chunk })) as { results: { decision?: string }[] };
    cedar.push(...answer.results.map((result) => result.decision ?? 'error'));
  }
  const opa: string[] = new Array<string>(grid.length);
  await eachLimited([...grid.keys()], 16, async (i) => {
    const { principal, action, resource, context } = grid[i]!;
    const answer = (await post(`${options.opaUrl}/v1/data/portcullis/decision`, {
      input: { principal, action, resource, context: context.opa },
    })) as {
      result?: boolean;
    };
    opa[i] = answer.result === true ? 'allow' : 'deny';
  });
  grid.forEach((request, i) => {
    if (cedar[i] !== opa[i])
      throw new Error(`Cedar says ${cedar[i]}, Rego says ${opa[i]} for ${JSON.stringify({ ...request, context: request.context.opa })}`);
  });
  const allows = cedar.filter((decision) => decision === 'allow').length;
  if (allows === 0 || allows === grid.length) throw new Error(`the grid is one-sided (${allows} allows of ${grid.length})`);

  // The full paths, with the benchmark's token (the bench client is an editor).
  const samples = ACTIONS.flatMap((action) => resources.slice(0, 10).map((resource) => ({ action, resource, context: { riskScore: 3 } })));
  for (const sample of samples) {
    const ours = (await post(`${options.authUrl}/authenticate`, sample, { authorization: `Bearer ${options.token}` })) as {
      allowed: boolean;
    };
    const theirs = (await post(`${options.opaUrl}/v1/data/portcullis/authenticate`, { input: { token: options.token, ...sample } })) as {
      result: { allowed: boolean };
    };
    if (ours.allowed !== theirs.result.allowed) throw new Error(`/authenticate and OPA disagree on ${JSON.stringify(sample)}`);
  }
  return { compared: grid.length, fullPath: samples.length };
}
