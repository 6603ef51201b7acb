// AUTH_WORKERS > 1: node:cluster on one machine. The primary serves no request: it forks
// the workers (each a full auth-service: its own L1 cache, bus subscriptions and audit
// journal segments), shares the port with them round-robin, restarts one that dies, prints
// the `listening` and `ready` lines once every worker has reported them, merges the
// workers' metrics for whichever of them a scrape lands on, and on SIGTERM/SIGINT has
// every worker drain before it exits.
import cluster, { type Worker } from 'node:cluster';
import {
  DRAIN_HARD_STOP_MS,
  DRAIN_TIMEOUT_MS,
  serveMetricsFrom,
  type RunningService,
  type ServiceAnnouncement,
} from '@portcullis/http-kit';
import { clusterMetricsAggregator, createLogger, shareMetricsWithPrimary } from '@portcullis/observability';

/** What a worker sends its primary over IPC. */
interface WorkerReport {
  portcullis: ServiceAnnouncement;
  url: string;
}
/** A worker's request for every worker's metrics, and the primary's answer. */
interface MetricsRequest {
  portcullis: 'metrics?';
  id: number;
}
interface MetricsAnswer {
  portcullis: 'metrics';
  id: number;
  text?: string;
  error?: string;
}
/** The `portcullis` field that tags each of our IPC messages (prom-client's have none). */
const kindOf = (message: unknown): unknown =>
  typeof message === 'object' && message !== null ? (message as { portcullis?: unknown }).portcullis : undefined;
const isMetricsRequest = (message: unknown): message is MetricsRequest => kindOf(message) === 'metrics?';
const isMetricsAnswer = (message: unknown): message is MetricsAnswer => kindOf(message) === 'metrics';
const isReport = (message: unknown): message is WorkerReport =>
  (kindOf(message) === 'listening' || kindOf(message) === 'ready') && typeof (message as WorkerReport).url === 'string';

/** Past the workers' own drain deadline and hard stop, the primary kills what is left. */
export const WORKER_KILL_AFTER_MS = DRAIN_TIMEOUT_MS + DRAIN_HARD_STOP_MS + 1_000;
/** A worker that dies is forked again after 1 s, doubled per death before it got ready, up to this. */
export const MAX_RESTART_DELAY_MS = 30_000;

/** One worker position: the process now filling it and its history. */
interface Slot {
  worker: Worker | undefined;
  /** The current process's reports so far. */
  reported: Set<ServiceAnnouncement>;
  /** A process of this slot listened once: a death after that is restarted, before it is a failed start. */
  everListened: boolean;
  /** Deaths since a process of this slot last got ready (the restart backoff's exponent). */
  deaths: number;
  restartTimer: NodeJS.Timeout | undefined;
}

/** Runs this process as the cluster primary of `workers` auth-service workers; never resolves (it exits). */
export function runPrimary(options: { name: string; workers: number; logLevel: string }): void {
  const { name } = options;
  const log = createLogger({ service: name, level: options.logLevel }).child({ role: 'cluster-primary' });
  cluster.schedulingPolicy = cluster.SCHED_RR;
  const slots: Slot[] = Array.from({ length: options.workers }, () => ({
    worker: undefined,
    reported: new Set(),
    everListened: false,
    deaths: 0,
    restartTimer: undefined,
  }));
  const announced = new Set<ServiceAnnouncement>();
  const aggregator = clusterMetricsAggregator();
  let stopping: { exitCode: number } | undefined;

  const fork = (slot: Slot): void => {
    slot.restartTimer = undefined;
    slot.reported = new Set();
    const worker = cluster.fork();
    slot.worker = worker;
    worker.on('message', (message: unknown) => {
      if (isMetricsRequest(message)) {
        aggregator.clusterMetrics().then(
          (text) => worker.isConnected() && worker.send({ portcullis: 'metrics', id: message.id, text } satisfies MetricsAnswer),
          (error: unknown) =>
            worker.isConnected() && worker.send({ portcullis: 'metrics', id: message.id, error: String(error) } satisfies MetricsAnswer),
        );
        return;
      }
      if (!isReport(message) || slot.worker !== worker) return;
      slot.reported.add(message.portcullis);
      if (message.portcullis === 'listening') slot.everListened = true;
      if (message.portcullis === 'ready') {
        slot.deaths = 0;
        log.info({ worker: worker.id, pid: worker.process.pid }, 'worker ready');
      }
      // Each line once, when every worker has got there: what npm start, tests and benches wait for.
      if (!announced.has(message.portcullis) && slots.every((s) => s.reported.has(message.portcullis))) {
        announced.add(message.portcullis);
        log.info({ url: message.url, workers: slots.length }, `${name} ${message.portcullis}`);
        console.log(`${name} ${message.portcullis} on ${message.url}`);
      }
    });
  };

  const live = (): Worker[] => slots.flatMap((slot) => (slot.worker === undefined ? [] : [slot.worker]));
  const exitWhenAllGone = (): void => {
    if (stopping !== undefined && live().length === 0) {
      log.info({ exitCode: stopping.exitCode }, stopping.exitCode === 0 ? 'all workers drained; bye' : 'workers stopped');
      process.exit(stopping.exitCode);
    }
  };
  const stopAll = (signal: NodeJS.Signals, exitCode: number): void => {
    stopping = { exitCode };
    for (const slot of slots) clearTimeout(slot.restartTimer);
    for (const worker of live()) worker.process.kill(signal);
    const deadline = setTimeout(() => {
      const left = live();
      log.error(
        { pids: left.map((w) => w.process.pid), afterMs: WORKER_KILL_AFTER_MS },
        'workers overran the drain deadline; killing them',
      );
      if (stopping !== undefined) stopping.exitCode = 1;
      for (const worker of left) worker.process.kill('SIGKILL');
    }, WORKER_KILL_AFTER_MS);
    deadline.unref();
    exitWhenAllGone();
  };

  cluster.on('exit', (worker, code, signal) => {
    const slot = slots.find((s) => s.worker === worker);
    if (slot === undefined) return;
    slot.worker = undefined;
    if (stopping !== undefined) {
      if (code !== 0 && stopping.exitCode === 0) stopping.exitCode = 1;
      exitWhenAllGone();
      return;
    }
    if (!slot.everListened) {
      // It never started (a configuration it refused, a port it could not listen on):
      // as a single process would, the service fails with the worker's exit code.
      log.error({ worker: worker.id, pid: worker.process.pid, code, signal }, 'worker exited before it listened; stopping');
      stopAll('SIGTERM', typeof code === 'number' && code !== 0 ? code : 1);
      return;
    }
    const delayMs = Math.min(MAX_RESTART_DELAY_MS, 1_000 * 2 ** slot.deaths);
    slot.deaths += 1;
    log.warn(
      { worker: worker.id, pid: worker.process.pid, code, signal, restartInMs: delayMs },
      'worker exited unexpectedly; restarting it',
    );
    slot.restartTimer = setTimeout(() => fork(slot), delayMs);
  });

  let first: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping === undefined) {
      first = signal;
      log.info({ signal, workers: live().length }, 'draining workers');
      stopAll(signal, 0);
      return;
    }
    // The same signal again (Ctrl-C twice) exits at once, as a single process does. Another
    // one does not: under `npm start` the terminal's SIGINT reaches this process and then
    // start.mjs sends SIGTERM, and that is still one request to stop.
    if (signal !== first) return;
    for (const worker of live()) worker.process.kill('SIGKILL');
    process.exit(1);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  for (const slot of slots) fork(slot);
}

/** A worker's side: report to the primary instead of printing, exit with it. */
export function workerOptions(): {
  announce: (event: ServiceAnnouncement, url: string) => void;
  repeatedSignal: 'ignore';
  decorate: (service: RunningService) => RunningService;
} {
  // Node exits a worker whose primary is gone (the IPC channel closed without a
  // disconnect() of ours); said here too, so a primary killed with SIGKILL never leaves
  // workers serving behind it.
  process.once('disconnect', () => process.exit(0));
  // /metrics on any worker: every worker's, merged by the primary (prom-client asks each
  // over IPC). A worker's own registry is what it shares.
  shareMetricsWithPrimary();
  const waiting = new Map<number, { resolve: (text: string) => void; reject: (error: Error) => void }>();
  let next = 0;
  process.on('message', (message: unknown) => {
    if (!isMetricsAnswer(message)) return;
    const waiter = waiting.get(message.id);
    waiting.delete(message.id);
    if (message.text !== undefined) waiter?.resolve(message.text);
    else waiter?.reject(new Error(`cluster metrics: ${message.error ?? 'no answer'}`));
  });
  serveMetricsFrom(
    () =>
      new Promise<string>((resolve, reject) => {
        const id = next++;
        waiting.set(id, { resolve, reject });
        process.send?.({ portcullis: 'metrics?', id } satisfies MetricsRequest);
      }),
  );
  return {
    announce: (event, url) => process.send?.({ portcullis: event, url } satisfies WorkerReport),
    // The terminal's Ctrl-C reaches the workers and the primary forwards it too: one drain.
    repeatedSignal: 'ignore',
    // Which worker answered (a non-critical /health component), for operators and tests.
    decorate: (service) => {
      service.context.health.register({
        name: 'cluster-worker',
        critical: false,
        check: () => ({ status: 'up', detail: { id: cluster.worker?.id, pid: process.pid } }),
      });
      return service;
    },
  };
}
