// `npm run bench -- bus`: end-to-end messages/s (publish → handle → ack) of
// @portcullis/message-bus against BullMQ (Queue.addBulk + Worker) on the same private
// redis-server, same 256-byte payload, same consumer concurrency, in one run; plus
// `redis-benchmark` XADD (16-deep pipeline) as the ceiling, and the bus's
// publish-to-handle latency p50/p99 at a paced 5,000 msg/s.
import { execFile } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { MessageBus } from '@portcullis/message-bus';
import { Registry } from '@portcullis/observability';
import { startRedisServer, uniqueId } from '@portcullis/testing';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { median, percentile } from './_stats.ts';
import type { Hit } from './_vegeta.ts';

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 20_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const BATCH = 100;
const RATE = 5000;
const LATENCY_SECONDS = Number(process.env.BENCH_LATENCY_SECONDS ?? 3);
const PAYLOAD = { data: 'x'.repeat(256 - 11) }; // JSON.stringify(PAYLOAD).length === 256

const silent = { warn: () => undefined } as unknown as ConstructorParameters<typeof MessageBus>[0]['logger'];

async function busThroughput(url: string): Promise<number> {
  const topic = uniqueId('bench');
  const consumer = new MessageBus({ redis: url, registry: new Registry(), logger: silent });
  const producer = new MessageBus({ redis: url, registry: new Registry(), logger: silent });
  let handled = 0;
  let done!: () => void;
  const finished = new Promise<void>((resolve) => {
    done = resolve;
  });
  await consumer.subscribe(
    topic,
    () => {
      if (++handled === MESSAGES) done();
    },
    { mode: 'work', group: 'bench', concurrency: CONCURRENCY },
  );
  const started = performance.now();
  const batches: Promise<string[]>[] = [];
  for (let sent = 0; sent < MESSAGES; sent += BATCH) {
    batches.push(producer.publishBatch(Array.from({ length: BATCH }, () => ({ topic, payload: PAYLOAD }))));
  }
  await Promise.all(batches);
  await finished;
  const seconds = (performance.now() - started) / 1000;
  await Promise.all([consumer.close(), producer.close()]);
  return MESSAGES / seconds;
}

async function bullmqThroughput(port: number): Promise<number> {
  const name = uniqueId('bench');
  // BullMQ is given built clients: in ESM it cannot load ioredis on its own.
  const connect = (): Redis => new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: null, protocol: 2 });
  const clients = [connect(), connect()];
  const [queueConnection, workerConnection] = clients as [Redis, Redis];
  const queue = new Queue(name, { connection: queueConnection });
  let completed = 0;
  let done!: () => void;
  const finished = new Promise<void>((resolve) => {
    done = resolve;
  });
  const worker = new Worker(name, async () => undefined, { connection: workerConnection, concurrency: CONCURRENCY, autorun: false });
  worker.on('completed', () => {
    if (++completed === MESSAGES) done();
  });
  await worker.waitUntilReady();
  const started = performance.now();
  void worker.run();
  const batches: Promise<unknown>[] = [];
  for (let sent = 0; sent < MESSAGES; sent += BATCH) {
    batches.push(queue.addBulk(Array.from({ length: BATCH }, () => ({ name: 'm', data: PAYLOAD, opts: { removeOnComplete: true } }))));
  }
  await Promise.all(batches);
  await finished;
  const seconds = (performance.now() - started) / 1000;
  await worker.close();
  await queue.obliterate({ force: true }).catch(() => undefined);
  await queue.close();
  for (const client of clients) client.disconnect();
  return MESSAGES / seconds;
}

async function redisBenchmarkXadd(port: number): Promise<number> {
  const { stdout } = await promisify(execFile)('redis-benchmark', [
    '-p',
    String(port),
    '-n',
    '200000',
    '-c',
    '50',
    '-P',
    '16',
    '-q',
    'XADD',
    uniqueId('ceiling'),
    'MAXLEN',
    '~',
    '100000',
    '*',
    'm',
    JSON.stringify(PAYLOAD),
  ]);
  const match = /([\d.]+) requests per second/.exec(stdout);
  return match ? Number(match[1]) : 0;
}

/**
 * Publishes single messages at `rate`/s for `seconds` (every 2 ms, rate/500 at a time)
 * and measures publish-to-handle; one hit a message (when it was published, how long it
 * took to be handled). The perf suite's `bus` scenario runs this against its stack's Redis.
 */
export async function busLatency(url: string, options: { rate: number; seconds: number; concurrency?: number }): Promise<Hit[]> {
  const topic = uniqueId('latency');
  const consumer = new MessageBus({ redis: url, registry: new Registry(), logger: silent });
  const producer = new MessageBus({ redis: url, registry: new Registry(), logger: silent });
  const hits: Hit[] = [];
  const total = Math.max(1, Math.round(options.rate * options.seconds));
  const started = performance.now();
  let done!: () => void;
  const finished = new Promise<void>((resolve) => {
    done = resolve;
  });
  await consumer.subscribe<{ t: number; data: string }>(
    topic,
    (message) => {
      const now = performance.now();
      hits.push({
        atMs: message.payload.t - started,
        sentAt: performance.timeOrigin + message.payload.t,
        latencyMs: now - message.payload.t,
        code: 200,
      });
      if (hits.length === total) done();
    },
    { mode: 'work', group: 'bench', concurrency: options.concurrency ?? CONCURRENCY },
  );
  const perTick = options.rate / 500;
  let sent = 0;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      // Catch up to the schedule so timer jitter does not lower the rate.
      const due = Math.min(total, Math.floor(((performance.now() - started) / 2) * perTick) + Math.ceil(perTick));
      for (; sent < due; sent += 1) void producer.publish(topic, { t: performance.now(), data: PAYLOAD.data.slice(10) });
      if (sent >= total) resolve();
      else setTimeout(tick, 2);
    };
    tick();
  });
  await finished;
  await Promise.all([consumer.close(), producer.close()]);
  return hits;
}

export async function run(_args: string[]): Promise<void> {
  const redis = await startRedisServer();
  try {
    const bus: number[] = [];
    const bullmq: number[] = [];
    const ratios: number[] = [];
    // One discarded round each warms the JIT and both code paths.
    await busThroughput(redis.url);
    await bullmqThroughput(redis.port);
    for (let index = 0; index < RUNS; index += 1) {
      const b = await busThroughput(redis.url);
      const q = await bullmqThroughput(redis.port);
      bus.push(b);
      bullmq.push(q);
      ratios.push(b / q);
      console.log(`run ${index + 1}: bus ${b.toFixed(0)} msg/s, bullmq ${q.toFixed(0)} msg/s, ratio ${(b / q).toFixed(2)}`);
    }
    const ceiling = await redisBenchmarkXadd(redis.port);
    console.log(`redis-benchmark XADD (P16, 50 clients): ${ceiling.toFixed(0)} req/s`);
    const latencies = (await busLatency(redis.url, { rate: RATE, seconds: LATENCY_SECONDS })).map((h) => h.latencyMs).sort((a, b) => a - b);
    const latency = { p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
    console.log(`bus latency at ${RATE} msg/s: p50 ${latency.p50.toFixed(2)} ms, p99 ${latency.p99.toFixed(2)} ms`);
    console.log(
      `medians of ${RUNS} runs (${MESSAGES} msgs, 256 B, concurrency ${CONCURRENCY}): bus ${median(bus).toFixed(0)} msg/s, bullmq ${median(bullmq).toFixed(0)} msg/s, ratio ${median(ratios).toFixed(2)}, xadd ceiling ${ceiling.toFixed(0)}`,
    );
    console.log(
      `RESULT bus msgs_per_s=${median(bus).toFixed(0)} vs_bullmq=${median(ratios).toFixed(2)} p99_ms=${latency.p99.toFixed(2)} p50_ms=${latency.p50.toFixed(2)} bullmq_msgs_per_s=${median(bullmq).toFixed(0)} xadd_ceiling=${ceiling.toFixed(0)}`,
    );
  } finally {
    await redis.close();
  }
}
