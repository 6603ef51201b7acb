import { z } from 'zod';

const Status = z.enum(['up', 'degraded', 'down']);

/** The body of `GET /health` and `GET /ready`. */
export const HealthResponse = z.object({
  status: Status,
  ready: z.boolean(),
  draining: z.boolean(),
  components: z.record(
    z.string(),
    z.object({ status: Status, critical: z.boolean(), detail: z.record(z.string(), z.unknown()).optional() }),
  ),
});
