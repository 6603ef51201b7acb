import type { IncomingHttpHeaders } from 'node:http';
import { AuthenticateRequest, AuthenticateResponse, ERROR_CODES } from '@portcullis/contracts';
import { authorizationCredentials, defineRoute, HttpError, type Route } from '@portcullis/http-kit';
import { PolicyClientError, PolicyRejectedError } from '@portcullis/service-client';
import { principalParents, type DecisionService, type Principal } from '../decisions.ts';
import type { DecisionAudit } from '../audit.ts';
import { RevocationsUnknownError } from '../tokens/errors.ts';

/** What the route needs from the token layer. */
export interface BearerAuthenticator {
  /** Verifies the bearer token (signature, claims, revocation) or throws an error with a `code`. */
  authenticate(token: string): Promise<Principal & { jti?: string }>;
}

const INVALID_TOKEN = { 'www-authenticate': 'Bearer error="invalid_token"' };
const MAX_AUTH_HEADER = 16_384;

/** Extracts and verifies `Authorization: Bearer <jwt>`; 401 with a stable code otherwise. */
export function bearerAuthorizer(tokens: BearerAuthenticator) {
  return async (headers: IncomingHttpHeaders): Promise<Principal> => {
    const token = authorizationCredentials(headers, 'Bearer', MAX_AUTH_HEADER);
    if (token === undefined || !/^[A-Za-z0-9._~+/=-]+$/.test(token)) {
      throw new HttpError(401, ERROR_CODES.unauthorized, 'a bearer token is required', { headers: INVALID_TOKEN });
    }
    try {
      return await tokens.authenticate(token);
    } catch (error) {
      // Not yet able to tell a revoked token from a good one (the instance is starting):
      // refuse, but as "try again" rather than "your token is bad".
      if (error instanceof RevocationsUnknownError)
        throw new HttpError(503, ERROR_CODES.decisionUnavailable, error.message, { headers: { 'retry-after': '1' } });
      const code = typeof (error as { code?: unknown }).code === 'string' ? (error as { code: string }).code : ERROR_CODES.unauthorized;
      // The message is the verifier's, which never repeats the token.
      throw new HttpError(401, code, error instanceof Error ? error.message : 'invalid token', { headers: INVALID_TOKEN });
    }
  };
}

/** `POST /authenticate`. */
export function authenticateRoute(options: {
  tokens: BearerAuthenticator;
  decisions: DecisionService;
  audit: DecisionAudit;
  bodyLimit: number;
}): Route {
  return defineRoute({
    method: 'POST',
    path: '/authenticate',
    summary: "May the token's principal do this action on this resource?",
    security: 'bearer',
    hotPath: true,
    body: AuthenticateRequest,
    bodyLimit: options.bodyLimit,
    authorize: bearerAuthorizer(options.tokens),
    responses: {
      200: { description: 'the decision (allowed true or false)', schema: AuthenticateResponse },
      400: { description: 'malformed body, or a request the policies reject' },
      401: { description: 'missing or invalid token' },
      413: { description: 'body too large' },
      503: { description: 'no decision can be had (fail closed)' },
    },
    handle: async ({ body, auth, requestId, traceparent, log }) => {
      let result;
      try {
        result = await options.decisions.decide(auth, body, traceparent);
      } catch (error) {
        if (error instanceof PolicyRejectedError) throw new HttpError(400, ERROR_CODES.requestRejected, error.message);
        // Fail closed: whatever went wrong, no decision means no access (503, never allow).
        // Every other policy client error means "no decision right now" (unavailable, open
        // breaker, deadline, busy); anything else is a bug worth a line.
        if (!(error instanceof PolicyClientError)) log.error({ err: error, requestId }, 'unexpected error while deciding');
        throw new HttpError(503, ERROR_CODES.decisionUnavailable, 'no authorization decision can be made right now', {
          headers: { 'retry-after': '1' },
          cause: error,
        });
      }
      options.audit.record(
        {
          principal: auth.sub,
          action: body.action,
          resource: `${body.resource.type}::${body.resource.id}`,
          decision: result.decision,
          policyVersion: result.policyVersion,
          cache: result.cache,
          requestId,
          // What it was asked with, so a candidate policy set can replay it (POST /policies/impact).
          parents: principalParents(auth),
          resourceType: body.resource.type,
          context: body.context,
        },
        traceparent,
      );
      return {
        json: {
          allowed: result.decision === 'allow',
          decision: result.decision,
          principal: { type: 'User', id: auth.sub, roles: auth.roles },
          reasons: result.reasons,
          policyVersion: result.policyVersion,
          cache: result.cache,
          requestId,
        },
      };
    },
  });
}
