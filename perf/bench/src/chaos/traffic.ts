// The chaos run's traffic: every request tagged with its own x-request-id, so each answer
// (its decision, policy version, cache source) can be matched to what was asked, checked
// against the policy set in force, and found (or not) in the audit log. Steady load comes
// from vegeta; the watcher below asks each instance every 100 ms for /ready and a new
// decision, which times when a fault shows and when full service is back.
import { setTimeout as sleep } from 'node:timers/promises';
import { authenticate } from '../_calls.ts';
import { seededRandom } from '../_stats.ts';
import type { Target } from '../_vegeta.ts';

/** Who asks: a token and what the auth-service makes of it (the oracle rebuilds the policy request from this). */
export interface Principal {
  token: string;
  sub: string;
  roles: string[];
}

/** One `/authenticate` body. */
export interface AuthenticateBody {
  action: string;
  resource: { type: string; id: string };
  context?: Record<string, unknown>;
}

/** What was asked under one request id. */
export interface Asked {
  principal: Principal;
  body: AuthenticateBody;
  /** A decision never asked before (no cache could hold it). */
  fresh: boolean;
}

/** One answer, from vegeta or the watcher, in one shape. */
export interface Answer {
  id: string;
  /** Epoch ms when it was sent. */
  sentAt: number;
  latencyMs: number;
  /** 0: no answer (connection refused, timed out). */
  code: number;
  body: { allowed?: boolean; decision?: string; policyVersion?: string; cache?: string; requestId?: string } | undefined;
}

/**
 * The context of the k-th new decision: a source address and a risk score no other k
 * shares, inside the ranges the sample policies allow (10.0.0.0/8, risk ≤ 80), so new
 * decisions are allows as often as the policies say, not denies by construction.
 */
export function freshContext(k: number): Record<string, unknown> {
  const ip = `10.${(k >>> 16) & 255}.${(k >>> 8) & 255}.${k & 255}`;
  return { sourceIp: { __extn: { fn: 'ip', arg: ip } }, riskScore: Math.floor(k / 16_777_216) % 80 };
}

const ACTIONS = ['view', 'view', 'view', 'view', 'view', 'view', 'view', 'view', 'view', 'edit'];

/**
 * `count` requests spread over `instances`: 80 % repeat a small set of decisions (cached
 * after the first), 20 % are new decisions (a never-used risk score), 5 % from principals
 * with many roles. Ids are `<prefix>-<n>`; `asked` records each.
 */
export function chaosTargets(
  instances: string[],
  principals: { main: Principal; heavy: Principal[] },
  count: number,
  prefix: string,
  asked: Map<string, Asked>,
  seed: number,
): Target[] {
  const next = seededRandom(seed);
  return Array.from({ length: count }, (_, n) => {
    const id = `${prefix}-${n}`;
    const heavy = principals.heavy.length > 0 && next() < 0.05;
    const principal = heavy ? (principals.heavy[Math.floor(next() * principals.heavy.length)] as Principal) : principals.main;
    const fresh = next() < 0.2;
    const resource = { type: 'Document', id: `doc-${1 + Math.floor(next() * 12)}` };
    const body: AuthenticateBody = fresh
      ? { action: 'view', resource, context: freshContext(seed * 100_000 + n) }
      : { action: ACTIONS[Math.floor(next() * ACTIONS.length)] as string, resource };
    asked.set(id, { principal, body, fresh });
    return {
      method: 'POST',
      url: `${instances[n % instances.length]}/authenticate`,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${principal.token}`, 'x-request-id': id },
      body: JSON.stringify(body),
    };
  });
}

/** Parses an answer body, or undefined when it is not JSON. */
export function parseBody(text: string | undefined): Answer['body'] {
  if (text === undefined || text === '') return undefined;
  try {
    return JSON.parse(text) as Answer['body'];
  } catch {
    return undefined;
  }
}

/** One instance's view at a moment: is it ready, and did a new decision come back 200. */
export interface Sample {
  at: number;
  instance: number;
  ready: boolean;
  decided: boolean;
}

/**
 * Asks every instance, every 100 ms, for `/ready` and one new decision (each tagged and
 * recorded like the load's). `samples` is the timeline; `answers` joins the load's.
 */
export class Watcher {
  readonly samples: Sample[] = [];
  readonly answers: Answer[] = [];
  #running = true;
  #n = 0;
  readonly #done: Promise<void>;

  constructor(instances: string[], principal: Principal, asked: Map<string, Asked>) {
    this.#done = Promise.all(instances.map((url, instance) => this.#watch(url, instance, principal, asked))).then(() => undefined);
  }

  async #watch(url: string, instance: number, principal: Principal, asked: Map<string, Asked>): Promise<void> {
    while (this.#running) {
      const at = Date.now();
      const ready = await fetch(`${url}/ready`, { signal: AbortSignal.timeout(1000) })
        .then((r) => r.status === 200)
        .catch(() => false);
      const id = `watch-${instance}-${this.#n++}`;
      const body: AuthenticateBody = {
        action: 'view',
        resource: { type: 'Document', id: 'doc-2' },
        context: { riskScore: 500_000_000 + this.#n },
      };
      asked.set(id, { principal, body, fresh: true });
      const sentAt = Date.now();
      const answer = await authenticate(url, principal.token, body, id, 1000);
      this.answers.push({
        id,
        sentAt,
        latencyMs: Date.now() - sentAt,
        code: answer.status,
        body: answer.status === 0 ? undefined : answer.body,
      });
      this.samples.push({ at, instance, ready, decided: answer.status === 200 });
      await sleep(Math.max(0, 100 - (Date.now() - at)));
    }
  }

  /** Epoch ms of the first sample at or after `from` for which `holds` is true on every instance at once (checked per round). */
  firstAll(from: number, holds: (sample: Sample) => boolean, instances: number): number | undefined {
    const latest = new Map<number, Sample>();
    for (const sample of this.samples) {
      if (sample.at < from) continue;
      latest.set(sample.instance, sample);
      if (latest.size === instances && [...latest.values()].every(holds)) return sample.at;
    }
    return undefined;
  }

  /** Epoch ms of the first sample at or after `from` for which `holds` is true on any instance. */
  firstAny(from: number, holds: (sample: Sample) => boolean): number | undefined {
    return this.samples.find((sample) => sample.at >= from && holds(sample))?.at;
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#done;
  }
}
