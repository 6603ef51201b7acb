import { PutPoliciesRequest } from '@portcullis/contracts';
import { z } from 'zod';

/** Bounds of one replay: how far back it may look, and how much it shows. */
export const IMPACT_LIMITS = {
  /** Most recorded decisions one replay reads (`last`). */
  maxLast: 100_000,
  /** `last` when the request names no window. */
  defaultLast: 10_000,
  /** Longest `minutes` window: one week. */
  maxMinutes: 7 * 24 * 60,
  /** Examples kept per group of flips. */
  examplesPerGroup: 3,
} as const;

/** Which recorded decisions to replay: the most recent `last`, those of the last `minutes`, or both bounds at once. */
export const ImpactWindow = {
  last: z
    .number()
    .int()
    .min(1)
    .max(IMPACT_LIMITS.maxLast)
    .optional()
    .describe(`most recent decisions (default ${IMPACT_LIMITS.defaultLast})`),
  minutes: z.number().positive().max(IMPACT_LIMITS.maxMinutes).optional().describe('only decisions of the last T minutes'),
};
export type ImpactWindow = { last?: number | undefined; minutes?: number | undefined };

/** `POST /policies/impact`: the `PUT /policies` body plus the window. */
export const ImpactRequest = PutPoliciesRequest.extend(ImpactWindow);
export type ImpactRequest = z.infer<typeof ImpactRequest>;

/** Most flips a `PUT /policies` may cause, each way; an absent bound is not checked. */
export const ExpectedImpact = z.strictObject({
  maxAllowToDeny: z.number().int().min(0).optional(),
  maxDenyToAllow: z.number().int().min(0).optional(),
});
export type ExpectedImpact = z.infer<typeof ExpectedImpact>;

/** `PUT /policies`, optionally guarded by `expectedImpact` (replayed over the window first; 409 when exceeded). */
export const GuardedPutPoliciesRequest = PutPoliciesRequest.extend({ ...ImpactWindow, expectedImpact: ExpectedImpact.optional() });
export type GuardedPutPoliciesRequest = z.infer<typeof GuardedPutPoliciesRequest>;

const Outcome = z.enum(['allow', 'deny']);

/** One recorded decision that the candidate decides the other way. */
export const Flip = z.object({
  principal: z.string(),
  action: z.string(),
  resource: z.string(),
  before: Outcome,
  after: Outcome,
  reasons: z.array(z.string()).describe("the candidate's determining policies"),
  requestId: z.string(),
  at: z.string().describe('when it was decided'),
});
export type Flip = z.infer<typeof Flip>;

const FlipCounts = {
  allowToDeny: z.number().int(),
  denyToAllow: z.number().int(),
  examples: z.array(Flip).describe(`up to ${IMPACT_LIMITS.examplesPerGroup}`),
};

/** The answer of `POST /policies/impact`, and the `details` of a 409 `E_IMPACT_EXCEEDED`. */
export const ImpactReport = z.object({
  liveVersion: z.string().nullable(),
  candidateVersion: z.string(),
  window: z.object({ last: z.number().int(), minutes: z.number().nullable() }),
  covered: z.number().int().describe('decisions replayed (allowToDeny + denyToAllow + unchanged + rejected)'),
  complete: z.boolean().describe('false when the time limit stopped the replay before the window was done'),
  elapsedMs: z.number(),
  allowToDeny: z.number().int(),
  denyToAllow: z.number().int(),
  unchanged: z.number().int(),
  rejected: z.number().int().describe('decisions whose request the candidate refuses (its schema), not counted as flips'),
  allowToRejected: z
    .number()
    .int()
    .describe('of `rejected`, those that were allowed: access the candidate takes away, which `expectedImpact.maxAllowToDeny` counts'),
  skipped: z.number().int().describe('recorded decisions without their request (older producers): not replayable'),
  byTarget: z.array(z.object({ action: z.string(), resourceType: z.string(), ...FlipCounts })),
  byPolicy: z.array(z.object({ policy: z.string().nullable().describe('null: no policy applies (default deny)'), ...FlipCounts })),
});
export type ImpactReport = z.infer<typeof ImpactReport>;
