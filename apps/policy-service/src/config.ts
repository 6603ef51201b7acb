import { fileURLToPath } from 'node:url';
import { env, loadConfig } from '@portcullis/observability';
import { z } from 'zod';

const SAMPLE_POLICIES = fileURLToPath(new URL('../policies', import.meta.url));

/** Every setting of the policy-service, from the environment, validated at start. */
export function readConfig(source: NodeJS.ProcessEnv = process.env) {
  return loadConfig(
    {
      POLICY_PORT: env.port(8181),
      POLICY_HOST: z.string().min(1).default('127.0.0.1'),
      POLICY_DIR: z.string().min(1).default(SAMPLE_POLICIES),
      POLICY_WATCH: env.bool(true),
      /** Bearer token for `PUT /policies`; unset turns the admin API off (403). */
      POLICY_ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
      POLICY_MAX_BATCH: env.positiveInt(1000),
      POLICY_MAX_BODY_BYTES: env.positiveInt(1024 * 1024),
      /**
       * Longest an h2c session (the auth-service's) is kept, ±10 %: then GOAWAY, and the
       * client reconnects, which spreads clients over pods a scale-out added (kube-proxy
       * balances connections, not requests).
       */
      POLICY_H2_SESSION_MAX_AGE_MS: env.positiveInt(300_000),
      POLICY_DECISION_CACHE_SIZE: z.coerce.number().int().min(0).default(10_000),
      /** Recent decisions kept for `POST /policies/impact` (one capped stream shared by every instance). */
      POLICY_AUDIT_RECENT_MAX: env.positiveInt(100_000),
      /**
       * Replicas that must hold a write before it counts as done (Redis WAIT, 1 s): each
       * recorded audit batch before its message is acked, each publish, and each stored
       * live set. 0 does not wait. With replicas, set it: a master killed before replicating would otherwise
       * take acknowledged writes with it. The auth-service reads the same variable.
       */
      REDIS_WAIT_REPLICAS: env.waitReplicas(),
      /** Longest one impact replay runs; it then answers what it covered. */
      POLICY_IMPACT_TIME_LIMIT_MS: env.positiveInt(5000),
      /**
       * How often each replica checks the live set shared in Redis (one HGET), a backstop
       * for a `policy.updated` it missed; the event itself brings a change at once.
       */
      POLICY_SYNC_MS: env.positiveInt(5000),
      /** Where `policy.updated` is published and the live set shared; unset runs without the bus, alone. */
      REDIS_URL: env.redisUrl(),
      LOG_LEVEL: env.logLevel(),
    },
    source,
  );
}

export type PolicyServiceConfig = ReturnType<typeof readConfig>;
