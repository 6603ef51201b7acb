import type { IncomingHttpHeaders } from 'node:http';
import { ERROR_CODES, type PutPoliciesRequest } from '@portcullis/contracts';
import { defineRoute, HttpError, type Route } from '@portcullis/http-kit';
import type { BundleSource, PolicyBundle } from '../engine/bundle.ts';
import { PolicyInvalidError } from '../engine/errors.ts';
import type { Evaluator } from '../engine/evaluator.ts';
import { AuditRecordUnavailableError } from '../impact/recent.ts';
import type { ImpactAnalyzer } from '../impact/replay.ts';
import { ImpactReport, ImpactRequest, type ExpectedImpact, type ImpactWindow } from '../impact/schema.ts';

/** Candidate policy sets are as large as a `PUT /policies` may be. */
export const POLICY_BODY_LIMIT = 4 * 1024 * 1024;

/** The audit record unreadable in time: 503 with Retry-After, never a 500. */
export function auditUnavailable(error: AuditRecordUnavailableError): HttpError {
  return new HttpError(503, ERROR_CODES.auditUnavailable, error.message, { headers: { 'retry-after': '1' } });
}

/**
 * The set a `PUT /policies` or impact body describes: its policies, and its schema and
 * entities where it gives them, else the live ones (see `PutPoliciesRequest`).
 */
export function candidateSource(body: PutPoliciesRequest, live: PolicyBundle | undefined): BundleSource {
  return {
    policies: body.policies,
    schema: body.schema === undefined ? (live?.source.schema ?? undefined) : (body.schema ?? undefined),
    entities: body.entities ?? live?.source.entities,
  };
}

/**
 * Replays the window against `source`; Cedar refusing the candidate is the same 422 as a
 * refused `PUT /policies`, and an unreadable record a 503.
 */
export async function replayCandidate(
  impact: ImpactAnalyzer,
  evaluator: Evaluator,
  source: BundleSource,
  window: ImpactWindow,
): Promise<ImpactReport> {
  try {
    return await impact.analyze(source, window, evaluator.bundle?.version ?? null);
  } catch (error) {
    if (error instanceof PolicyInvalidError) throw new HttpError(422, ERROR_CODES.policyInvalid, error.message, { details: error.details });
    if (error instanceof AuditRecordUnavailableError) throw auditUnavailable(error);
    throw error;
  }
}

/**
 * Throws 409 `E_IMPACT_EXCEEDED` with the report as `details` when a bound of `expected` is
 * exceeded. A request that was allowed and that the candidate refuses outright (its schema
 * no longer admits it) loses access as surely as one it denies: both count as allow→deny.
 */
export function enforceExpectedImpact(report: ImpactReport, expected: ExpectedImpact): void {
  const over: string[] = [];
  const lost = report.allowToDeny + report.allowToRejected;
  if (expected.maxAllowToDeny !== undefined && lost > expected.maxAllowToDeny) {
    const refused = report.allowToRejected > 0 ? `, ${report.allowToRejected} of them now refused by the candidate's schema` : '';
    over.push(`${lost} allow→deny${refused} (at most ${expected.maxAllowToDeny})`);
  }
  if (expected.maxDenyToAllow !== undefined && report.denyToAllow > expected.maxDenyToAllow)
    over.push(`${report.denyToAllow} deny→allow (at most ${expected.maxDenyToAllow})`);
  if (over.length > 0) {
    throw new HttpError(
      409,
      ERROR_CODES.impactExceeded,
      `the change would flip ${over.join(' and ')} of ${report.covered} recent decisions; nothing changed`,
      { details: report },
    );
  }
}

/** `POST /policies/impact`: what a candidate set would change, replayed over recorded decisions; nothing goes live. */
export function impactRoute(evaluator: Evaluator, admin: (headers: IncomingHttpHeaders) => void, impact: ImpactAnalyzer): Route {
  return defineRoute({
    method: 'POST',
    path: '/policies/impact',
    summary: 'Replay recent decisions against a candidate policy set; nothing goes live (admin)',
    security: 'bearer',
    body: ImpactRequest,
    bodyLimit: POLICY_BODY_LIMIT,
    authorize: admin,
    responses: {
      200: { description: 'flips allow→deny and deny→allow, grouped, with examples', schema: ImpactReport },
      400: { description: 'malformed body' },
      401: { description: 'missing or wrong admin token' },
      403: { description: 'admin API off' },
      422: { description: 'Cedar refused the candidate policies, schema or entities' },
      503: { description: 'E_AUDIT_UNAVAILABLE: the recorded decisions could not be read (Redis away)' },
    },
    handle: async ({ body, log }) => {
      const report = await replayCandidate(impact, evaluator, candidateSource(body, evaluator.bundle), body);
      log.info(
        { candidate: report.candidateVersion, covered: report.covered, complete: report.complete, ms: report.elapsedMs },
        'policy impact replayed',
      );
      return { json: report };
    },
  });
}
