import { PortcullisError, isRedisUrl } from '@portcullis/contracts';
import { z } from 'zod';

/** Thrown when an environment variable is missing or malformed; names the variable. */
export class ConfigError extends PortcullisError {
  static override readonly code = 'E_CONFIG';
  readonly variable: string;
  constructor(variable: string, message: string) {
    super(`invalid configuration: ${variable}: ${message}`, { context: { variable } });
    this.variable = variable;
  }
}

/**
 * Validates `env` against a zod object whose keys are environment variable names and
 * returns the parsed, defaulted values. The first problem throws a {@link ConfigError}
 * naming the variable and the value received.
 */
export function loadConfig<Shape extends z.ZodRawShape>(shape: Shape, env: NodeJS.ProcessEnv = process.env): z.infer<z.ZodObject<Shape>> {
  const input: Record<string, unknown> = {};
  for (const key of Object.keys(shape)) {
    const value = env[key];
    // An empty variable means "not set", as shells and manifests commonly write it.
    input[key] = value === '' ? undefined : value;
  }
  const result = z.object(shape).safeParse(input);
  if (!result.success) {
    const issue = result.error.issues[0];
    const variable = String(issue?.path[0] ?? 'unknown');
    throw new ConfigError(variable, `${issue?.message ?? 'invalid'} (received ${describeReceived(variable, input[variable])})`);
  }
  return result.data;
}

// Secrets are never echoed: the message goes to stderr and from there to log collectors.
const SECRET_NAME = /SECRET|TOKEN|PASSWORD|PRIVATE_KEY(?!_FILE)/;

/** The received value for an error message: secrets by length only, URL credentials masked. */
function describeReceived(variable: string, value: unknown): string {
  if (typeof value !== 'string') return JSON.stringify(value);
  if (SECRET_NAME.test(variable)) return `${value.length} characters`;
  return JSON.stringify(value.replace(/\/\/[^@/]*@/g, '//***@'));
}

/** Common env value parsers, so every service reads ports and sizes the same way. */
export const env = {
  port: (fallback: number) => z.coerce.number().int().min(0).max(65_535).default(fallback),
  positiveInt: (fallback: number) => z.coerce.number().int().positive().default(fallback),
  bool: (fallback: boolean) =>
    z
      .enum(['true', 'false', '1', '0'])
      .default(fallback ? 'true' : 'false')
      .transform((value) => value === 'true' || value === '1'),
  /** `REDIS_URL`: one server, or a comma-separated node list for Redis Cluster; unset means none. */
  redisUrl: () =>
    z.string().refine(isRedisUrl, 'must be redis://[user:password@]host:port, or a comma-separated node list for Redis Cluster').optional(),
  /** `REDIS_WAIT_REPLICAS`: replicas that must acknowledge a write (Redis WAIT) before it counts as done; 0 (default) does not wait. */
  waitReplicas: () => z.coerce.number().int().min(0).max(16).default(0),
  /** `LOG_LEVEL`: a pino level. */
  logLevel: () => z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
};
