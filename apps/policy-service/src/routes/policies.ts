import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { ERROR_CODES, PoliciesResponse } from '@portcullis/contracts';
import { authorizationCredentials, defineRoute, HttpError, type Route } from '@portcullis/http-kit';
import type { PolicyBundle } from '../engine/bundle.ts';
import { PolicyInvalidError } from '../engine/errors.ts';
import type { Evaluator } from '../engine/evaluator.ts';
import type { DecisionAuditLog } from '../audit.ts';
import type { ImpactAnalyzer } from '../impact/replay.ts';
import { PolicyStoreUnavailableError, type LiveSetSync } from '../live-set/sync.ts';
import { GuardedPutPoliciesRequest } from '../impact/schema.ts';
import { AuditRecordUnavailableError } from '../impact/recent.ts';
import { auditUnavailable, candidateSource, enforceExpectedImpact, impactRoute, POLICY_BODY_LIMIT, replayCandidate } from './impact.ts';

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/**
 * Checks `Authorization: Bearer <admin token>` in constant time. With no token
 * configured the admin API is off: fail closed rather than open.
 */
export function adminAuthorizer(adminToken: string | undefined): (headers: IncomingHttpHeaders) => void {
  const expected = adminToken === undefined ? undefined : digest(adminToken);
  return (headers) => {
    if (expected === undefined) throw new HttpError(403, ERROR_CODES.adminDisabled, 'the admin API is off: POLICY_ADMIN_TOKEN is not set');
    const token = authorizationCredentials(headers, 'Bearer', 1024);
    if (token === undefined || !/^\S{1,512}$/.test(token) || !timingSafeEqual(digest(token), expected)) {
      throw new HttpError(401, ERROR_CODES.unauthorized, 'a valid admin bearer token is required', {
        headers: { 'www-authenticate': 'Bearer realm="portcullis-admin"' },
      });
    }
  };
}

const describe = (bundle: PolicyBundle) => ({
  version: bundle.version,
  policies: bundle.source.policies,
  schema: bundle.source.schema,
  policyIds: bundle.policyIds,
  entityCount: bundle.slicer.size,
});

/** `GET /policies`, `PUT /policies`, `POST /policies/impact` and `GET /audit/principals`. */
export function policyRoutes(
  evaluator: Evaluator,
  liveSet: Pick<LiveSetSync, 'put'>,
  adminToken: string | undefined,
  audit: DecisionAuditLog,
  impact: ImpactAnalyzer,
): Route[] {
  const admin = adminAuthorizer(adminToken);
  return [
    impactRoute(evaluator, admin, impact),
    defineRoute({
      method: 'GET',
      path: '/audit/principals',
      summary: 'Decisions per principal, from auth.decision events, over every replica (admin)',
      security: 'bearer',
      authorize: admin,
      responses: {
        200: { description: 'busiest principals first' },
        401: { description: 'missing or wrong admin token' },
        503: { description: 'E_AUDIT_UNAVAILABLE: the counts could not be read (Redis away)' },
      },
      handle: async () => {
        try {
          return { json: { principals: await audit.top() } };
        } catch (error) {
          if (error instanceof AuditRecordUnavailableError) throw auditUnavailable(error);
          throw error;
        }
      },
    }),
    defineRoute({
      // The policy text and schema say who may do what: as sensitive as changing them.
      method: 'GET',
      path: '/policies',
      summary: 'The live policy set (admin)',
      security: 'bearer',
      authorize: admin,
      responses: {
        200: { description: 'live policies', schema: PoliciesResponse },
        401: { description: 'missing or wrong admin token' },
        503: { description: 'none loaded' },
      },
      handle: () => {
        const bundle = evaluator.bundle;
        if (bundle === undefined) throw new HttpError(503, ERROR_CODES.noPolicies, 'no policies are loaded');
        return { json: describe(bundle) };
      },
    }),
    defineRoute({
      method: 'PUT',
      path: '/policies',
      summary: 'Replace the policies atomically, on every replica; a schema or entities left out stay as live (admin)',
      security: 'bearer',
      body: GuardedPutPoliciesRequest,
      bodyLimit: POLICY_BODY_LIMIT,
      authorize: admin,
      responses: {
        200: { description: 'swapped in; the new version', schema: PoliciesResponse },
        401: { description: 'missing or wrong admin token' },
        403: { description: 'admin API off' },
        409: {
          description: 'E_IMPACT_EXCEEDED: more flips than expectedImpact allows (details: the impact report); the old set stays live',
        },
        422: { description: 'Cedar refused the policies, schema or entities; the old set stays live' },
        503: { description: 'E_POLICY_STORE_UNAVAILABLE: Redis did not take the set, so no replica changed; retry' },
      },
      handle: async ({ body, log }) => {
        const { expectedImpact, last, minutes, ...given } = body;
        const source = candidateSource(given, evaluator.bundle);
        if (expectedImpact !== undefined)
          enforceExpectedImpact(await replayCandidate(impact, evaluator, source, { last, minutes }), expectedImpact);
        try {
          const bundle = await liveSet.put(source);
          log.info({ version: bundle.version, policies: bundle.policyIds.length }, 'policies replaced through the admin API');
          return { json: describe(bundle) };
        } catch (error) {
          if (error instanceof PolicyInvalidError) {
            throw new HttpError(422, ERROR_CODES.policyInvalid, error.message, { details: error.details });
          }
          if (error instanceof PolicyStoreUnavailableError) {
            log.warn({ err: error.cause }, 'policies not replaced: the shared store did not take them');
            throw new HttpError(503, ERROR_CODES.policyStoreUnavailable, error.message, { headers: { 'retry-after': '1' } });
          }
          throw error;
        }
      },
    }),
  ];
}
