import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { startOtlpReceiver } from '@portcullis/testing';
import {
  ConfigError,
  SpanKind,
  endSpan,
  startSpan,
  startTracing,
  traceparentOf,
  tracingConfigFromEnv,
  validTraceparent,
} from '../src/index.ts';

const PARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const receiver = await startOtlpReceiver();
after(() => receiver.close());

test('validTraceparent keeps well-formed values and refuses hostile or zero ones', () => {
  assert.equal(validTraceparent(PARENT), PARENT);
  for (const bad of [
    undefined,
    42,
    '',
    'garbage',
    `ff${PARENT.slice(2)}`,
    `${PARENT} `,
    PARENT.toUpperCase(),
    '00-00000000000000000000000000000000-b7ad6b7169203331-01',
    '00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01',
    `${PARENT}\r\nx-evil: 1`,
    'x'.repeat(10_000),
  ]) {
    assert.equal(validTraceparent(bad), undefined, String(bad).slice(0, 60));
  }
});

test('tracing is off unless an OTLP endpoint is set, and bad settings name the variable', () => {
  assert.equal(tracingConfigFromEnv('svc', {}).url, undefined);
  const on = tracingConfigFromEnv('svc', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/', OTEL_TRACES_SAMPLER_ARG: '0.25' });
  assert.deepEqual(on, { serviceName: 'svc', url: 'http://collector:4318/v1/traces', sampleRatio: 0.25, exportDelayMs: 5000 });
  assert.equal(
    tracingConfigFromEnv('svc', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://t:1/x' }).url,
    'http://t:1/x',
  );
  assert.equal(tracingConfigFromEnv('svc', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_SDK_DISABLED: 'true' }).url, undefined);
  assert.throws(
    () => tracingConfigFromEnv('svc', { OTEL_TRACES_SAMPLER_ARG: '2' }),
    (e: unknown) => e instanceof ConfigError && e.variable === 'OTEL_TRACES_SAMPLER_ARG',
  );
  assert.throws(
    () => tracingConfigFromEnv('svc', { OTEL_EXPORTER_OTLP_ENDPOINT: 'file:///etc/passwd' }),
    (e: unknown) => e instanceof ConfigError && e.variable === 'OTEL_EXPORTER_OTLP_ENDPOINT',
  );
  assert.throws(
    () => tracingConfigFromEnv('svc', { OTEL_TRACES_SAMPLER: 'always_on' }),
    (e: unknown) => e instanceof ConfigError && e.variable === 'OTEL_TRACES_SAMPLER',
  );
});

test("spans continue the caller's trace, link the others, and reach the collector", async () => {
  const tracing = await startTracing({ serviceName: 'unit', url: `${receiver.url}/v1/traces`, sampleRatio: 1, exportDelayMs: 10 });
  assert.ok(tracing.tracer);
  const other = '00-11111111111111111111111111111111-2222222222222222-01';
  const span = startSpan(tracing.tracer, 'batch', {
    kind: SpanKind.CLIENT,
    parent: PARENT,
    links: [PARENT, other, other, 'junk', undefined],
    attributes: { size: 3 },
  });
  const downstream = traceparentOf(span);
  assert.match(downstream, /^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01$/);
  assert.notEqual(downstream, PARENT);
  endSpan(span, Object.assign(new Error('boom'), { code: 'E_TEST' }));
  const root = startSpan(tracing.tracer, 'root', { kind: SpanKind.SERVER, parent: 'not-a-traceparent' });
  endSpan(root);
  await tracing.shutdown();
  const spans = await receiver.waitFor((all) => all.some((s) => s.name === 'batch') && all.some((s) => s.name === 'root'));
  const batch = spans.find((s) => s.name === 'batch');
  assert.equal(batch?.service, 'unit');
  assert.equal(batch?.traceId, '0af7651916cd43dd8448eb211c80319c');
  assert.equal(batch?.parentSpanId, 'b7ad6b7169203331');
  assert.equal(batch?.spanId, downstream.split('-')[2]);
  assert.deepEqual(batch?.links, [{ traceId: '11111111111111111111111111111111', spanId: '2222222222222222' }]);
  assert.equal(batch?.attributes['size'], 3);
  assert.equal(batch?.statusCode, 2);
  const fresh = spans.find((s) => s.name === 'root');
  assert.notEqual(fresh?.traceId, '0af7651916cd43dd8448eb211c80319c');
  assert.equal(fresh?.parentSpanId, '');
});

test('a caller that did not sample is not sampled here, and ratio 0 samples no new trace', async () => {
  const tracing = await startTracing({ serviceName: 'unit', url: `${receiver.url}/v1/traces`, sampleRatio: 0, exportDelayMs: 10 });
  assert.ok(tracing.tracer);
  const unsampledParent = startSpan(tracing.tracer, 'x', {
    kind: SpanKind.SERVER,
    parent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00',
  });
  assert.match(traceparentOf(unsampledParent), /-00$/);
  const newRoot = startSpan(tracing.tracer, 'y', { kind: SpanKind.SERVER });
  assert.match(traceparentOf(newRoot), /-00$/);
  const sampledParent = startSpan(tracing.tracer, 'z', { kind: SpanKind.SERVER, parent: PARENT });
  assert.match(traceparentOf(sampledParent), /-01$/);
  for (const span of [unsampledParent, newRoot, sampledParent]) endSpan(span);
  await tracing.shutdown();
  const spans = await receiver.waitFor((all) => all.some((s) => s.name === 'z'));
  assert.equal(spans.filter((s) => s.name === 'x' || s.name === 'y').length, 0);
});

test('tracing off has no tracer and its shutdown is a no-op', async () => {
  const tracing = await startTracing({ serviceName: 'unit', url: undefined, sampleRatio: 1, exportDelayMs: 10 });
  assert.equal(tracing.tracer, undefined);
  await tracing.shutdown();
});
