import { BatchEvaluateRequest, BatchEvaluateResponse, ERROR_CODES, EvaluateRequest, EvaluateResponse } from '@portcullis/contracts';
import { defineRoute, HttpError, type Route } from '@portcullis/http-kit';
import type { Evaluator } from '../engine/evaluator.ts';

const NO_POLICIES = (): HttpError => new HttpError(503, ERROR_CODES.noPolicies, 'no policies are loaded');

/** `POST /evaluate` and `POST /evaluate/batch`. */
export function evaluateRoutes(evaluator: Evaluator, limits: { maxBatch: number; maxBodyBytes: number }): Route[] {
  return [
    defineRoute({
      method: 'POST',
      path: '/evaluate',
      hotPath: true,
      summary: 'One authorization decision from Cedar',
      body: EvaluateRequest,
      bodyLimit: limits.maxBodyBytes,
      responses: {
        200: { description: 'the decision', schema: EvaluateResponse },
        400: { description: 'malformed request, or one Cedar rejects (E_REQUEST_REJECTED)' },
        413: { description: 'body too large' },
        503: { description: 'no policies loaded' },
      },
      handle: ({ body }) => {
        const bundle = evaluator.bundle;
        if (bundle === undefined) throw NO_POLICIES();
        const result = evaluator.evaluate(body);
        if ('rejected' in result) {
          throw new HttpError(400, result.rejected.code, result.rejected.message, { details: result.rejected.details });
        }
        return { json: { ...result, policyVersion: bundle.version } };
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/evaluate/batch',
      hotPath: true,
      summary: 'Many decisions in one call; a bad item fails only its slot',
      body: BatchEvaluateRequest,
      bodyLimit: limits.maxBodyBytes,
      responses: {
        200: { description: 'results in request order', schema: BatchEvaluateResponse },
        400: { description: 'malformed batch' },
        413: { description: 'body too large, or more items than POLICY_MAX_BATCH (E_BATCH_TOO_LARGE)' },
        503: { description: 'no policies loaded' },
      },
      handle: ({ body }) => {
        if (body.requests.length > limits.maxBatch) {
          throw new HttpError(
            413,
            ERROR_CODES.batchTooLarge,
            `a batch holds at most ${limits.maxBatch} requests; got ${body.requests.length}`,
          );
        }
        const bundle = evaluator.bundle;
        if (bundle === undefined) throw NO_POLICIES();
        const results = body.requests.map((item) => {
          const parsed = EvaluateRequest.safeParse(item);
          if (!parsed.success) {
            const issue = parsed.error.issues[0];
            return {
              error: { code: ERROR_CODES.validation, message: `${issue?.path.join('.') || 'item'}: ${issue?.message ?? 'invalid'}` },
            };
          }
          const result = evaluator.evaluate(parsed.data);
          return 'rejected' in result ? { error: { code: result.rejected.code, message: result.rejected.message } } : result;
        });
        return { json: { policyVersion: bundle.version, results } };
      },
    }),
  ];
}
