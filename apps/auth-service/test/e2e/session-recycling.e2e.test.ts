// The policy-service ends each h2c session at its age limit (GOAWAY; POLICY_H2_SESSION_MAX_AGE_MS)
// so that, behind a balancer of connections, clients spread over the pods a scale-out added.
// The auth-service's client must ride those GOAWAYs under load: no decision fails for them.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DELETE_PHOTO, authenticate, startStack, type Stack } from './stack.ts';

describe('policy-service sessions recycled under load', () => {
  let stack: Stack;
  let token: string;
  before(async () => {
    stack = await startStack(1, {}, { POLICY_H2_SESSION_MAX_AGE_MS: '300' });
    token = await stack.token();
  });
  after(() => stack.close());

  test('sessions end every ~300 ms and are reopened; every new decision in between is answered', async () => {
    const url = stack.auth[0]!.url;
    const connects = async (): Promise<number> =>
      ((await (await fetch(`${url}/health`)).json()) as any).components['policy-service'].detail.connects as number;
    const first = await connects();
    let round = 0;
    // Rounds of 20 new decisions at once, until the client has opened three more sessions.
    for (const deadline = Date.now() + 30_000; (await connects()) < first + 3 && Date.now() < deadline; round += 1) {
      const answers = await Promise.all(
        Array.from({ length: 20 }, (_, n) => authenticate(url, token, { ...DELETE_PHOTO, context: { riskScore: round * 20 + n } })),
      );
      for (const answer of answers) assert.equal(answer.status, 200, JSON.stringify(answer.body));
    }
    assert.ok((await connects()) >= first + 3, `sessions opened: ${first} -> ${await connects()} over ${round} rounds`);
    assert.ok(round > 0);
  });
});
