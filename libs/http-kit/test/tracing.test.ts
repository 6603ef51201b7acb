import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Health, Registry, createLogger, portcullisMetrics, startTracing, type Tracing } from '@portcullis/observability';
import { h2Connect, h2Request, startOtlpReceiver } from '@portcullis/testing';
import { defineRoute, probeRoutes, serveRoutes, type ServerContext } from '../src/index.ts';

const CALLER = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const receiver = await startOtlpReceiver();
after(() => receiver.close());

/** A server whose one route reports the traceparent it was handed. */
async function serve(tracing: Tracing | undefined) {
  const registry = new Registry();
  const health = new Health();
  const context: ServerContext = {
    service: 'trace-test',
    log: createLogger({ service: 't', level: 'silent' }),
    metrics: portcullisMetrics(registry),
    health,
    ...(tracing ? { tracing } : {}),
  };
  const routes = [
    defineRoute({
      method: 'GET',
      path: '/downstream',
      summary: 'x',
      responses: { 200: { description: 'ok' } },
      handle: ({ traceparent }) => ({ json: { traceparent: traceparent ?? null } }),
    }),
    defineRoute({
      method: 'GET',
      path: '/fail',
      summary: 'x',
      responses: { 500: { description: 'bug' } },
      handle: () => {
        throw new Error('bug');
      },
    }),
    ...probeRoutes(health, registry),
  ];
  const server = await serveRoutes({ routes, context, port: 0, host: '127.0.0.1' });
  return { server, base: `http://127.0.0.1:${server.port}` };
}

const downstream = async (base: string, traceparent?: string): Promise<string | null> =>
  (
    (await (await fetch(`${base}/downstream`, { headers: traceparent === undefined ? {} : { traceparent } })).json()) as {
      traceparent: string | null;
    }
  ).traceparent;

test("tracing off: the caller's traceparent is handed on untouched, a malformed one dropped", async () => {
  const { server, base } = await serve(undefined);
  try {
    assert.equal(await downstream(base, CALLER), CALLER);
    assert.equal(await downstream(base, '00-zz-evil-01'), null);
    assert.equal(await downstream(base), null);
  } finally {
    await server.close(1000);
  }
});

test('tracing on: every request over either protocol is a server span, probes are not', async () => {
  const tracing = await startTracing({ serviceName: 'trace-test', url: `${receiver.url}/v1/traces`, sampleRatio: 1, exportDelayMs: 10 });
  const { server, base } = await serve(tracing);
  try {
    const handed = await downstream(base, CALLER);
    assert.match(String(handed), /^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01$/);
    assert.notEqual(handed, CALLER);
    const h2 = h2Connect(server.port);
    try {
      const answer = await h2Request(h2, 'GET', '/fail', undefined, { traceparent: CALLER });
      assert.equal(answer.status, 500);
    } finally {
      h2.close();
    }
    assert.equal((await fetch(`${base}/ready`)).status, 200);
    await tracing.shutdown();
    const spans = await receiver.waitFor((all) => all.filter((s) => s.service === 'trace-test').length >= 2);
    const mine = spans.filter((s) => s.service === 'trace-test');
    const ok = mine.find((s) => s.name === 'GET /downstream');
    const failed = mine.find((s) => s.name === 'GET /fail');
    assert.equal(ok?.kind, 2);
    assert.equal(ok?.parentSpanId, 'b7ad6b7169203331');
    assert.equal(ok?.spanId, String(handed).split('-')[2]);
    assert.equal(ok?.attributes['http.response.status_code'], 200);
    assert.equal(failed?.traceId, '0af7651916cd43dd8448eb211c80319c');
    assert.equal(failed?.statusCode, 2);
    assert.equal(
      mine.some((s) => s.name.includes('/ready')),
      false,
    );
  } finally {
    await server.close(1000);
  }
});
