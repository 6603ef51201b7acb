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
 * Decides with the two-level cache in front of the policy-service. Keys carry the live
 * policy version, so a `policy.updated` makes every older decision unreachable at once;
 * they also carry the principal's roles (they come from the token) and a hash of the
 * context. A failing policy-service is answered from a decision within its grace period
 * (`cache: "stale"`); with none, the error propagates and the route fails closed (503).
 */
export class DecisionService {
  readonly #cache: Cache;
  readonly #policy: PolicyEvaluator;
  #version: string | undefined;
  readonly #placeholder = `pending-${randomUUID()}`;

  constructor(cache: Cache, policy: PolicyEvaluator) {
    this.#cache = cache;
    this.#policy = policy;
  }

  /** The policy version decisions are keyed by; learnt from answers and `policy.updated`. */
  get version(): string | undefined {
    return this.#version;
  }

  /** Moves to a new version; returns true when it changed (older keys are now dead). */
  setVersion(version: string): boolean {
    if (version === this.#version) return false;
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
      // The policy-service's answer names the live version: follow it, so an instance
      // that missed a policy.updated event still moves on.
      this.#version = answer.policyVersion;
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
