import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { startOtlpReceiver, type OtlpReceiverHandle, type ReceivedSpan } from '@portcullis/testing';
import { EDIT_DOC, startStack, type Stack } from './stack.ts';

describe('one trace from the caller through auth-service, the batched policy call and the bus', () => {
  let receiver: OtlpReceiverHandle;
  let stack: Stack;
  before(async () => {
    receiver = await startOtlpReceiver();
    const otel = { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_TRACES_SAMPLER_ARG: '1', OTEL_BSP_SCHEDULE_DELAY: '50' };
    stack = await startStack(1, otel, otel);
  });
  after(async () => {
    await stack.close();
    await receiver.close();
  });

  test("the caller's traceparent is continued by every hop and the audit consumer", async () => {
    const token = await stack.token();
    const traceId = randomBytes(16).toString('hex');
    const callerSpan = randomBytes(8).toString('hex');
    const res = await fetch(`${stack.auth[0]!.url}/authenticate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, traceparent: `00-${traceId}-${callerSpan}-01` },
      body: JSON.stringify(EDIT_DOC),
    });
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { allowed: boolean }).allowed, true);

    const find = (spans: ReceivedSpan[], service: string, name: string) =>
      spans.find((s) => s.traceId === traceId && s.service === service && s.name === name);
    const spans = await receiver.waitFor(
      (all) =>
        find(all, 'policy-service', 'process auth.decision') !== undefined &&
        find(all, 'policy-service', 'POST /evaluate/batch') !== undefined,
    );
    const server = find(spans, 'auth-service', 'POST /authenticate');
    const client = find(spans, 'auth-service', 'POST /evaluate/batch');
    const policy = find(spans, 'policy-service', 'POST /evaluate/batch');
    const audit = find(spans, 'policy-service', 'process auth.decision');
    assert.equal(server?.parentSpanId, callerSpan, 'auth-service continues the caller');
    assert.equal(client?.parentSpanId, server?.spanId, 'the batch call is a child of the request');
    assert.equal(client?.kind, 3);
    assert.equal(policy?.parentSpanId, client?.spanId, 'the policy-service continues the batch call');
    assert.equal(audit?.parentSpanId, server?.spanId, "the bus envelope carried the request's context");
    assert.equal(audit?.kind, 5);
    assert.equal(
      spans.some((s) => s.traceId === traceId && s.statusCode === 2),
      false,
      'no span failed',
    );
  });
});
