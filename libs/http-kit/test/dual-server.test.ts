import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { Writable } from 'node:stream';
import { Health, Registry, createLogger, portcullisMetrics } from '@portcullis/observability';
import { z } from 'zod';
import { buildOpenApi, defineRoute, HttpError, probeRoutes, serveRoutes, type DualServer, type ServerContext } from '../src/index.ts';
import { h2Connect, h2Request } from '@portcullis/testing';
import { chunkedPost } from './helpers.ts';

const logged: string[] = [];
const sink = new Writable({
  write(chunk: Buffer, _encoding, done) {
    logged.push(chunk.toString());
    done();
  },
});
const registry = new Registry();
const health = new Health();
const context: ServerContext = {
  service: 'test',
  log: createLogger({ service: 'test', destination: sink }),
  metrics: portcullisMetrics(registry),
  health,
};

const Echo = z.strictObject({ name: z.string().max(10) });
let release: (() => void) | undefined;
const routes = [
  defineRoute({
    method: 'POST',
    path: '/echo',
    summary: 'echo',
    body: Echo,
    bodyLimit: 1024,
    responses: { 200: { description: 'ok', schema: Echo } },
    handle: ({ body }) => ({ json: { name: body.name } }),
  }),
  defineRoute({
    method: 'POST',
    path: '/echo-hot',
    hotPath: true,
    summary: 'echo, served on HTTP/1.1 without express',
    body: Echo,
    bodyLimit: 1024,
    responses: { 200: { description: 'ok', schema: Echo } },
    handle: ({ body }) => ({ json: { name: body.name } }),
  }),
  defineRoute({
    method: 'GET',
    path: '/boom',
    summary: 'a bug',
    responses: { 500: { description: 'bug' } },
    handle: () => {
      throw new Error('secret internals');
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/admin',
    summary: 'admin',
    security: 'bearer',
    responses: { 200: { description: 'ok' } },
    authorize: (headers) => {
      if (headers.authorization !== 'Bearer s3cret') throw new HttpError(401, 'E_UNAUTHORIZED', 'admin token required');
    },
    handle: () => ({ json: { ok: true } }),
  }),
  defineRoute({
    method: 'GET',
    path: '/slow',
    summary: 'waits for the test',
    responses: { 200: { description: 'ok' } },
    handle: () =>
      new Promise((resolve) => {
        release = () => resolve({ json: { finished: true } });
      }),
  }),
  defineRoute({
    method: 'POST',
    path: '/form',
    summary: 'form or JSON, for a caller authorize identified',
    body: Echo,
    acceptsForm: true,
    responses: { 200: { description: 'ok' } },
    authorize: async (headers) => {
      if (headers['x-user'] === undefined) throw new HttpError(401, 'E_UNAUTHORIZED', 'who are you?');
      return { user: String(headers['x-user']) };
    },
    handle: ({ body, auth }) => ({ json: { name: body.name, by: auth.user } }),
  }),
  defineRoute({
    method: 'GET',
    path: '/peer',
    summary: "the connection's peer address",
    responses: { 200: { description: 'ok' } },
    handle: ({ peerAddress }) => ({ json: { peerAddress } }),
  }),
  defineRoute({
    method: 'GET',
    path: '/peer-hot',
    hotPath: true,
    summary: "the connection's peer address, without express",
    responses: { 200: { description: 'ok' } },
    handle: ({ peerAddress }) => ({ json: { peerAddress } }),
  }),
  ...probeRoutes(health, registry),
];

describe('one port, two protocols, one set of routes', () => {
  let server: DualServer;
  let base: string;
  before(async () => {
    server = await serveRoutes({ routes, context, port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${server.port}`;
  });
  after(() => server.close(1000));

  test('HTTP/1.1 and h2c give the same answer', async () => {
    const h1 = await fetch(`${base}/echo`, {
      method: 'POST',
      body: JSON.stringify({ name: 'ann' }),
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(h1.status, 200);
    assert.deepEqual(await h1.json(), { name: 'ann' });
    const session = h2Connect(server.port);
    try {
      const h2 = await h2Request(session, 'POST', '/echo', JSON.stringify({ name: 'ann' }), { 'content-type': 'application/json' });
      assert.equal(h2.status, 200);
      assert.deepEqual(JSON.parse(h2.body), { name: 'ann' });
    } finally {
      session.close();
    }
  });

  test("every route learns its connection's peer address, on both protocols and on the hot path", async () => {
    for (const path of ['/peer', '/peer-hot']) {
      const h1 = await fetch(`${base}${path}`);
      assert.deepEqual(await h1.json(), { peerAddress: '127.0.0.1' }, path);
    }
    const session = h2Connect(server.port);
    try {
      const h2 = await h2Request(session, 'GET', '/peer');
      assert.deepEqual(JSON.parse(h2.body), { peerAddress: '127.0.0.1' });
    } finally {
      session.close();
    }
  });

  const badInputs: [string, string | Buffer, number, string][] = [
    ['malformed JSON', '{"name": ', 400, 'E_MALFORMED_JSON'],
    ['empty body', '', 400, 'E_MALFORMED_JSON'],
    ['wrong type', '{"name": 42}', 400, 'E_VALIDATION'],
    ['unknown field', '{"name": "a", "admin": true}', 400, 'E_VALIDATION'],
    ['prototype pollution attempt', '{"name": "a", "__proto__": {"polluted": true}}', 400, 'E_MALFORMED_JSON'],
    ['oversized (declared)', JSON.stringify({ name: 'x'.repeat(5000) }), 413, 'E_PAYLOAD_TOO_LARGE'],
    ['not JSON at all', Buffer.from([0xff, 0xfe, 0x00, 0x01]), 400, 'E_MALFORMED_JSON'],
  ];
  for (const [[name, body, status, code], path] of badInputs.flatMap((input) =>
    ['/echo', '/echo-hot'].map((path) => [input, path] as const),
  )) {
    test(`bad input on both protocols: ${name} -> ${status} ${code} (${path})`, async () => {
      const h1 = await fetch(`${base}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
      assert.equal(h1.status, status);
      const h1Body = (await h1.json()) as { error: { code: string; requestId: string } };
      assert.equal(h1Body.error.code, code);
      assert.ok(h1Body.error.requestId.length > 0);
      const session = h2Connect(server.port);
      try {
        const h2 = await h2Request(session, 'POST', path, body, { 'content-type': 'application/json' });
        assert.equal(h2.status, status);
        assert.equal((JSON.parse(h2.body) as { error: { code: string } }).error.code, code);
      } finally {
        session.close();
      }
      assert.equal(({} as Record<string, unknown>).polluted, undefined);
    });
  }

  test('a hotPath route answers like any route: query strings, headers, metrics; other paths and methods still reach express', async () => {
    const post = (path: string, init: RequestInit = {}) =>
      fetch(`${base}${path}`, {
        method: 'POST',
        body: JSON.stringify({ name: 'bo' }),
        headers: { 'content-type': 'application/json' },
        ...init,
      });
    const hot = await post('/echo-hot?trace=1', { headers: { 'content-type': 'application/json', 'x-request-id': 'hot-1' } });
    assert.equal(hot.status, 200);
    assert.equal(hot.headers.get('x-request-id'), 'hot-1');
    assert.equal(hot.headers.get('content-type'), 'application/json; charset=utf-8');
    assert.equal(hot.headers.get('content-length'), String(Buffer.byteLength('{"name":"bo"}')));
    assert.equal(hot.headers.get('transfer-encoding'), null);
    assert.deepEqual(await hot.json(), { name: 'bo' });
    assert.match(
      await registry.metrics(),
      /http_request_duration_seconds_count\{service="test",route="\/echo-hot",method="POST",status_code="200"\} [1-9]/,
    );
    // Not an exact match: express answers, with the same route behind it.
    const slash = await post('/echo-hot/');
    assert.equal(slash.status, 200);
    assert.deepEqual(await slash.json(), { name: 'bo' });
    const wrongMethod = await fetch(`${base}/echo-hot`, { method: 'GET' });
    assert.equal(wrongMethod.status, 405);
    assert.equal(((await wrongMethod.json()) as { error: { code: string } }).error.code, 'E_METHOD_NOT_ALLOWED');
    const tooLarge = await post('/echo-hot', { body: JSON.stringify({ name: 'x'.repeat(5000) }) });
    assert.equal(tooLarge.status, 413);
    assert.equal(tooLarge.headers.get('connection'), 'close');
  });

  test('a chunked body that crosses the limit is refused with 413 while it streams', async () => {
    const chunks = Array.from({ length: 64 }, () => Buffer.alloc(1024, 0x20));
    const answer = await chunkedPost(server.port, '/echo', chunks);
    assert.equal(answer.status, 413);
    assert.equal((JSON.parse(answer.body) as { error: { code: string } }).error.code, 'E_PAYLOAD_TOO_LARGE');
  });

  test('wrong media type, unknown route and wrong method have stable codes', async () => {
    const media = await fetch(`${base}/echo`, {
      method: 'POST',
      body: 'name=a',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.equal(media.status, 415);
    assert.equal(((await media.json()) as { error: { code: string } }).error.code, 'E_UNSUPPORTED_MEDIA_TYPE');
    // A compressed body is refused by name, not parsed as JSON and called malformed.
    const gzipped = await fetch(`${base}/echo`, {
      method: 'POST',
      body: gzipSync('{"name":"a"}'),
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
    });
    assert.equal(gzipped.status, 415);
    assert.match(((await gzipped.json()) as { error: { message: string } }).error.message, /content-encoding gzip/);
    const missing = await fetch(`${base}/nope`);
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as { error: { code: string } }).error.code, 'E_NOT_FOUND');
    const method = await fetch(`${base}/echo`, { method: 'DELETE' });
    assert.equal(method.status, 405);
    assert.equal(((await method.json()) as { error: { code: string } }).error.code, 'E_METHOD_NOT_ALLOWED');
    assert.equal(method.headers.get('allow'), 'POST');
  });

  test('a handler bug is a 500 E_INTERNAL that hides the message and logs it', async () => {
    const res = await fetch(`${base}/boom`);
    assert.equal(res.status, 500);
    const body = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'E_INTERNAL');
    assert.doesNotMatch(body.error.message, /secret internals/);
    assert.ok(logged.some((line) => line.includes('secret internals')));
  });

  test('authorize refuses before the handler and a request id is echoed only when safe', async () => {
    const refused = await fetch(`${base}/admin`, { headers: { authorization: 'Bearer wrong', 'x-request-id': 'abc-123' } });
    assert.equal(refused.status, 401);
    assert.equal(refused.headers.get('x-request-id'), 'abc-123');
    const ok = await fetch(`${base}/admin`, {
      headers: { authorization: 'Bearer s3cret', 'x-request-id': 'bad\u0001id'.replace('\u0001', '%') },
    });
    assert.equal(ok.status, 200);
    assert.notEqual(ok.headers.get('x-request-id'), 'bad%id');
  });

  test('a route may take a form body, and authorize runs first and hands its result to the handler', async () => {
    const form = await fetch(`${base}/form`, {
      method: 'POST',
      body: 'name=ann',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-user': 'u1' },
    });
    assert.deepEqual(await form.json(), { name: 'ann', by: 'u1' });
    const json = await fetch(`${base}/form`, {
      method: 'POST',
      body: '{"name":"bo"}',
      headers: { 'content-type': 'application/json', 'x-user': 'u2' },
    });
    assert.deepEqual(await json.json(), { name: 'bo', by: 'u2' });
    // Unauthenticated: refused before the (invalid) body is even read.
    const anonymous = await fetch(`${base}/form`, { method: 'POST', body: '{"bad', headers: { 'content-type': 'application/json' } });
    assert.equal(anonymous.status, 401);
    const hostile = await fetch(`${base}/form`, {
      method: 'POST',
      body: 'name=a&__proto__=x',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-user': 'u' },
    });
    assert.equal(hostile.status, 400);
  });

  test('probes and metrics answer; /metrics counts requests by route', async () => {
    assert.equal((await fetch(`${base}/alive`)).status, 200);
    assert.equal((await fetch(`${base}/ready`)).status, 200);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /http_request_duration_seconds_count\{service="test",route="\/echo",method="POST",status_code="200"\} \d+/);
  });

  test('the OpenAPI document is built from the same schemas', () => {
    const doc = buildOpenApi(routes, { title: 't', version: '1' }) as {
      openapi: string;
      paths: Record<
        string,
        Record<string, { requestBody?: { content: Record<string, { schema: { properties: Record<string, unknown> } }> } }>
      >;
    };
    assert.equal(doc.openapi, '3.1.0');
    assert.ok(doc.paths['/echo']?.post?.requestBody?.content['application/json']?.schema.properties.name);
    // Every route with a body lists what reading a body can answer, besides what it declares.
    const echo = doc.paths['/echo']?.post as unknown as { responses: Record<string, unknown> };
    for (const status of ['200', '400', '413', '415']) assert.ok(echo.responses[status], status);
  });
});

test('close() lets an in-flight request finish, then refuses new connections', async () => {
  const server = await serveRoutes({ routes, context, port: 0, host: '127.0.0.1' });
  const inFlight = fetch(`http://127.0.0.1:${server.port}/slow`);
  // Wait until the handler is running, observed through the release hook being set.
  release = undefined;
  while (release === undefined) await new Promise((resolve) => setImmediate(resolve));
  const closed = server.close(5000);
  (release as () => void)();
  const res = await inFlight;
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { finished: true });
  await closed;
  await assert.rejects(fetch(`http://127.0.0.1:${server.port}/alive`));
});
