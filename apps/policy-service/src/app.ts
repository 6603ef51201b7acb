import { once } from 'node:events';
import { createServiceContext, serveRoutes, type Route, type RunningService } from '@portcullis/http-kit';
import { MessageBus } from '@portcullis/message-bus';
import type { Logger } from '@portcullis/observability';
import { closeRedis, openRedis } from '@portcullis/redis';
import { retryUntilDone } from '@portcullis/resilience';
import type { PolicyServiceConfig } from './config.ts';
import { announceUpdates } from './announce.ts';
import { DecisionAuditLog } from './audit.ts';
import { Evaluator } from './engine/evaluator.ts';
import { RecentDecisions } from './impact/recent.ts';
import { ImpactAnalyzer } from './impact/replay.ts';
import { lastChangeOf, readPolicyDir, watchPolicyDir } from './engine/loader.ts';
import { LiveSetStore } from './live-set/store.ts';
import { followPolicyUpdates, LiveSetSync } from './live-set/sync.ts';
import { evaluateRoutes } from './routes/evaluate.ts';
import { policyRoutes } from './routes/policies.ts';
import { sendWarmUpTraffic, warmUpRequests } from './warm-up.ts';

/**
 * A running policy-service: `ready` resolves once a policy set is live (at once when the
 * start-up load succeeded); `stop()` stops watching files and closes the bus (the caller
 * drains the server first).
 */
export interface PolicyService extends RunningService {
  evaluator: Evaluator;
  ready: Promise<boolean>;
}

/**
 * Loads POLICY_DIR, serves the API on one port (HTTP/1.1 + h2c) and reloads the
 * policies when their files change. A bad file on reload is logged and ignored: the
 * previous set stays live. With Redis, the live set is shared by every replica
 * (`live-set/sync.ts`).
 */
export async function startPolicyService(config: PolicyServiceConfig): Promise<PolicyService> {
  const context = await createServiceContext('policy-service', config.LOG_LEVEL);
  const { log, metrics, health } = context;
  const evaluator = new Evaluator({ metrics, decisionCacheSize: config.POLICY_DECISION_CACHE_SIZE });
  health.register({
    name: 'policies',
    critical: true,
    check: () => {
      const bundle = evaluator.bundle;
      return bundle
        ? { status: 'up', detail: { version: bundle.version, policies: bundle.policyIds.length } }
        : { status: 'down', detail: { reason: 'no policies loaded' } };
    },
  });

  // The bus is optional for evaluation: without Redis the service still decides, it only
  // cannot announce new versions, so the bus is not critical for /ready.
  // One command connection, shared by the bus and the recent-decisions stream. With
  // REDIS_WAIT_REPLICAS both WAIT on it; no decision uses it, so a wait delays only the
  // audit and the announcements.
  const redis = config.REDIS_URL ? openRedis(config.REDIS_URL, 'command') : undefined;
  const bus = redis
    ? new MessageBus({
        redis,
        source: 'policy-service',
        publishReplicas: config.REDIS_WAIT_REPLICAS,
        logger: log,
        tracer: context.tracing.tracer,
      })
    : undefined;
  const recent = redis
    ? new RecentDecisions(redis, { maxLength: config.POLICY_AUDIT_RECENT_MAX, replicas: config.REDIS_WAIT_REPLICAS })
    : undefined;
  const audit = new DecisionAuditLog(log, { recent });
  const impact = new ImpactAnalyzer({ recent, timeLimitMs: config.POLICY_IMPACT_TIME_LIMIT_MS });
  const stopping = new AbortController();
  const liveSet = new LiveSetSync({
    evaluator,
    store: redis ? new LiveSetStore(redis, { replicas: config.REDIS_WAIT_REPLICAS }) : undefined,
    readFiles: async () => {
      // The time first: a change landing between the two reads is then seen as newer.
      const changedAtMs = await lastChangeOf(config.POLICY_DIR);
      return { source: await readPolicyDir(config.POLICY_DIR), changedAtMs };
    },
    log,
  });
  if (bus) {
    health.register({ ...bus.healthCheck(), critical: false });
    announceUpdates(liveSet, bus, log, stopping.signal);
    // In the background, until Redis answers: the service decides without it, and a Redis
    // not there yet (restarting, its name not yet in DNS) must not stop it from starting.
    // Awaited here, a start failed after ioredis's retries (~11 s), and in Kubernetes each
    // such pod went into CrashLoopBackOff for minutes after Redis was back.
    subscribeInTheBackground('the decision audit', () => audit.subscribe(bus), log, stopping.signal);
    subscribeInTheBackground('policy updates', () => followPolicyUpdates(bus, evaluator, liveSet), log, stopping.signal);
  }

  await liveSet.filesChanged('start');
  if (redis) void liveSet.follow(config.POLICY_SYNC_MS, stopping.signal);
  // Cedar first, in process, with the same requests the request path is warmed with below.
  if (evaluator.bundle !== undefined) evaluator.warmUp(warmUpRequests(evaluator.bundle, 300));
  const watcher = config.POLICY_WATCH ? watchPolicyDir(config.POLICY_DIR, () => void liveSet.filesChanged('file change')) : undefined;

  const routes: Route[] = [
    ...evaluateRoutes(evaluator, { maxBatch: config.POLICY_MAX_BATCH, maxBodyBytes: config.POLICY_MAX_BODY_BYTES }),
    ...policyRoutes(evaluator, liveSet, config.POLICY_ADMIN_TOKEN, audit, impact),
  ];

  // Cedar is warm (above); the request path around it is warmed on a private port before
  // the real one opens, so a client's first calls (and the first after a restart) do
  // not pay for cold code inside their deadlines.
  const warmUp = async (origin: string): Promise<void> => {
    const bundle = evaluator.bundle;
    if (bundle === undefined) return;
    const started = performance.now();
    await sendWarmUpTraffic(origin, warmUpRequests(bundle, 64)).then(
      () => log.info({ ms: Math.round(performance.now() - started) }, 'request path warmed up'),
      (error: unknown) => log.warn({ err: error }, 'request path warm-up failed; serving anyway'),
    );
  };
  const server = await serveRoutes({
    routes,
    context,
    port: config.POLICY_PORT,
    host: config.POLICY_HOST,
    limits: { maxSessionAgeMs: config.POLICY_H2_SESSION_MAX_AGE_MS },
    warmUp,
    openapi: { title: 'Portcullis policy-service', version: '0.1.0', description: 'Cedar policy evaluation' },
  });
  const ready = evaluator.bundle !== undefined ? Promise.resolve(true) : once(evaluator, 'updated').then(() => true);
  return {
    server,
    context,
    evaluator,
    log,
    ready,
    async stop() {
      watcher?.close();
      stopping.abort();
      try {
        await bus?.close({ timeoutMs: 2000 });
      } finally {
        if (redis) await closeRedis(redis);
      }
    },
  };
}

/** Subscribes with `subscribe`, retrying with backoff until it succeeds or `signal` stops it. */
function subscribeInTheBackground(what: string, subscribe: () => Promise<unknown>, log: Logger, signal: AbortSignal): void {
  let failed = false;
  void retryUntilDone(subscribe, {
    baseMs: 200,
    maxMs: 5_000,
    signal,
    onFailure: (error, retryInMs) => {
      failed = true;
      log.warn({ err: error, retryInMs }, `subscribing to ${what} failed (Redis away?); retrying`);
    },
  }).then((done) => {
    if (done && failed) log.info(`subscribed to ${what}`);
  });
}
