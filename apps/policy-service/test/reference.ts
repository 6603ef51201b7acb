import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import type { EvaluateRequest } from '@portcullis/contracts';
import type { PolicyBundle } from '../src/engine/bundle.ts';

/**
 * Cedar's own answer for the same input, computed the slow, obvious way: the whole
 * policy set re-parsed and every entity passed, with the request's entities replacing
 * loaded ones of the same uid (the service's documented rule).
 */
export function cedarReference(bundle: PolicyBundle, request: EvaluateRequest) {
  const key = (uid: unknown) => JSON.stringify((uid as { __entity?: unknown }).__entity ?? uid);
  const overridden = new Set(request.entities.map((e) => key(e.uid)));
  const entities = [...bundle.source.entities.filter((e) => !overridden.has(key(e.uid))), ...request.entities];
  const answer = cedar.isAuthorized({
    principal: request.principal,
    action: request.action,
    resource: request.resource,
    context: request.context as cedar.Context,
    policies: { staticPolicies: bundle.policies },
    entities: entities as cedar.Entities,
    ...(bundle.source.schema !== null ? { schema: bundle.source.schema, validateRequest: true } : {}),
  });
  if (answer.type === 'failure') return { rejected: answer.errors.map((e) => e.message) };
  return {
    decision: answer.response.decision,
    reasons: [...answer.response.diagnostics.reason].sort(),
    errors: answer.response.diagnostics.errors,
  };
}
