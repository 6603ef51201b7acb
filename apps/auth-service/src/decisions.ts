import { createHash, randomUUID } from 'node:crypto';
import type { AuthenticateRequest, EvaluateRequest, EvaluateResponse } from '@portcullis/contracts';
import { FactoryError, type Cache, type Source } from '@portcullis/cache';

/** Who is asking, as the verified token says. */
export interface Principal {
  sub: string;
  roles: string[];
  groups: string[];
}

/** A decision as the auth-service caches and answers it: the policy-service's, without Cedar's evaluation errors. */
export type CachedDecision = Omit<EvaluateResponse, 'errors'>;

/** What asks the policy-service: the batching client in production. */
export interface PolicyEvaluator {
  evaluate(request: EvaluateRequest, options?: { traceparent?: string }): Promise<EvaluateResponse>;
}

/**
 * How long a version replaced on this instance is not moved back to by an answer: longer
 * than policy-service replicas take to load a new set (at once on `policy.updated`, else
 * at their next `POLICY_SYNC_MS` poll, 5 s by default).
 */
export const RETIRED_VERSION_MS = 30_000;

/**
 * Decides with the two-level cache in front of the policy-service. Keys carry the live
 * policy version, so a `policy.updated` makes every older decision unreachable at once;
 * they also carry the principal's roles (they come from the token) and a hash of the
 * context. A failing policy-service is answered from a decision within its grace period
 * (`cache: "stale"`); with none, the error propagates and the route fails closed (503).
 *
 * Policy-service replicas move to a new set a few milliseconds apart, so an answer may
 * name another version than the key it was asked for. Such an answer is served, never
 * cached under that key (a replica still on the old set would otherwise store an old
 * decision under the new version for its whole TTL). And an answer naming a version this
 * instance replaced within {@link RETIRED_VERSION_MS} does not move it back, which would
 * bring the old version's cached decisions back into use.
 */
export class DecisionService {
  readonly #cache: Cache;
  readonly #policy: PolicyEvaluator;
  readonly #now: () => number;
  #version: string | undefined;
  /** Versions replaced here, and until when (ms) an answer may not move back to them. */
  readonly #retired = new Map<string, number>();
  readonly #placeholder = `pending-${randomUUID()}`;

  /** `now` is the clock the retirement of versions is measured with (tests). */
  constructor(cache: Cache, policy: PolicyEvaluator, options: { now?: () => number } = {}) {
    this.#cache = cache;
    this.#policy = policy;
    this.#now = options.now ?? Date.now;
  }

  /** The policy version decisions are keyed by; learnt from answers and `policy.updated`. */
  get version(): string | undefined {
    return this.#version;
  }

  /**
   * Moves to `version` as `policy.updated` says (authoritative: also back to a version
   * replaced before, a revert); returns true when it changed (older keys are now dead).
   */
  setVersion(version: string): boolean {
    this.#retired.delete(version);
    return this.#moveTo(version);
  }

  /**
   * Follows the version an answer names, so an instance that missed a `policy.updated`
   * still moves on, unless it is one this instance replaced lately.
   */
  #learn(version: string): void {
    const until = this.#retired.get(version);
    if (until !== undefined && until > this.#now()) return;
    this.#retired.delete(version);
    this.#moveTo(version);
  }

  #moveTo(version: string): boolean {
    if (version === this.#version) return false;
    const now = this.#now();
    for (const [retired, until] of this.#retired) if (until <= now) this.#retired.delete(retired);
    if (this.#version !== undefined) this.#retired.set(this.#version, now + RETIRED_VERSION_MS);
    this.#version = version;
    return true;
  }

  async decide(principal: Principal, body: AuthenticateRequest, traceparent?: string): Promise<CachedDecision & { cache: Source }> {
    const ask = async (): Promise<CachedDecision> => {
      // Built only on a miss: an L1 hit needs nothing but the key.
      const answer = await this.#policy.evaluate(
        toEvaluateRequest(principal, body),
        traceparent === undefined ? undefined : { traceparent },
      );
      this.#learn(answer.policyVersion);
      return { decision: answer.decision, reasons: answer.reasons, policyVersion: answer.policyVersion };
    };
    // Before the first answer there is no version to key by. A per-process placeholder
    // still lets the cache coalesce a start-up burst of identical requests into one call
    // each, and can never match an entry written by another process or an older policy.
    const version = this.#version ?? this.#placeholder;
    const tags = [principalTag(principal.sub)];
    try {
      const { value, source } = await this.#cache.fetch(decisionKey(version, principal, body), ask, {
        typeOf: decisionType,
        tags,
        storeIf: (decision) => decision.policyVersion === version || version === this.#placeholder,
      });
      const decision = value as CachedDecision;
      if (version === this.#placeholder && source === 'miss') {
        // Keep it under the version it belongs to, where the next request will look. Only
        // this process used the placeholder: no other instance has a copy to drop.
        await this.#cache.set(decisionKey(decision.policyVersion, principal, body), decision, {
          type: decision.decision,
          tags,
          announce: false,
        });
      }
      return { ...decision, cache: source };
    } catch (error) {
      // The cache wraps a failed factory; the route needs the policy client's own error.
      if (error instanceof FactoryError && error.cause !== undefined) throw error.cause;
      throw error;
    }
  }
}

/** Allow and deny decisions are cached under their own TTLs. */
const decisionType = (decision: CachedDecision): string => decision.decision;

/** The principal's roles and groups as Cedar parents of its `User` entity. */
export function principalParents(principal: Principal): { type: string; id: string }[] {
  return [...principal.roles.map((id) => ({ type: 'Role', id })), ...principal.groups.map((id) => ({ type: 'Group', id }))];
}

/** The policy-service request: the principal and its roles/groups come from the token. */
export function toEvaluateRequest(principal: Principal, body: AuthenticateRequest): EvaluateRequest {
  return {
    principal: { type: 'User', id: principal.sub },
    action: { type: 'Action', id: body.action },
    resource: body.resource,
    context: body.context,
    entities: [
      {
        uid: { type: 'User', id: principal.sub },
        attrs: {},
        parents: principalParents(principal),
      },
    ],
  };
}

/** The tag of every decision cached for a principal (dropped when its token is revoked). */
export const principalTag = (sub: string): string => `sub:${createHash('sha256').update(sub).digest('base64url').slice(0, 22)}`;

function decisionKey(version: string, principal: Principal, body: AuthenticateRequest): string {
  const identity = JSON.stringify([
    principal.sub,
    [...principal.roles].sort(),
    [...principal.groups].sort(),
    body.action,
    body.resource.type,
    body.resource.id,
    body.context,
  ]);
  return `d:${version}:${createHash('sha256').update(identity).digest('base64url')}`;
}

/**
 * The n-th warm-up request: shaped like a real one (a User with a role parent, an action,
 * a resource), each for another resource so the policy-service's decision cache cannot
 * answer it. An entity type no schema knows is fine: Cedar's rejection still runs the path.
 */
export function warmUpRequest(n: number): EvaluateRequest {
  return toEvaluateRequest(
    { sub: 'portcullis-warm-up', roles: ['warm-up'], groups: [] },
    { action: 'view', resource: { type: 'PortcullisWarmUp', id: `r-${n}` }, context: { n } },
  );
}
