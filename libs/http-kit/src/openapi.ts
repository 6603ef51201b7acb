import { ErrorBody } from '@portcullis/contracts';
import { z } from 'zod';
import type { Route } from './route.ts';

/** Describes the service for the `info` block of the document. */
export interface OpenApiInfo {
  title: string;
  version: string;
  description?: string;
}

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
    for (const [status, response] of Object.entries(route.responses)) {
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
