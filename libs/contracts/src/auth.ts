import { z } from 'zod';
import { CedarValue, EntityRef } from './cedar.ts';

/** The body of `POST /authenticate`; the principal comes from the verified token. */
export const AuthenticateRequest = z.strictObject({
  action: z.string().min(1).max(256).describe('Cedar action id, e.g. "view"'),
  resource: EntityRef,
  context: z.record(z.string(), CedarValue).default({}),
});
export type AuthenticateRequest = z.infer<typeof AuthenticateRequest>;

/** The answer of `POST /authenticate`. */
export const AuthenticateResponse = z.object({
  allowed: z.boolean(),
  decision: z.enum(['allow', 'deny']),
  principal: z.object({ type: z.string(), id: z.string(), roles: z.array(z.string()) }),
  reasons: z.array(z.string()),
  policyVersion: z.string(),
  cache: z.enum(['l1', 'l2', 'miss', 'stale']),
  requestId: z.string(),
});
export type AuthenticateResponse = z.infer<typeof AuthenticateResponse>;

/** `POST /token` (RFC 6749 §4.4), as JSON; form encoding is accepted too by the route. */
export const TokenRequest = z.strictObject({
  grant_type: z.literal('client_credentials'),
  client_id: z.string().min(1).max(256).optional(),
  client_secret: z.string().min(1).max(512).optional(),
  scope: z.string().max(1024).optional(),
});

export const TokenResponse = z.object({
  access_token: z.string(),
  token_type: z.literal('Bearer'),
  expires_in: z.number().int(),
});

/** `POST /revoke` (RFC 7009). */
export const RevokeRequest = z.strictObject({
  token: z.string().min(1).max(16_384),
  token_type_hint: z.enum(['access_token', 'refresh_token']).optional(),
  client_id: z.string().min(1).max(256).optional(),
  client_secret: z.string().min(1).max(512).optional(),
});

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

/** `auth.decision`: one answered request, for audit and statistics. */
export const AuthDecisionEvent = z.strictObject({
  principal: z.string().max(1024),
  action: z.string().max(256),
  resource: z.string().max(2048),
  decision: z.enum(['allow', 'deny']),
  policyVersion: z.string().max(128),
  cache: z.enum(['l1', 'l2', 'miss', 'stale']),
  requestId: z.string().max(128),
});
export type AuthDecisionEvent = z.infer<typeof AuthDecisionEvent>;
