import { once } from 'node:events';
import { createCache, RedisPubSubInvalidation } from '@portcullis/cache';
import { compileTrustProxy, createServiceContext, serveRoutes, type Route, type RunningService } from '@portcullis/http-kit';
import { MessageBus } from '@portcullis/message-bus';
import { closeRedis, openRedis } from '@portcullis/redis';
import { PolicyClient } from '@portcullis/service-client';
import { AuditJournal } from './audit-journal.ts';
import { DecisionAudit, type AuditRecord } from './audit.ts';
import type { AuthServiceConfig } from './config.ts';
import { DecisionService, warmUpRequest } from './decisions.ts';
import { subscribeToEvents } from './events.ts';
import { buildTokenLayer } from './keys.ts';
import { authenticateRoute } from './routes/authenticate.ts';
import { discoveryRoutes } from './routes/discovery.ts';
import { tokenRoutes } from './routes/token.ts';
import { loadRevocations, resyncRevocations, RevocationList, RevocationStore } from './tokens/index.ts';

/**
 * A running auth-service: `ready` resolves once the policy path is warm and earlier
 * revocations are loaded (`/ready` can turn 200), false if stopped first; `stop()`
 * flushes the audit buffer and closes the bus, cache and client (the caller drains the
 * server first).
 */
export interface AuthService extends RunningService {
  ready: Promise<boolean>;
}

/**
 * Wires the main path: bearer token → decision cache (L1, then Redis) → batched h2c call
 * to the policy-service, with the bus keeping every instance's cache and revocations in
 * step. Without REDIS_URL it runs with L1 only and no bus (development only).
 */
export async function startAuthService(config: AuthServiceConfig): Promise<AuthService> {
  const context = await createServiceContext('auth-service', config.LOG_LEVEL);
  const { log, health } = context;

  // One command connection, shared by the cache's L2, its invalidation announcements and
  // the bus (unless REDIS_WAIT_REPLICAS, below); only the pub/sub subscriber and the bus's
  // blocking readers get their own.
  // One server or a Cluster (a node list), as PRODUCT.md allows; errors reach /health, not the log.
  const redis = config.REDIS_URL !== undefined ? openRedis(config.REDIS_URL) : undefined;
  const cache = await createCache({
    name: 'decisions',
    ...(redis ? { redis, invalidation: new RedisPubSubInvalidation({ redis }) } : { l1Only: true }),
    l1MaxEntries: config.DECISION_L1_ENTRIES,
    // Decisions with a context seen nowhere before (a new risk score, a new resource) are
    // common: learn whether such keys are worth an L2 round trip each way (libs/cache).
    firstSeenL2: 'learn',
    types: {
      allow: { ttlMs: config.DECISION_ALLOW_TTL_MS, graceMs: config.DECISION_GRACE_MS },
      deny: { ttlMs: config.DECISION_DENY_TTL_MS, graceMs: config.DECISION_GRACE_MS },
    },
    logger: log,
  });
  if (redis) health.register(cache.health());
  const client = new PolicyClient({
    url: config.POLICY_URL,
    timeoutMs: config.AUTH_POLICY_TIMEOUT_MS,
    batching: config.AUTH_BATCHING,
    maxBatch: config.AUTH_BATCH_MAX,
    maxWaitMs: config.AUTH_BATCH_WAIT_MS,
    maxInFlight: config.AUTH_POLICY_MAX_IN_FLIGHT,
    breaker: { resetTimeoutMs: config.AUTH_BREAKER_RESET_MS, firstResetTimeoutMs: config.AUTH_BREAKER_FIRST_RESET_MS },
    tracer: context.tracing.tracer,
  });
  client.onBreakerStateChange((state) => log.warn({ state }, `policy-service circuit ${state}`));
  client.onConnectionChange((open) =>
    open ? log.info('policy-service session open') : log.warn('policy-service session lost; reconnecting'),
  );
  health.register(client.healthCheck('policy-service'));
  // Not ready until a session is open and decisions have gone through the whole path
  // (client, batcher, breaker, policy-service, Cedar): the first real ones then find warm
  // code on both sides. While the policy-service is away it keeps trying, never exits.
  const redisReady = redis === undefined || redis.status === 'ready' ? Promise.resolve() : once(redis, 'ready');
  const warm = Promise.all([client.warmUp(warmUpRequest), redisReady]).then(([isWarm]) => isWarm);
  const decisions = new DecisionService(cache, client);
  // With Redis, revocations taken before this process started are loaded before it is
  // ready; until then every token is refused (fail closed).
  // Both hold a revocation as long as the verifier still accepts its token: `exp` plus the clock tolerance.
  const toleranceSec = config.JWT_CLOCK_TOLERANCE_SEC;
  const store = redis && new RevocationStore(redis, { replicas: config.REDIS_WAIT_REPLICAS, toleranceSec });
  const revocations = new RevocationList({ loaded: store === undefined, toleranceSec });
  const { issuer, verifier, clients } = await buildTokenLayer(config, revocations);

  // A bus that waits for replicas gets a connection of its own: WAIT holds the connection
  // it runs on, and the cache's L2 reads must not queue behind it.
  const bus = redis
    ? new MessageBus({
        redis: config.REDIS_WAIT_REPLICAS > 0 ? (config.REDIS_URL as string) : redis,
        source: 'auth-service',
        publishReplicas: config.REDIS_WAIT_REPLICAS,
        logger: log,
        tracer: context.tracing.tracer,
      })
    : undefined;
  if (bus) {
    health.register(bus.healthCheck());
    await subscribeToEvents({ bus, cache, decisions, revocations, log });
  }
  // After subscribing: a revocation sent from now on arrives as an event, one taken before
  // is in the store (both is fine: revoking is idempotent).
  const stopping = new AbortController();
  const revocationsLoaded = store ? loadRevocations(store, revocations, log, stopping.signal) : Promise.resolve(true);
  // Then read again now and then: an event this instance missed still reaches it.
  if (store)
    void revocationsLoaded.then(async (loaded) => {
      if (loaded) await resyncRevocations(store, revocations, log, stopping.signal, config.AUTH_REVOCATION_RESYNC_MS);
    });
  health.register({
    name: 'revocations',
    critical: true,
    // `evicted` > 0: the list was full and let still-valid revoked tokens back in (README).
    check: () => ({ status: revocations.loaded ? 'up' : 'down', detail: { held: revocations.size, evicted: revocations.evicted } }),
  });
  const audit = new DecisionAudit({ bus, log, journal: bus && new AuditJournal<AuditRecord>(config.AUTH_AUDIT_JOURNAL_DIR) });

  const routes: Route[] = [
    authenticateRoute({
      tokens: { authenticate: (token) => verifier.verify(token) },
      decisions,
      audit,
      bodyLimit: config.AUTH_MAX_BODY_BYTES,
    }),
    ...tokenRoutes({
      issuer,
      clients,
      verifier,
      revocations,
      store,
      cache,
      bus,
      bodyLimit: config.AUTH_MAX_BODY_BYTES,
      trustProxy: compileTrustProxy(config.AUTH_TRUST_PROXY),
    }),
    ...discoveryRoutes({
      issuer: config.JWT_ISSUER,
      publicUrl: config.AUTH_PUBLIC_URL,
      algorithm: config.JWT_ALGORITHM,
      publishesJwks: issuer.jwks().keys.length > 0,
    }),
  ];
  const server = await serveRoutes({
    routes,
    context,
    port: config.AUTH_PORT,
    host: config.AUTH_HOST,
    openapi: { title: 'Portcullis auth-service', version: '0.1.0', description: 'JWT authentication and cached authorization decisions' },
  });
  return {
    server,
    context,
    log,
    ready: Promise.all([warm, revocationsLoaded]).then(([isWarm, loaded]) => isWarm && loaded),
    async stop() {
      stopping.abort();
      await audit.close();
      await bus?.close({ timeoutMs: 2000 }).catch((error: unknown) => log.warn({ err: error }, 'bus close'));
      await client.close();
      await cache.close();
      if (redis) await closeRedis(redis);
    },
  };
}
