import { z } from 'zod';
import { CedarContext, cedarContext, EntityRef, EntityRefJson, LIMITS } from './cedar.ts';

/** The body of `POST /authenticate`; the principal comes from the verified token. */
export const AuthenticateRequest = z.strictObject({
  action: z.string().min(1).max(256).describe('Cedar action id, e.g. "view"'),
  resource: EntityRef,
  context: CedarContext.default({}),
});
export type AuthenticateRequest = z.infer<typeof AuthenticateRequest>;

/** Where a decision came from: in-process L1, Redis L2, the policy-service (`miss`), or a past-TTL entry within grace. */
export const CacheSource = z.enum(['l1', 'l2', 'miss', 'stale']);
export type CacheSource = z.infer<typeof CacheSource>;

/** The answer of `POST /authenticate`. */
export const AuthenticateResponse = z.object({
  allowed: z.boolean(),
  decision: z.enum(['allow', 'deny']),
  principal: z.object({ type: z.string(), id: z.string(), roles: z.array(z.string()) }),
  reasons: z.array(z.string()),
  policyVersion: z.string(),
  cache: CacheSource,
  requestId: z.string(),
});
export type AuthenticateResponse = z.infer<typeof AuthenticateResponse>;

/**
 * `POST /token` (RFC 6749 §4.4), form-encoded or JSON. Every field is read loosely (extra
 * parameters are ignored, as RFC 6749 §3.2 says) and the grant is checked by the route, so
 * a missing or unsupported one gets RFC 6749 §5.2's `invalid_request` or
 * `unsupported_grant_type` rather than a schema error.
 */
export const TokenRequest = z
  .object({
    grant_type: z.string().max(256).optional().describe('client_credentials'),
    client_id: z.string().min(1).max(256).optional(),
    client_secret: z.string().min(1).max(512).optional(),
    scope: z.string().max(1024).optional(),
  })
  .loose();

export const TokenResponse = z.object({
  access_token: z.string(),
  token_type: z.literal('Bearer'),
  expires_in: z.number().int(),
});

/** `POST /revoke` (RFC 7009). */
export const RevokeRequest = z
  .object({
    token: z.string().min(1).max(16_384),
    token_type_hint: z.string().max(64).optional().describe('access_token; other hints are ignored'),
    client_id: z.string().min(1).max(256).optional(),
    client_secret: z.string().min(1).max(512).optional(),
  })
  .loose();

/** `POST /introspect` (RFC 7662 §2.1), form-encoded or JSON; the caller authenticates as a client. */
export const IntrospectRequest = z
  .object({
    token: z.string().min(1).max(16_384),
    token_type_hint: z.string().max(64).optional(),
    client_id: z.string().min(1).max(256).optional(),
    client_secret: z.string().min(1).max(512).optional(),
  })
  .loose();

/** The answer of `POST /introspect` (RFC 7662 §2.2): `{"active": false}` and nothing else for any token that is not active. */
export const IntrospectResponse = z.object({
  active: z.boolean(),
  token_type: z.literal('Bearer').optional(),
  client_id: z.string().optional(),
  sub: z.string().optional(),
  iss: z.string().optional(),
  aud: z.union([z.string(), z.array(z.string())]).optional(),
  exp: z.number().int().optional(),
  iat: z.number().int().optional(),
  jti: z.string().optional(),
  roles: z.array(z.string()).optional(),
  groups: z.array(z.string()).optional(),
});
export type IntrospectResponse = z.infer<typeof IntrospectResponse>;

/** `token.revoked`: every auth-service instance refuses the token from now on. */
export const TokenRevokedEvent = z.strictObject({
  jti: z.string().min(1).max(256),
  sub: z.string().max(1024),
  exp: z.number().int().positive(),
});
export type TokenRevokedEvent = z.infer<typeof TokenRevokedEvent>;

/** `cache.invalidate`: keys or tags to drop from every instance's decision cache. */
export const CacheInvalidateEvent = z.strictObject({
  keys: z.array(z.string().max(1024)).max(1000).default([]),
  tags: z.array(z.string().max(256)).max(1000).default([]),
});
export type CacheInvalidateEvent = z.infer<typeof CacheInvalidateEvent>;

/**
 * Most characters of keys and strings a recorded `context` may hold: as much as the largest
 * `/authenticate` body the auth-service can be set to take (AUTH_MAX_BODY_BYTES) could
 * carry, so every real decision is recordable, while a forged one cannot make each
 * audit record, log line and impact replay megabytes long.
 */
export const MAX_RECORDED_CONTEXT_CHARS = 65_536;

/** `auth.decision`: one answered request, for audit and statistics. */
export const AuthDecisionEvent = z.strictObject({
  principal: z.string().max(1024),
  action: z.string().max(256),
  resource: z.string().max(2048),
  decision: z.enum(['allow', 'deny']),
  policyVersion: z.string().max(128),
  cache: CacheSource,
  requestId: z.string().max(128),
  // What the decision was asked with, so `POST /policies/impact` can replay it against a
  // candidate policy set. Optional: events of older producers carry none (and are skipped).
  /** The principal's parents as the policy-service was sent them (roles, groups). */
  parents: z.array(EntityRefJson).max(LIMITS.parentsPerEntity).optional(),
  /** The resource's type, since `resource` ("Type::id") is ambiguous with namespaced types. */
  resourceType: z.string().min(1).max(LIMITS.typeName).optional(),
  context: cedarContext(MAX_RECORDED_CONTEXT_CHARS).optional(),
});
export type AuthDecisionEvent = z.infer<typeof AuthDecisionEvent>;

/** Most decisions one `auth.decision` message carries. */
export const MAX_DECISIONS_PER_MESSAGE = 1000;

/**
 * The payload of an `auth.decision` message: the decisions one auth-service flush
 * published together (one stream entry, one dedup marker and one ack for all of them,
 * instead of one each). All carry the message's priority: denials travel apart from
 * allows, at `high`.
 */
export const AuthDecisionBatch = z.strictObject({
  decisions: z.array(AuthDecisionEvent).min(1).max(MAX_DECISIONS_PER_MESSAGE),
});
export type AuthDecisionBatch = z.infer<typeof AuthDecisionBatch>;

/**
 * The decisions of an `auth.decision` payload: a batch, or the single event that
 * producers before batching sent (so an older auth-service, e.g. a canary's stable
 * side, is still audited during a rollout). Throws a ZodError for anything else.
 */
export function parseAuthDecisions(payload: unknown): AuthDecisionEvent[] {
  if (typeof payload === 'object' && payload !== null && 'decisions' in payload) return AuthDecisionBatch.parse(payload).decisions;
  return [AuthDecisionEvent.parse(payload)];
}
