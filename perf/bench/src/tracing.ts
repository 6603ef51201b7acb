// `npm run bench -- tracing`: what tracing costs a request, in process (no network, so
// the differences are not lost in noise). One route through http-kit's executeRoute,
// the path every request of both services takes:
// - off, no traceparent header: the baseline;
// - off, with a traceparent header: all tracing-off does (check the header, hand it on);
// - on, sampler ratio 0: spans are made but not recorded;
// - on, ratio 1: every request recorded and exported (OTLP/HTTP to a local receiver).
// RESULT: off_overhead_ns (the header check) and off_ratio (with header / without).
import { Readable } from 'node:stream';
import { defineRoute, executeRoute, type ServerContext } from '@portcullis/http-kit';
import { Health, Registry, createLogger, portcullisMetrics, startTracing, type Tracing } from '@portcullis/observability';
import { startOtlpReceiver } from '@portcullis/testing';

const ROUNDS = 7;
const CALLS = 100_000;
const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const route = defineRoute({
  method: 'GET',
  path: '/probe',
  summary: 'bench',
  responses: { 200: { description: 'ok' } },
  handle: ({ traceparent }) => ({ json: { ok: true, forwarded: traceparent !== undefined } }),
});

function context(tracing: Tracing | undefined): ServerContext {
  return {
    service: 'bench',
    log: createLogger({ service: 'bench', level: 'silent' }),
    metrics: portcullisMetrics(new Registry()),
    health: new Health(),
    ...(tracing ? { tracing } : {}),
  };
}

/** Median ns per request over ROUNDS rounds of CALLS sequential requests. */
async function measure(ctx: ServerContext, headers: Record<string, string>): Promise<number> {
  const perCall: number[] = [];
  for (let round = 0; round < ROUNDS; round += 1) {
    const started = process.hrtime.bigint();
    for (let i = 0; i < CALLS; i += 1)
      await executeRoute(route, { method: 'GET', headers, body: Readable.from([]), peerAddress: '127.0.0.1' }, ctx);
    perCall.push(Number(process.hrtime.bigint() - started) / CALLS);
  }
  return perCall.sort((a, b) => a - b)[Math.floor(ROUNDS / 2)] ?? NaN;
}

export async function run(): Promise<void> {
  const receiver = await startOtlpReceiver();
  const off = context(undefined);
  const unsampled = await startTracing({ serviceName: 'bench', url: `${receiver.url}/v1/traces`, sampleRatio: 0, exportDelayMs: 1000 });
  const sampled = await startTracing({ serviceName: 'bench', url: `${receiver.url}/v1/traces`, sampleRatio: 1, exportDelayMs: 200 });
  try {
    await measure(off, { traceparent: TRACEPARENT }); // warm-up: JIT
    const baseline = await measure(off, {});
    const offWithHeader = await measure(off, { traceparent: TRACEPARENT });
    const onUnsampled = await measure(context(unsampled), { traceparent: TRACEPARENT.replace(/01$/, '00') });
    const onSampled = await measure(context(sampled), { traceparent: TRACEPARENT });
    const row = (name: string, ns: number): void =>
      console.log(`${name.padEnd(40)} ${(ns / 1000).toFixed(2).padStart(7)} µs/request  ×${(ns / baseline).toFixed(3)}`);
    row('tracing off, no traceparent (baseline)', baseline);
    row('tracing off, traceparent forwarded', offWithHeader);
    row('tracing on, not sampled', onUnsampled);
    row('tracing on, sampled and exported', onSampled);
    console.log(
      `RESULT tracing off_overhead_ns=${Math.max(0, offWithHeader - baseline).toFixed(0)} off_ratio=${(offWithHeader / baseline).toFixed(3)} unsampled_ratio=${(onUnsampled / baseline).toFixed(3)} sampled_ratio=${(onSampled / baseline).toFixed(3)}`,
    );
  } finally {
    await unsampled.shutdown();
    await sampled.shutdown();
    await receiver.close();
  }
}
