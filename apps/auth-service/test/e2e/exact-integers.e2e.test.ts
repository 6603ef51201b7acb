import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { authenticate, startStack, type Stack } from './stack.ts';

// The sample schema types riskScore as Long (Cedar: signed 64-bit).
const POLICIES = [
  '@id("exact-2^53+1") permit(principal, action, resource) when { context has riskScore && context.riskScore == 9007199254740993 };',
  '@id("long-max") permit(principal, action, resource) when { context has riskScore && context.riskScore == 9223372036854775807 };',
  '@id("long-min") permit(principal, action, resource) when { context has riskScore && context.riskScore == -9223372036854775808 };',
].join('\n');
const body = (n: string) => `{"action":"view","resource":{"type":"Document","id":"doc-1"},"context":{"riskScore":${n}}}`;

describe('/authenticate: context integers reach Cedar exactly', () => {
  let stack: Stack;
  let token: string;
  before(async () => {
    stack = await startStack(1);
    token = await stack.token();
    await stack.putPolicies(POLICIES);
  });
  after(() => stack.close());

  test('2^53+1, 2^63-1 and -2^63 are exact, and not confused with their rounded neighbour in the cache', async () => {
    const url = stack.auth[0]!.url;
    const cases: [string, boolean, string[]][] = [
      ['9007199254740993', true, ['exact-2^53+1']],
      ['9007199254740992', false, []],
      ['9223372036854775807', true, ['long-max']],
      ['-9223372036854775808', true, ['long-min']],
    ];
    for (const [n, allowed, reasons] of cases) {
      const res = await authenticate(url, token, body(n));
      assert.equal(res.status, 200, `${n}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.allowed, allowed, n);
      assert.deepEqual(res.body.reasons, reasons, n);
      assert.equal(res.body.cache, 'miss', `${n} is a decision of its own`);
    }
    // Written with a fraction, the same integer is the same decision, under the same key.
    const same = await authenticate(url, token, body('9007199254740993.0'));
    assert.deepEqual([same.body.allowed, same.body.reasons, same.body.cache], [true, ['exact-2^53+1'], 'l1']);
  });

  test('past the 64-bit range, or a fraction a double would round, is a 400 E_VALIDATION naming the field', async () => {
    for (const n of ['9223372036854775808', '-9223372036854775809', '1e19', '9007199254740992.0000000001', '80.000000000000001']) {
      const res = await authenticate(stack.auth[0]!.url, token, body(n));
      assert.equal(res.status, 400, n);
      assert.equal(res.body.error.code, 'E_VALIDATION');
      assert.match(res.body.error.message, /^context\.riskScore: /);
    }
  });
});
