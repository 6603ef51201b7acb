import { z } from 'zod';

/** Bus topics and their priorities, as in PRODUCT.md's event table. */
export const TOPICS = {
  policyUpdated: { topic: 'policy.updated', priority: 'critical' },
  tokenRevoked: { topic: 'token.revoked', priority: 'high' },
  cacheInvalidate: { topic: 'cache.invalidate', priority: 'high' },
  authDecision: { topic: 'auth.decision', priority: 'normal' },
} as const;

/** `policy.updated`: a new policy version is live; cached decisions of others are stale. */
export const PolicyUpdatedEvent = z.strictObject({
  version: z.string().min(1).max(128),
  previousVersion: z.string().max(128).nullable(),
  policyCount: z.number().int().min(0),
});
export type PolicyUpdatedEvent = z.infer<typeof PolicyUpdatedEvent>;
