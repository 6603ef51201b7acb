// `npm run bench -- policy`: Cedar decisions per second through the policy-service's
// /evaluate/batch (HTTP/1.1 and h2c; batches of 1, 10, 50) against in-process
// `statefulIsAuthorized` on the same policies and requests, in the same run.
//
// The service runs as a real process with its decision cache off, so every item is a
// real Cedar evaluation, and the in-process baseline is given the same minimal entity
// set the service passes (the request's principal and resource with their ancestors,
// empty ones left out: no sample policy reads an attribute's entity), so the ratio measures what HTTP, JSON
// and validation cost, not a difference in Cedar work.
//
// Throughput runs keep BENCH_CONCURRENCY requests in flight; the batch-50 latency is
// measured separately with one request in flight (a batch's own service time, not time
// spent queued behind another batch on a single-threaded evaluator).
import { fileURLToPath } from 'node:url';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import type { Entity, EvaluateRequest } from '@portcullis/contracts';
import { freePort, startProcess } from '@portcullis/testing';
import { H2CClient, Pool, type Dispatcher } from 'undici';
import { makeRequests, readSampleDomain } from './_policy-workload.ts';
import { median, percentile } from './_stats.ts';

const SAMPLE = fileURLToPath(new URL('../../../apps/policy-service/policies', import.meta.url));
const MAIN = fileURLToPath(new URL('../../../apps/policy-service/src/main.ts', import.meta.url));
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 2);

/** The entities a request needs: principal and resource with their non-empty ancestors. */
function sliceFor(request: EvaluateRequest, store: Map<string, Entity>): Entity[] {
  const own = new Map(request.entities.map((e) => [JSON.stringify(e.uid), e] as const));
  const out: Entity[] = [];
  const seen = new Set<string>();
  const stack: { ref: unknown; root: boolean }[] = [
    { ref: request.principal, root: true },
    { ref: request.resource, root: true },
  ];
  while (stack.length > 0) {
    const { ref, root } = stack.pop()!;
    const key = JSON.stringify(ref);
    if (seen.has(key)) continue;
    seen.add(key);
    const entity = own.get(key) ?? store.get(key);
    if (!entity) continue;
    const empty = entity.parents.length === 0 && Object.keys(entity.attrs).length === 0;
    if (root || !empty) out.push(entity);
    stack.push(...entity.parents.map((p) => ({ ref: '__entity' in p ? p.__entity : p, root: false })));
  }
  return out;
}

function inProcess(requests: EvaluateRequest[], domain: Awaited<ReturnType<typeof readSampleDomain>>): number {
  const parts = cedar.policySetTextToParts(domain.policies);
  if (parts.type !== 'success') throw new Error('sample policies do not parse');
  const ids = Object.fromEntries(
    parts.policies.map((text, i) => {
      const json = cedar.policyToJson(text);
      return [json.type === 'success' ? (json.json.annotations?.id ?? `policy${i}`) : `policy${i}`, text];
    }),
  );
  cedar.preparsePolicySet('bench', { staticPolicies: ids });
  cedar.preparseSchema('bench', domain.schema);
  const store = new Map(domain.entities.map((e) => [JSON.stringify(e.uid), e] as const));
  const slices = requests.map((r) => sliceFor(r, store));
  let done = 0;
  const deadline = performance.now() + SECONDS * 1000;
  const started = performance.now();
  while (performance.now() < deadline) {
    for (let i = 0; i < 200; i += 1, done += 1) {
      const r = requests[done % requests.length]!;
      const answer = cedar.statefulIsAuthorized({
        principal: r.principal,
        action: r.action,
        resource: r.resource,
        context: r.context as cedar.Context,
        entities: slices[done % requests.length] as cedar.Entities,
        preparsedPolicySetId: 'bench',
        preparsedSchemaName: 'bench',
        validateRequest: true,
      });
      if (answer.type !== 'success') throw new Error(JSON.stringify(answer.errors));
    }
  }
  return done / ((performance.now() - started) / 1000);
}

async function overHttp(
  dispatcher: Dispatcher,
  origin: string,
  requests: EvaluateRequest[],
  batch: number,
  concurrency = CONCURRENCY,
): Promise<{ evalsPerS: number; latencies: number[] }> {
  const bodies = Array.from({ length: 200 }, (_, i) =>
    JSON.stringify({ requests: Array.from({ length: batch }, (_, j) => requests[(i * batch + j) % requests.length]) }),
  );
  const latencies: number[] = [];
  let evals = 0;
  let next = 0;
  const deadline = performance.now() + SECONDS * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        const body = bodies[next++ % bodies.length]!;
        const sent = performance.now();
        const res = await dispatcher.request({
          origin,
          path: '/evaluate/batch',
          method: 'POST',
          body,
          headers: { 'content-type': 'application/json' },
        });
        const json = (await res.body.json()) as { results: unknown[] };
        if (res.statusCode !== 200 || json.results.length !== batch) throw new Error(`unexpected answer ${res.statusCode}`);
        latencies.push(performance.now() - sent);
        evals += batch;
      }
    }),
  );
  return { evalsPerS: evals / ((performance.now() - started) / 1000), latencies };
}

export async function run(): Promise<void> {
  const domain = await readSampleDomain(SAMPLE);
  const requests = makeRequests(5000, domain.entities);
  const baseline = median(Array.from({ length: RUNS }, () => inProcess(requests, domain)));
  console.log(`in-process statefulIsAuthorized: ${baseline.toFixed(0)} evals/s (median of ${RUNS} × ${SECONDS}s)`);

  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const service = await startProcess({
    command: process.execPath,
    args: [MAIN],
    env: { POLICY_PORT: String(port), POLICY_DECISION_CACHE_SIZE: '0', POLICY_WATCH: 'false', LOG_LEVEL: 'warn' },
    readyWhen: /policy-service ready on/,
  });
  const rows: { protocol: string; batch: number; evalsPerS: number; p50: number; p95: number }[] = [];
  let unloadedP95 = Number.NaN;
  try {
    for (const protocol of ['http1', 'h2c'] as const) {
      const dispatcher: Dispatcher =
        protocol === 'h2c' ? new H2CClient(origin, { maxConcurrentStreams: 100 }) : new Pool(origin, { connections: CONCURRENCY });
      for (const batch of [1, 10, 50]) {
        await overHttp(dispatcher, origin, requests, batch); // warm-up
        const runs = [];
        for (let i = 0; i < RUNS; i += 1) runs.push(await overHttp(dispatcher, origin, requests, batch));
        const latencies = runs.flatMap((r) => r.latencies);
        const row = {
          protocol,
          batch,
          evalsPerS: median(runs.map((r) => r.evalsPerS)),
          p50: percentile(latencies, 50),
          p95: percentile(latencies, 95),
        };
        rows.push(row);
        console.log(
          `${protocol.padEnd(5)} batch ${String(batch).padStart(2)}: ${row.evalsPerS.toFixed(0).padStart(6)} evals/s  ratio ${(row.evalsPerS / baseline).toFixed(2)}  p50 ${row.p50.toFixed(2)} ms  p95 ${row.p95.toFixed(2)} ms`,
        );
      }
      if (protocol === 'h2c') {
        const solo = [];
        for (let i = 0; i < RUNS; i += 1) solo.push(await overHttp(dispatcher, origin, requests, 50, 1));
        unloadedP95 = percentile(
          solo.flatMap((r) => r.latencies),
          95,
        );
        console.log(
          `h2c   batch 50, one request in flight: p50 ${percentile(
            solo.flatMap((r) => r.latencies),
            50,
          ).toFixed(2)} ms  p95 ${unloadedP95.toFixed(2)} ms`,
        );
      }
      await dispatcher.close();
    }
  } finally {
    await service.stop();
  }
  const best = rows.reduce((a, b) => (b.evalsPerS > a.evalsPerS ? b : a));
  console.log(`throughput at concurrency ${CONCURRENCY}; best: ${best.protocol} batch ${best.batch}`);
  console.log(
    `RESULT policy evals_per_s=${best.evalsPerS.toFixed(0)} vs_inprocess=${(best.evalsPerS / baseline).toFixed(2)} p95_ms_batch50=${unloadedP95.toFixed(2)}`,
  );
}
