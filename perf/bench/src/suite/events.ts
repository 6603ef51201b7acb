// What happens during a scenario's load besides it (perf/scenarios.json `event`), measured
// from this process while vegeta keeps the load on: a policy update (time until every
// auth-service instance answers by the new policies), a revocation (time until every
// instance refuses the token), the policy-service killed and restarted (503s fast while it
// is down, no new decision allowed without it, time to recover once it is ready again).
import { setTimeout as sleep } from 'node:timers/promises';
import { authenticate, livePolicies, pollUntil, putPolicies, type Answer } from '../_calls.ts';
import { BENCH_CLIENT, type BenchStack } from '../_stack.ts';
import { percentile } from '../_stats.ts';
import type { EventKind, Thresholds } from './scenarios.ts';

/** An auth-service instance of the stack. */
export interface Instance {
  url: string;
  handle: { waitForLine(pattern: RegExp, timeoutMs?: number, options?: { fromNow?: boolean }): Promise<string> };
}

/** What an event driver is given. */
export interface EventContext {
  stack: BenchStack;
  instances: Instance[];
  /** A token of the bench client, valid for the whole run. */
  token: string;
  /** When the event happens, ms after the load started. */
  atMs: number;
  /** How long a fault lasts (policy-stopped), ms. */
  faultMs: number;
}

/** What an event measured: figures judged by the scenario's thresholds, and marks for the charts (s after the load started). */
export interface EventResult {
  figures: Partial<Record<keyof Thresholds, number>>;
  marks: { atS: number; label: string }[];
  notes: string[];
}

/**
 * A forbid that flips one cached allow (an editor viewing doc-39) is put live mid-load;
 * propagation is the time from sending it until every instance answers that request
 * with deny under the new version. The old policies are put back afterwards.
 */
async function policyUpdate(context: EventContext, started: number): Promise<EventResult> {
  const probe = { action: 'view', resource: { type: 'Document', id: 'doc-39' } };
  const live = await livePolicies(context.stack.policyUrl);
  for (const instance of context.instances) {
    const answer = await authenticate(instance.url, context.token, probe);
    if (answer.body.decision !== 'allow')
      throw new Error(`policy-update: the probe should be allowed before the update, got ${answer.status}`);
  }
  await sleep(Math.max(0, context.atMs - (performance.now() - started)));
  const sent = performance.now();
  const forbid = `\n@id("perf-update-probe")\nforbid (principal, action == Action::"view", resource == Document::"doc-39");\n`;
  const version = await putPolicies(context.stack.policyUrl, live.policies + forbid);
  const times = await Promise.all(
    context.instances.map((instance) =>
      pollUntil(async () => {
        const a = await authenticate(instance.url, context.token, probe);
        return a.body.decision === 'deny' && a.body.policyVersion === version;
      }, sent),
    ),
  );
  await putPolicies(context.stack.policyUrl, live.policies);
  const atS = (sent - started) / 1000;
  return {
    figures: { propagation_ms: Math.max(...times) },
    marks: [{ atS, label: 'policy update' }],
    notes: [
      `policy update ${version}: every instance answered by it ${times.map((t) => `${t.toFixed(0)} ms`).join(', ')} after it was sent`,
    ],
  };
}

/**
 * A fresh token, already used on every instance (so each holds it verified and its
 * decision cached), is revoked on the first instance mid-load; propagation is the time
 * until every instance answers it 401.
 */
async function revocation(context: EventContext, started: number): Promise<EventResult> {
  const [first] = context.instances;
  if (first === undefined) throw new Error('revocation needs an auth-service');
  const token = await context.stack.token(first.url);
  const probe = { action: 'view', resource: { type: 'Document', id: 'doc-1' } };
  for (const instance of context.instances) {
    const answer = await authenticate(instance.url, token, probe);
    if (answer.status !== 200) throw new Error(`revocation: the fresh token should be accepted first, got ${answer.status}`);
  }
  await sleep(Math.max(0, context.atMs - (performance.now() - started)));
  const sent = performance.now();
  const revoke = await fetch(`${first.url}/revoke`, {
    method: 'POST',
    body: new URLSearchParams({ token, client_id: BENCH_CLIENT.client_id, client_secret: BENCH_CLIENT.client_secret }),
  });
  if (revoke.status !== 200) throw new Error(`POST /revoke answered ${revoke.status}: ${await revoke.text()}`);
  const times = await Promise.all(
    context.instances.map((instance) => pollUntil(async () => (await authenticate(instance.url, token, probe)).status === 401, sent)),
  );
  return {
    figures: { propagation_ms: Math.max(...times) },
    marks: [{ atS: (sent - started) / 1000, label: 'revoked' }],
    notes: [`token revoked: every instance refused it ${times.map((t) => `${t.toFixed(0)} ms`).join(', ')} after /revoke was sent`],
  };
}

/**
 * The policy-service is SIGKILLed mid-load and restarted `faultMs` later. Meanwhile every
 * instance is asked new decisions (never cached) every few ms: while it is down each must
 * be a fast 503, never a 200; once it is ready again, recovery is the time until every
 * instance answers a new one 200.
 */
async function policyStopped(context: EventContext, started: number): Promise<EventResult> {
  await sleep(Math.max(0, context.atMs - (performance.now() - started)));
  let n = 0;
  const fresh = () => ({ action: 'view', resource: { type: 'Document', id: 'doc-2' }, context: { riskScore: 2_000_000_000 + n++ } });
  const killedAt = performance.now();
  await context.stack.stopPolicy('SIGKILL');
  const downAnswers: Answer[] = [];
  let down = true;
  const probing = Promise.all(
    context.instances.map(async (instance) => {
      while (down) {
        const asked = performance.now();
        const answer = await authenticate(instance.url, context.token, fresh());
        // Only what was asked and answered while nothing could decide counts.
        if (answer.status !== 0 && down && asked >= killedAt) downAnswers.push(answer);
        await sleep(5);
      }
    }),
  );
  await sleep(context.faultMs);
  const restartAt = performance.now();
  await context.stack.restartPolicy();
  down = false;
  await probing;
  const readyAt = performance.now();
  const times = await Promise.all(
    context.instances.map((instance) =>
      pollUntil(async () => (await authenticate(instance.url, context.token, fresh())).status === 200, readyAt),
    ),
  );
  const unavailable = downAnswers.filter((a) => a.status === 503).map((a) => a.ms);
  unavailable.sort((a, b) => a - b);
  const failFast = unavailable.length === 0 ? 0 : percentile(unavailable, 95);
  const allowed = downAnswers.filter((a) => a.status === 200).length;
  return {
    figures: {
      fail_fast_ms: failFast,
      recovery_s: Math.max(...times) / 1000,
      allowed_without_decision: allowed,
    },
    marks: [
      { atS: (killedAt - started) / 1000, label: 'policy-service killed' },
      { atS: (readyAt - started) / 1000, label: 'ready again' },
    ],
    notes: [
      `policy-service down ${((readyAt - killedAt) / 1000).toFixed(1)} s (restart took ${((readyAt - restartAt) / 1000).toFixed(1)} s): ` +
        `${downAnswers.length} new decisions asked, ${unavailable.length} answered 503 (p95 ${failFast.toFixed(1)} ms), ${allowed} answered 200; ` +
        `new decisions again on every instance ${times.map((t) => `${(t / 1000).toFixed(2)} s`).join(', ')} after it was ready`,
    ],
  };
}

/** Runs the scenario's event alongside its load; resolves with what it measured. */
export function runEvent(kind: Exclude<EventKind, 'bus'>, context: EventContext, started: number): Promise<EventResult> {
  if (kind === 'policy-update') return policyUpdate(context, started);
  if (kind === 'revocation') return revocation(context, started);
  return policyStopped(context, started);
}
