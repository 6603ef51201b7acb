// Property-based hostile input against a real policy-service: whatever reaches
// /evaluate, /evaluate/batch, PUT /policies or POST /policies/impact, the answer is a decision or a 4xx with a
// stable code, never a 5xx, a hang or a crash; a refused PUT leaves the live set as it was.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { ERROR_CODES } from '@portcullis/contracts';
import { freePort, isCodedClientError, sendRaw, startProcess, type ProcessHandle } from '@portcullis/testing';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const ADMIN = 'test-admin-token-0123456789';
const KNOWN = { codes: new Set<string>(Object.values(ERROR_CODES)) };
const RUNS = { numRuns: 120 };

/** Any text, or text holding lone surrogates (JSON.stringify escapes them; Cedar cannot read them). */
const text = (maxLength?: number) => fc.oneof(fc.string({ maxLength }), fc.constantFrom('\ud800', 'doc-\udfff', '\udc00\ud800'));
const uid = fc.oneof(fc.record({ type: fc.oneof(text(), fc.constantFrom('User', 'Document', 'Action')), id: text() }), fc.jsonValue());
/** Values shaped like one evaluation request, with hostile members in every place. */
const shapedRequest = fc.record(
  {
    principal: uid,
    action: uid,
    resource: uid,
    context: fc.oneof(fc.dictionary(text(), fc.oneof(fc.jsonValue(), text())), fc.jsonValue()),
    entities: fc.oneof(
      fc.array(fc.record({ uid, attrs: fc.jsonValue(), parents: fc.array(uid, { maxLength: 3 }) }, { requiredKeys: [] }), { maxLength: 4 }),
      fc.jsonValue(),
    ),
  },
  { requiredKeys: [] },
);

describe('hostile input, property-based (real policy-service)', () => {
  let service: ProcessHandle;
  let base: string;
  const json = (path: string, body: unknown, method = 'POST', headers: Record<string, string> = {}) =>
    sendRaw(`${base}${path}`, { method, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

  before(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    service = await startProcess({
      command: process.execPath,
      args: [MAIN],
      env: {
        POLICY_PORT: String(port),
        POLICY_WATCH: 'false',
        POLICY_ADMIN_TOKEN: ADMIN,
        POLICY_MAX_BATCH: '20',
        POLICY_MAX_BODY_BYTES: '65536',
      },
      readyWhen: /policy-service ready on/,
    });
  });
  after(() => service.stop('SIGKILL'));

  test('/evaluate: any JSON value, or a request-shaped one with hostile members, is a decision or a coded 4xx', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.jsonValue(), shapedRequest), async (value) => {
        const res = await json('/evaluate', value);
        if (res.status === 200) return ['allow', 'deny'].includes((res.body as { decision?: string }).decision ?? '');
        return isCodedClientError(res.status, res.body, KNOWN);
      }),
      RUNS,
    );
  });

  test("/evaluate/batch: any batch gets one slot per item (a decision or that item's coded error), or a coded 4xx for the whole", async () => {
    const batch = fc.oneof(fc.record({ requests: fc.array(fc.oneof(shapedRequest, fc.jsonValue()), { maxLength: 25 }) }), fc.jsonValue());
    await fc.assert(
      fc.asyncProperty(batch, async (value) => {
        const res = await json('/evaluate/batch', value);
        if (res.status !== 200) return isCodedClientError(res.status, res.body, KNOWN);
        const { results } = res.body as { results: ({ decision: string } | { error: { code: string } })[] };
        const sent = (value as { requests: unknown[] }).requests;
        return (
          results.length === sent.length &&
          results.every((r) => ('error' in r ? KNOWN.codes.has(r.error.code) : ['allow', 'deny'].includes(r.decision)))
        );
      }),
      RUNS,
    );
  });

  test('PUT /policies: any body is swapped in or refused with a code; a refusal leaves the live version', async () => {
    const admin = { authorization: `Bearer ${ADMIN}` };
    const live = async () => ((await (await fetch(`${base}/policies`, { headers: admin })).json()) as { version: string }).version;
    const body = fc.oneof(
      fc.jsonValue(),
      fc.record(
        {
          policies: text(300),
          schema: fc.option(text(200), { nil: undefined }),
          entities: fc.jsonValue(),
        },
        { requiredKeys: ['policies'] },
      ),
      fc.constantFrom('permit(principal, action, resource) when { 1 + ', 'forbid(principal, action, resource) unless { context.x.y.z };'),
    );
    await fc.assert(
      fc.asyncProperty(body, async (value) => {
        const before = await live();
        const res = await json('/policies', typeof value === 'string' ? { policies: value } : value, 'PUT', admin);
        if (res.status === 200) return (res.body as { version: string }).version === (await live());
        return isCodedClientError(res.status, res.body, KNOWN) && (await live()) === before;
      }),
      { numRuns: 80 },
    );
  });

  test('POST /policies/impact: any body is a report or refused with a code; the live version never changes', async () => {
    const admin = { authorization: `Bearer ${ADMIN}` };
    const live = async () => ((await (await fetch(`${base}/policies`, { headers: admin })).json()) as { version: string }).version;
    const before = await live();
    const body = fc.oneof(
      fc.jsonValue(),
      fc.record(
        {
          policies: fc.oneof(text(300), fc.constant('@id("x") permit(principal, action, resource);')),
          schema: fc.option(text(200), { nil: undefined }),
          entities: fc.jsonValue(),
          last: fc.oneof(fc.integer(), fc.double(), fc.jsonValue()),
          minutes: fc.oneof(fc.integer(), fc.double(), fc.jsonValue()),
        },
        { requiredKeys: ['policies'] },
      ),
    );
    await fc.assert(
      fc.asyncProperty(body, async (value) => {
        const res = await json('/policies/impact', value, 'POST', admin);
        if (res.status === 200) return typeof (res.body as { covered?: unknown }).covered === 'number';
        return isCodedClientError(res.status, res.body, KNOWN);
      }),
      { numRuns: 80 },
    );
    assert.equal(await live(), before);
  });

  test('a lone surrogate anywhere in a body is a 400 E_MALFORMED_JSON, never a 500; the live set stays', async () => {
    const request = (id: string, context: Record<string, unknown> = {}) => ({
      principal: { type: 'User', id },
      action: { type: 'Action', id: 'view' },
      resource: { type: 'Document', id: 'doc-1' },
      context,
    });
    const admin = { authorization: `Bearer ${ADMIN}` };
    const { version } = (await (await fetch(`${base}/policies`, { headers: admin })).json()) as { version: string };
    const answers = [
      await json('/evaluate', request('\ud800')),
      await json('/evaluate', request('bob', { '\udc00': 1 })),
      await json('/evaluate/batch', { requests: [request('bob'), request('x\udfff')] }),
      await json('/policies', { policies: 'permit(principal, action, resource);', schema: 'entity \ud800;' }, 'PUT', admin),
      await json(
        '/policies/impact',
        { policies: 'permit(principal, action, resource);', entities: [{ uid: { type: 'User', id: '\ud800' } }] },
        'POST',
        admin,
      ),
    ];
    for (const answer of answers) {
      assert.equal(answer.status, 400, JSON.stringify(answer));
      assert.equal((answer.body as { error: { code: string } }).error.code, ERROR_CODES.malformedJson);
    }
    const live = (await (await fetch(`${base}/policies`, { headers: admin })).json()) as { version: string };
    assert.equal(live.version, version);
  });

  test('afterwards the service is alive and evaluates', async () => {
    assert.equal((await fetch(`${base}/alive`)).status, 200);
    const res = await json('/evaluate', {
      principal: { type: 'User', id: 'x' },
      action: { type: 'Action', id: 'view' },
      resource: { type: 'Document', id: 'd' },
    });
    assert.ok(res.status === 200 || isCodedClientError(res.status, res.body, KNOWN), JSON.stringify(res));
  });
});
