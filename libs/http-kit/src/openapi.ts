import { ErrorBody } from '@portcullis/contracts';
import { z } from 'zod';
import type { Route } from './route.ts';

/** Describes the service for the `info` block of the document. */
export interface OpenApiInfo {
  title: string;
  version: string;
  description?: string;
}

const BODY_RESPONSES: Route['responses'] = {
  400: { description: 'not JSON, or not well-formed Unicode (E_MALFORMED_JSON), or not what the route takes (E_VALIDATION)' },
  413: { description: "larger than the route's body limit (E_PAYLOAD_TOO_LARGE)" },
  415: { description: 'not application/json, or a content-encoding (E_UNSUPPORTED_MEDIA_TYPE)' },
};

const schemaOf = (schema: z.ZodType, io: 'input' | 'output'): unknown =>
  z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any' });

/**
 * Builds an OpenAPI 3.1 document from the routes themselves: the same zod schemas that
 * validate requests at the edge describe them here, so the document cannot drift.
 */
export function buildOpenApi(routes: readonly Route[], info: OpenApiInfo): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const responses: Record<string, unknown> = {};
    // What reading any body can answer (readJsonBody and the route's schema), unless the route says more.
    const declared = route.body === undefined ? route.responses : { ...BODY_RESPONSES, ...route.responses };
    for (const [status, response] of Object.entries(declared)) {
      const schema = response.schema ?? (Number(status) >= 400 ? ErrorBody : undefined);
      responses[status] = {
        description: response.description,
        ...(schema ? { content: { 'application/json': { schema: schemaOf(schema, 'output') } } } : {}),
      };
    }
    paths[route.path] ??= {};
    paths[route.path]![route.method.toLowerCase()] = {
      summary: route.summary,
      ...(route.security ? { security: [{ bearer: [] }] } : {}),
      ...(route.body
        ? { requestBody: { required: true, content: { 'application/json': { schema: schemaOf(route.body, 'input') } } } }
        : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info,
    paths,
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
  };
}
