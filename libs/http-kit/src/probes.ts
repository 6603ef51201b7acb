import { HealthResponse } from '@portcullis/contracts';
import type { Health, Registry } from '@portcullis/observability';
import { z } from 'zod';
import type { Route } from './route.ts';

/** Where `/metrics` reads its text when not from the registry (see {@link serveMetricsFrom}). */
let metricsSource: (() => Promise<string>) | undefined;

/**
 * Makes `/metrics` answer with `source()` instead of the process's own registry: a
 * node:cluster worker serves every worker's metrics, merged by its primary, so a scrape
 * that lands on any worker sees the whole process group. Process-wide, as a worker is.
 */
export function serveMetricsFrom(source: () => Promise<string>): void {
  metricsSource = source;
}

/**
 * `/health`, `/alive`, `/ready` and `/metrics`, as PRODUCT.md defines them. `/ready`
 * turns 503 while draining or while a critical dependency is not up.
 */
export function probeRoutes(health: Health, registry: Registry): Route[] {
  return [
    {
      method: 'GET',
      path: '/health',
      traced: false,
      summary: 'Each dependency and its state',
      responses: { 200: { description: 'state of each dependency', schema: HealthResponse } },
      handle: () => ({ json: health.report() }),
    },
    {
      method: 'GET',
      path: '/alive',
      traced: false,
      summary: 'Liveness: 200 while the process serves',
      responses: { 200: { description: 'alive', schema: z.object({ status: z.literal('alive') }) } },
      handle: () => ({ json: { status: 'alive' } }),
    },
    {
      method: 'GET',
      path: '/ready',
      traced: false,
      summary: 'Readiness: 503 while degraded or draining',
      responses: { 200: { description: 'ready', schema: HealthResponse }, 503: { description: 'not ready', schema: HealthResponse } },
      handle: () => {
        const report = health.report();
        return { status: report.ready ? 200 : 503, json: report };
      },
    },
    {
      method: 'GET',
      path: '/metrics',
      traced: false,
      summary: 'Prometheus metrics',
      responses: { 200: { description: 'Prometheus text format' } },
      handle: async () => ({
        text: await (metricsSource !== undefined ? metricsSource() : registry.metrics()),
        contentType: registry.contentType,
      }),
    },
  ];
}
