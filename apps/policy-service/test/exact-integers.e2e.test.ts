import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { freePort, h2Connect, h2Request, startProcess, type ProcessHandle } from '@portcullis/testing';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const ADMIN = 'test-admin-token-0123456789';
// Cedar's Long is a signed 64-bit integer; a JSON.parse double is exact only to 2^53.
const POLICIES = `
@id("exact-2^53+1") permit(principal, action, resource) when { context has n && context.n == 9007199254740993 };
@id("long-max") permit(principal, action, resource) when { context has n && context.n == 9223372036854775807 };
@id("long-min") permit(principal, action, resource) when { context has n && context.n == -9223372036854775808 };
@id("big-file") permit(principal, action, resource is File) when { resource.size == 9007199254740993 };
`;
// Written as text: JSON.stringify of a number literal would already have rounded it.
const ENTITIES =
  '[{"uid":{"type":"File","id":"loaded"},"attrs":{"size":9007199254740993},"parents":[]},{"uid":{"type":"File","id":"rounded"},"attrs":{"size":9007199254740992},"parents":[]}]';
const CASES: [n: string, decision: 'allow' | 'deny', reasons: string[]][] = [
  ['9007199254740992', 'deny', []],
  ['9007199254740993', 'allow', ['exact-2^53+1']],
  ['9223372036854775807', 'allow', ['long-max']],
  ['-9223372036854775808', 'allow', ['long-min']],
];
const TOO_BIG = '9223372036854775808';
const item = (n: string, resource = '{"type":"Doc","id":"d"}') =>
  `{"principal":{"type":"User","id":"u"},"action":{"type":"Action","id":"view"},"resource":${resource},"context":{"n":${n}}}`;

describe('integers reach Cedar exactly (HTTP/1.1 and h2c, single and batch)', () => {
  let service: ProcessHandle;
  let dir: string;
  let port: number;
  const http1 = async (method: string, path: string, body: string, headers: Record<string, string> = {}) => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, {
      method,
      body,
      headers: { 'content-type': 'application/json', ...headers },
    });
    return { status: res.status, text: await res.text() };
  };
  const h2 = async (path: string, body: string) => {
    const session = h2Connect(port);
    try {
      const res = await h2Request(session, 'POST', path, body, { 'content-type': 'application/json' });
      return { status: res.status, text: res.body };
    } finally {
      session.close();
    }
  };
  const transports = { 'HTTP/1.1': (path: string, body: string) => http1('POST', path, body), h2c: h2 };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'exact-'));
    await writeFile(join(dir, 'policies.cedar'), POLICIES);
    await writeFile(join(dir, 'entities.json'), ENTITIES);
    port = await freePort();
    service = await startProcess({
      command: process.execPath,
      args: [MAIN],
      env: { POLICY_PORT: String(port), POLICY_DIR: dir, POLICY_WATCH: 'false', POLICY_ADMIN_TOKEN: ADMIN },
      readyWhen: /policy-service ready on/,
    });
  });
  after(async () => {
    await service.stop('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  for (const [name, send] of Object.entries(transports)) {
    test(`${name}: /evaluate decides on the exact value; past 2^63-1 is a 400 naming the field`, async () => {
      for (const [n, decision, reasons] of CASES) {
        const res = await send('/evaluate', item(n));
        assert.equal(res.status, 200, `${n}: ${res.text}`);
        const body = JSON.parse(res.text) as { decision: string; reasons: string[] };
        assert.equal(body.decision, decision, n);
        assert.deepEqual(body.reasons, reasons, n);
      }
      const refused = await send('/evaluate', item(TOO_BIG));
      assert.equal(refused.status, 400);
      const { error } = JSON.parse(refused.text) as { error: { code: string; message: string } };
      assert.equal(error.code, 'E_VALIDATION');
      assert.match(error.message, /^context\.n: 9223372036854775808 is not exactly a 64-bit integer/);
    });

    test(`${name}: an integer written with a fraction or exponent decides exactly; a fraction a double would round is a 400`, async () => {
      for (const [n, reason] of [
        ['9007199254740993.0', 'exact-2^53+1'],
        ['9.223372036854775807e18', 'long-max'],
      ] as const) {
        const res = await send('/evaluate', item(n));
        assert.equal(res.status, 200, `${n}: ${res.text}`);
        assert.deepEqual((JSON.parse(res.text) as { reasons: string[] }).reasons, [reason], n);
      }
      // JSON.parse reads these as 9007199254740992 (2^53) and 0: each would be decided on a number nobody sent.
      for (const n of ['9007199254740992.0000000001', '1e-400', '1e400']) {
        const res = await send('/evaluate', item(n));
        assert.equal(res.status, 400, `${n}: ${res.text}`);
        assert.match(res.text, /"code":"E_VALIDATION".*context\.n: /, n);
      }
    });

    test(`${name}: /evaluate/batch answers each slot exactly; the unrepresentable one fails alone`, async () => {
      const res = await send(
        '/evaluate/batch',
        `{"requests":[${[...CASES.map(([n]) => item(n)), item(TOO_BIG), item('-9223372036854775809')].join(',')}]}`,
      );
      assert.equal(res.status, 200, res.text);
      const { results } = JSON.parse(res.text) as { results: Record<string, any>[] };
      CASES.forEach(([n, decision, reasons], index) => {
        assert.equal(results[index]?.decision, decision, n);
        assert.deepEqual(results[index]?.reasons, reasons, n);
      });
      for (const slot of [results[4], results[5]]) {
        assert.equal(slot?.error.code, 'E_VALIDATION');
        assert.match(slot?.error.message, /^context\.n: /);
      }
    });
  }

  test('entities: from entities.json, sent with a request, and in PUT /policies, all exact', async () => {
    const decide = async (resource: string, entities = '[]') => {
      const { decision, reasons } = JSON.parse(
        (await http1('POST', '/evaluate', item('0', resource).replace(/}$/, `,"entities":${entities}}`))).text,
      ) as { decision: string; reasons: string[] };
      return { decision, reasons };
    };
    assert.deepEqual(await decide('{"type":"File","id":"loaded"}'), { decision: 'allow', reasons: ['big-file'] });
    assert.equal((await decide('{"type":"File","id":"rounded"}')).decision, 'deny');
    assert.equal(
      (await decide('{"type":"File","id":"sent"}', '[{"uid":{"type":"File","id":"sent"},"attrs":{"size":9007199254740993},"parents":[]}]'))
        .decision,
      'allow',
    );
    assert.equal(
      (await decide('{"type":"File","id":"sent"}', '[{"uid":{"type":"File","id":"sent"},"attrs":{"size":9007199254740992},"parents":[]}]'))
        .decision,
      'deny',
    );

    const put = await http1(
      'PUT',
      '/policies',
      `{"policies":${JSON.stringify(POLICIES)},"entities":[{"uid":{"type":"File","id":"put"},"attrs":{"size":9007199254740993},"parents":[]}]}`,
      { authorization: `Bearer ${ADMIN}` },
    );
    assert.equal(put.status, 200, put.text);
    assert.equal((await decide('{"type":"File","id":"put"}')).decision, 'allow');

    const refused = await http1(
      'PUT',
      '/policies',
      `{"policies":"permit(principal, action, resource);","entities":[{"uid":{"type":"File","id":"x"},"attrs":{"size":${TOO_BIG}},"parents":[]}]}`,
      { authorization: `Bearer ${ADMIN}` },
    );
    assert.equal(refused.status, 400);
    assert.match(refused.text, /"code":"E_VALIDATION".*entities\.0\.attrs\.size/);
  });
});
