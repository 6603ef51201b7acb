import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { EvaluateRequest } from '@portcullis/contracts';
import { compileBundle, type BundleSource } from '../engine/bundle.ts';
import { authorize, preparse, type PreparsedBundle } from '../engine/evaluator.ts';
import type { RecentDecisions, RecordedDecision } from './recent.ts';
import { IMPACT_LIMITS, type Flip, type ImpactReport, type ImpactWindow } from './schema.ts';

/**
 * The Cedar slot candidates are preparsed into. Slots are process-wide and named; the
 * live evaluator's are `slot-0`/`slot-1`, so a replay never touches them. One slot means
 * one replay at a time (see {@link ImpactAnalyzer}).
 */
const IMPACT_SLOT = 'impact-candidate';

/** Longest the replay holds the event loop before it lets `/evaluate` run (ms). */
const CHUNK_MS = 5;

/** Distinct requests whose answers one replay remembers (a bound on its memory). */
const MAX_REMEMBERED = 20_000;

/** Options for {@link ImpactAnalyzer}. */
export interface ImpactOptions {
  /** Where decisions are recorded; absent (no Redis) every replay covers nothing. */
  recent: RecentDecisions | undefined;
  /** Longest one replay runs (ms); it then answers what it covered, `complete: false`. */
  timeLimitMs: number;
}

/**
 * Replays recorded decisions against a candidate policy set, never the live one: "how
 * many would flip, which ones, and which policy would now decide them". The "before" is
 * the decision as recorded. Off the request path: it yields to the event loop every few
 * milliseconds and stops at its time limit.
 */
export class ImpactAnalyzer {
  readonly #options: ImpactOptions;
  /** Replays run one after another: they share one Cedar slot. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: ImpactOptions) {
    this.#options = options;
  }

  /** Throws PolicyInvalidError (before any replay) when Cedar refuses the candidate. */
  analyze(source: BundleSource, window: ImpactWindow, liveVersion: string | null): Promise<ImpactReport> {
    const run = this.#queue.then(() => this.#run(source, window, liveVersion));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #run(source: BundleSource, window: ImpactWindow, liveVersion: string | null): Promise<ImpactReport> {
    const started = performance.now();
    const deadline = started + this.#options.timeLimitMs;
    const candidate = preparse(compileBundle({ policies: source.policies, schema: source.schema, entities: source.entities }), IMPACT_SLOT);
    const last = window.last ?? (window.minutes === undefined ? IMPACT_LIMITS.defaultLast : IMPACT_LIMITS.maxLast);
    const tally = new Tally();
    let complete = true;
    const pages = this.#options.recent?.newestFirst(last, window.minutes === undefined ? undefined : Date.now() - window.minutes * 60_000);
    if (pages !== undefined) {
      outer: for await (const page of pages) {
        let sliceStarted = performance.now();
        for (const decision of page) {
          const now = performance.now();
          if (now >= deadline) {
            complete = false;
            break outer;
          }
          if (now - sliceStarted >= CHUNK_MS) {
            await yieldToLoop();
            sliceStarted = performance.now();
          }
          tally.add(decision, candidate);
        }
        // Between pages too: the next read is a Redis round trip, but the page may have been quick.
        await yieldToLoop();
      }
      if (!complete) await pages.return(undefined);
    }
    return {
      liveVersion,
      candidateVersion: candidate.bundle.version,
      window: { last, minutes: window.minutes ?? null },
      complete,
      elapsedMs: Math.round(performance.now() - started),
      ...tally.report(),
    };
  }
}

/** The policy-service request the auth-service made for this decision, or undefined when the event lacks it. */
export function replayRequest(decision: RecordedDecision): EvaluateRequest | undefined {
  // The auth-service sends all three together; an event without them cannot be replayed.
  const { parents, context, resourceType: type } = decision;
  if (parents === undefined || context === undefined || type === undefined || !decision.resource.startsWith(`${type}::`)) return undefined;
  return {
    principal: { type: 'User', id: decision.principal },
    action: { type: 'Action', id: decision.action },
    resource: { type, id: decision.resource.slice(type.length + 2) },
    context,
    entities: [{ uid: { type: 'User', id: decision.principal }, attrs: {}, parents }],
  };
}

interface Group {
  allowToDeny: number;
  denyToAllow: number;
  examples: Flip[];
}

/** Counts flips as they are replayed, grouped by action and resource type and by the deciding policy. */
class Tally {
  covered = 0;
  allowToDeny = 0;
  denyToAllow = 0;
  unchanged = 0;
  rejected = 0;
  allowToRejected = 0;
  skipped = 0;
  readonly #byTarget = new Map<string, Group & { action: string; resourceType: string }>();
  readonly #byPolicy = new Map<string | null, Group & { policy: string | null }>();
  /** The candidate's answer per distinct request: traffic repeats itself, and Cedar costs 0.1–0.7 ms a call. */
  readonly #answers = new Map<string, { after: 'allow' | 'deny'; reasons: string[] } | undefined>();

  #decide(candidate: PreparsedBundle, request: EvaluateRequest): { after: 'allow' | 'deny'; reasons: string[] } | undefined {
    const key = JSON.stringify(request);
    if (this.#answers.has(key)) return this.#answers.get(key);
    const answer = authorize(candidate, request);
    const result = answer.type === 'failure' ? undefined : { after: answer.response.decision, reasons: answer.response.diagnostics.reason };
    if (this.#answers.size < MAX_REMEMBERED) this.#answers.set(key, result);
    return result;
  }

  add(decision: RecordedDecision, candidate: PreparsedBundle): void {
    const request = replayRequest(decision);
    if (request === undefined) {
      this.skipped += 1;
      return;
    }
    this.covered += 1;
    const answer = this.#decide(candidate, request);
    if (answer === undefined) {
      this.rejected += 1;
      if (decision.decision === 'allow') this.allowToRejected += 1;
      return;
    }
    const { after, reasons } = answer;
    if (after === decision.decision) {
      this.unchanged += 1;
      return;
    }
    const flip: Flip = {
      principal: decision.principal,
      action: decision.action,
      resource: decision.resource,
      before: decision.decision,
      after,
      reasons,
      requestId: decision.requestId,
      at: decision.at,
    };
    const way = after === 'deny' ? 'allowToDeny' : 'denyToAllow';
    this[way] += 1;
    const targetKey = `${request.action.id}\n${request.resource.type}`;
    let target = this.#byTarget.get(targetKey);
    if (target === undefined) {
      target = { action: request.action.id, resourceType: request.resource.type, ...emptyGroup() };
      this.#byTarget.set(targetKey, target);
    }
    count(target, way, flip);
    for (const policy of reasons.length > 0 ? reasons : [null]) {
      let group = this.#byPolicy.get(policy);
      if (group === undefined) {
        group = { policy, ...emptyGroup() };
        this.#byPolicy.set(policy, group);
      }
      count(group, way, flip);
    }
  }

  report() {
    const busiest = (a: Group, b: Group): number => b.allowToDeny + b.denyToAllow - (a.allowToDeny + a.denyToAllow);
    return {
      covered: this.covered,
      allowToDeny: this.allowToDeny,
      denyToAllow: this.denyToAllow,
      unchanged: this.unchanged,
      rejected: this.rejected,
      allowToRejected: this.allowToRejected,
      skipped: this.skipped,
      byTarget: [...this.#byTarget.values()].sort(busiest),
      byPolicy: [...this.#byPolicy.values()].sort(busiest),
    };
  }
}

const emptyGroup = (): Group => ({ allowToDeny: 0, denyToAllow: 0, examples: [] });

function count(group: Group, way: 'allowToDeny' | 'denyToAllow', flip: Flip): void {
  group[way] += 1;
  if (group.examples.length < IMPACT_LIMITS.examplesPerGroup) group.examples.push(flip);
}
