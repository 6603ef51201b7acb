import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DELETE_PHOTO, authenticate, startStack, type Stack } from './stack.ts';

const shedCount = async (url: string): Promise<number> => {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('portcullis_circuit_events_total{') && l.includes('event="shed"'));
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
};

describe('auth-service in front of a policy-service that has all it can take', () => {
  let stack: Stack;
  let token: string;
  before(async () => {
    // Four decisions on the wire at most, two gathering behind them: the test can fill both.
    stack = await startStack(1, { AUTH_POLICY_MAX_IN_FLIGHT: '4', AUTH_BATCH_MAX: '2' });
    token = await stack.token();
  });
  after(async () => {
    stack.policy.child.kill('SIGCONT');
    await stack.close();
  });

  test('past the in-flight limit new decisions are refused at once (503, Retry-After), never sent, never allowed; those held back are answered', async () => {
    const url = stack.auth[0]!.url;
    const cold = (n: number) => authenticate(url, token, { ...DELETE_PHOTO, context: { riskScore: n } });
    assert.equal((await cold(0)).status, 200);
    const shedBefore = await shedCount(url);
    // Frozen, the service answers nothing: what is sent stays in flight, and the limit stays full.
    stack.policy.child.kill('SIGSTOP');
    const burst = Array.from({ length: 8 }, (_, n) => cold(1 + n));
    // At most 4 + 1 on the wire and 2 gathering: one of eight at least is refused, and only a refusal can come back now.
    const first = await Promise.race(burst);
    assert.equal(first.status, 503, JSON.stringify(first.body));
    const refused = [];
    for (let n = 0; n < 5; n++) refused.push(await cold(100 + n));
    for (const answer of [first, ...refused]) {
      assert.equal(answer.status, 503);
      assert.equal(answer.body.error.code, 'E_DECISION_UNAVAILABLE');
      assert.equal(answer.headers.get('retry-after'), '1');
      assert.notEqual(answer.body.allowed, true);
    }
    stack.policy.child.kill('SIGCONT');
    const answers = await Promise.all(burst);
    const held = answers.filter((a) => a.status !== 503);
    assert.ok(held.length >= 4 && held.length <= 7, `held back and answered: ${held.length}`);
    for (const answer of held) assert.equal(answer.body.decision, 'deny', JSON.stringify(answer.body));
    assert.equal((await shedCount(url)) - shedBefore, 8 - held.length + refused.length, 'every refusal counted as shed');
    assert.equal((await cold(200)).body.decision, 'deny', 'decisions go on once the service answers again');
  });
});
