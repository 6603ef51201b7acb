import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_RECORDED_CONTEXT_CHARS } from '@portcullis/contracts';
import { compileTrustProxy } from '@portcullis/http-kit';
import { ConfigError, env, loadConfig } from '@portcullis/observability';
import { z } from 'zod';

const url = (what: string) => z.string().regex(/^https?:\/\//, `must be an http(s) URL for ${what}`);

const isTrustProxySetting = (value: string): boolean => {
  try {
    compileTrustProxy(value);
    return true;
  } catch {
    return false;
  }
};

/** The most worker processes AUTH_WORKERS may ask for. */
export const MAX_WORKERS = 64;

/** Every setting of the auth-service, from the environment, validated at start. */
export function readConfig(source: NodeJS.ProcessEnv = process.env) {
  const config = loadConfig(
    {
      AUTH_PORT: env.port(8080),
      AUTH_HOST: z.string().min(1).default('127.0.0.1'),
      POLICY_URL: url('the policy-service').default('http://127.0.0.1:8181'),
      /** L2 cache and bus; unset runs with L1 only and no bus (development). */
      REDIS_URL: env.redisUrl(),
      JWT_ALGORITHM: z.enum(['HS256', 'RS256', 'ES256']).default('HS256'),
      /** Where clients reach this service (discovery metadata names its endpoints under it). Default: http://AUTH_HOST:AUTH_PORT. */
      AUTH_PUBLIC_URL: url('the public base URL').optional(),
      /** The `iss` of issued tokens and the RFC 8414 issuer identifier. Default: AUTH_PUBLIC_URL. */
      JWT_ISSUER: z.string().min(1).optional(),
      JWT_AUDIENCE: z.string().min(1).default('portcullis'),
      /** HS256 signing and verification secret (at least 32 characters). */
      JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
      /** PEM private key file for RS256/ES256 issuing; its public key verifies and is published as JWKS. */
      JWT_PRIVATE_KEY_FILE: z.string().min(1).optional(),
      JWT_KEY_ID: z.string().min(1).max(128).default('portcullis-1'),
      /**
       * Verify tokens of an external issuer instead: JWKS over HTTPS, since whoever can
       * change the keys on the way can forge tokens (plain http on loopback only).
       */
      JWT_JWKS_URL: z
        .string()
        .regex(/^(https:\/\/|http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?\/)/, 'must be an https URL (http only on loopback)')
        .optional(),
      JWT_CLOCK_TOLERANCE_SEC: z.coerce.number().int().min(0).max(300).default(5),
      TOKEN_TTL_SEC: env.positiveInt(900),
      /** JSON file of clients: `{client_id, client_secret, roles?}` or an array of them. */
      AUTH_CLIENTS_FILE: z.string().min(1).optional(),
      /**
       * Which proxies in front of this service to believe about the client's address (their
       * `X-Forwarded-For`), with express's `trust proxy` meaning: 0 (the default) none, N the
       * N nearest hops, or a comma list of addresses, CIDRs, `loopback`, `linklocal`,
       * `uniquelocal`. Client lockouts are per client id and this address.
       */
      AUTH_TRUST_PROXY: z
        .string()
        .default('0')
        .refine((value) => isTrustProxySetting(value), {
          message: 'must be a number of hops, or a comma list of addresses, CIDR subnets, loopback, linklocal or uniquelocal',
        }),
      /** Wrong client secrets per client id and client address within AUTH_CLIENT_FAILURE_WINDOW_MS that lock the id out (429) there, of /token, /introspect and /revoke. */
      AUTH_CLIENT_MAX_FAILURES: env.positiveInt(5),
      AUTH_CLIENT_FAILURE_WINDOW_MS: env.positiveInt(60_000),
      /** First lockout (ms); each wrong secret after one doubles it, up to AUTH_CLIENT_MAX_LOCKOUT_MS. */
      AUTH_CLIENT_LOCKOUT_MS: env.positiveInt(60_000),
      AUTH_CLIENT_MAX_LOCKOUT_MS: env.positiveInt(900_000),
      /** At most 64 KiB: every context a body can carry must fit an audit record (MAX_RECORDED_CONTEXT_CHARS). */
      AUTH_MAX_BODY_BYTES: z.coerce
        .number()
        .int()
        .min(1)
        .max(MAX_RECORDED_CONTEXT_CHARS)
        .default(16 * 1024),
      AUTH_POLICY_TIMEOUT_MS: env.positiveInt(50),
      AUTH_BATCHING: env.bool(true),
      AUTH_BATCH_MAX: env.positiveInt(50),
      AUTH_BATCH_WAIT_MS: env.positiveInt(10),
      /** Most decisions on the wire to the policy-service at once; the adaptive limit moves below it. */
      AUTH_POLICY_MAX_IN_FLIGHT: env.positiveInt(200),
      /** Longest the breaker stays open before one trial call (ms). */
      AUTH_BREAKER_RESET_MS: env.positiveInt(15_000),
      /** Open period of a breaker that just opened (ms), doubled per failed trial; default 1 000 or the reset, whichever is less. */
      AUTH_BREAKER_FIRST_RESET_MS: z.coerce.number().int().positive().optional(),
      /**
       * How often (ms) each instance reads the revocation store again, so a revocation whose
       * `token.revoked` event it never got (a publish that failed after the store took it, a
       * stream trimmed while the instance was away) is refused within this bound anyway.
       */
      AUTH_REVOCATION_RESYNC_MS: env.positiveInt(30_000),
      DECISION_ALLOW_TTL_MS: env.positiveInt(300_000),
      DECISION_DENY_TTL_MS: env.positiveInt(30_000),
      DECISION_GRACE_MS: z.coerce.number().int().min(0).default(60_000),
      DECISION_L1_ENTRIES: env.positiveInt(100_000),
      /**
       * Replicas that must hold each publish (audit batches, revocations) before it counts
       * as sent (Redis WAIT, 1 s): the audit journal lets go of a batch only then. 0 does
       * not wait. With replicas, set it: a master killed before replicating would otherwise
       * take sent events with it. The policy-service reads the same variable.
       */
      REDIS_WAIT_REPLICAS: env.waitReplicas(),
      /** Directory of the decision audit's write-ahead journal (one per instance; in Kubernetes an emptyDir). Default: <tmp>/portcullis-auth-<AUTH_PORT>-journal. */
      AUTH_AUDIT_JOURNAL_DIR: z.string().min(1).optional(),
      /**
       * Processes serving the port (node:cluster workers, each a full instance), or `auto`:
       * one per core. 1 (the default) is one process, as a Kubernetes pod should be.
       */
      AUTH_WORKERS: z
        .string()
        .default('1')
        .refine((value) => value === 'auto' || (/^[0-9]+$/.test(value) && Number(value) >= 1 && Number(value) <= MAX_WORKERS), {
          message: `must be an integer from 1 to ${MAX_WORKERS}, or auto (one per core)`,
        })
        .transform((value) => (value === 'auto' ? Math.min(MAX_WORKERS, availableParallelism()) : Number(value))),
      LOG_LEVEL: env.logLevel(),
    },
    source,
  );
  if (config.AUTH_CLIENT_MAX_LOCKOUT_MS < config.AUTH_CLIENT_LOCKOUT_MS) {
    throw new ConfigError(
      'AUTH_CLIENT_MAX_LOCKOUT_MS',
      `must be at least AUTH_CLIENT_LOCKOUT_MS (${config.AUTH_CLIENT_LOCKOUT_MS}) (received ${config.AUTH_CLIENT_MAX_LOCKOUT_MS})`,
    );
  }
  if (config.AUTH_WORKERS > 1 && config.REDIS_URL === undefined) {
    // Workers share revocations through Redis only: without it, a token revoked on one
    // worker would stay valid on the others (fail open).
    throw new ConfigError(
      'AUTH_WORKERS',
      `must be 1 without REDIS_URL: workers share revocations only through Redis (received ${config.AUTH_WORKERS})`,
    );
  }
  const publicUrl = (config.AUTH_PUBLIC_URL ?? `http://${config.AUTH_HOST}:${config.AUTH_PORT}`).replace(/\/+$/, '');
  return {
    ...config,
    AUTH_PUBLIC_URL: publicUrl,
    JWT_ISSUER: config.JWT_ISSUER ?? publicUrl,
    AUTH_AUDIT_JOURNAL_DIR: config.AUTH_AUDIT_JOURNAL_DIR ?? join(tmpdir(), `portcullis-auth-${config.AUTH_PORT}-journal`),
  };
}

export type AuthServiceConfig = ReturnType<typeof readConfig>;
