// The calls the perf suite's events and the chaos run make besides the load: one timed
// `/authenticate`, polling until something holds, and the policy admin API. One place,
// so both measure the same way.
import { setTimeout as sleep } from 'node:timers/promises';
import { BENCH_ADMIN_TOKEN } from './_stack.ts';

/** One `/authenticate` answer: status, time taken, and the JSON body (empty when not JSON). */
export interface Answer {
  status: number;
  ms: number;
  body: { decision?: string; policyVersion?: string; allowed?: boolean; cache?: string; requestId?: string };
}

/** One `POST /authenticate`, timed, with a time limit (default 2 s; a hang is `status: 0`); `requestId` tags it. */
export async function authenticate(url: string, token: string, body: unknown, requestId?: string, timeoutMs = 2000): Promise<Answer> {
  const started = performance.now();
  try {
    const response = await fetch(`${url}/authenticate`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${token}`,
        ...(requestId === undefined ? {} : { 'x-request-id': requestId }),
      },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.text();
    let parsed: Answer['body'] = {};
    try {
      parsed = JSON.parse(text) as Answer['body'];
    } catch {
      // a non-JSON answer has no decision; its status says enough
    }
    return { status: response.status, ms: performance.now() - started, body: parsed };
  } catch {
    return { status: 0, ms: performance.now() - started, body: {} };
  }
}

/**
 * Checks every 5 ms until `holds` resolves true; resolves with the ms since `from`
 * (`performance.now()` time, default now), or Infinity after 30 s.
 */
export async function pollUntil(holds: () => Promise<boolean>, from = performance.now()): Promise<number> {
  while (performance.now() - from < 30_000) {
    if (await holds().catch(() => false)) return performance.now() - from;
    await sleep(5);
  }
  return Number.POSITIVE_INFINITY;
}

const admin = { authorization: `Bearer ${BENCH_ADMIN_TOKEN}` };

/** The live policy set of the policy-service at `policyUrl` (admin API). */
export async function livePolicies(policyUrl: string): Promise<{ version: string; policies: string; schema: string }> {
  return (await (await fetch(`${policyUrl}/policies`, { headers: admin })).json()) as { version: string; policies: string; schema: string };
}

/**
 * Puts `policies` live, the schema and entities staying as they are; resolves with the new
 * version, rejects on a refusal.
 */
export async function putPolicies(policyUrl: string, policies: string): Promise<string> {
  const put = await fetch(`${policyUrl}/policies`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', ...admin },
    body: JSON.stringify({ policies }),
  });
  if (put.status !== 200) throw new Error(`PUT /policies answered ${put.status}: ${await put.text()}`);
  return ((await put.json()) as { version: string }).version;
}
