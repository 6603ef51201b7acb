import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { EDIT_DOC, authenticate, startStack, type Stack } from './stack.ts';

const run = promisify(execFile);

describe('decision audit journal (real processes, real Redis)', () => {
  let stack: Stack;
  let journal: string;
  before(async () => {
    stack = await startStack(0);
    journal = await mkdtemp(join(tmpdir(), 'auth-journal-e2e-'));
  });
  after(async () => {
    await run('redis-cli', ['-p', String(stack.redis.port), 'CLIENT', 'UNPAUSE']).catch(() => undefined);
    await stack.close();
    await rm(journal, { recursive: true, force: true });
  });

  test('a SIGKILLed auth-service loses no audit event: the next one on its journal sends them', async () => {
    const first = await stack.addAuth({ AUTH_AUDIT_JOURNAL_DIR: journal });
    const token = await stack.token(0);
    assert.equal((await authenticate(first.url, token, EDIT_DOC)).status, 200);
    // Writes paused: the answers below come from L1, but their events cannot reach the bus,
    // so only the journal can save them from the kill.
    await run('redis-cli', ['-p', String(stack.redis.port), 'CLIENT', 'PAUSE', '60000', 'WRITE']);
    const ids: string[] = [];
    for (let i = 0; i < 20; i += 1) {
      const answer = await authenticate(first.url, token, EDIT_DOC);
      assert.equal(answer.status, 200);
      ids.push(answer.body.requestId as string);
    }
    await first.process.stop('SIGKILL');
    const journalled = (await Promise.all((await readdir(journal)).map((f) => readFile(join(journal, f), 'utf8')))).join('');
    for (const id of ids) assert.ok(journalled.includes(`"requestId":"${id}"`), `${id} is in the journal`);

    await run('redis-cli', ['-p', String(stack.redis.port), 'CLIENT', 'UNPAUSE']);
    const second = await stack.addAuth({ AUTH_AUDIT_JOURNAL_DIR: journal });
    await second.process.waitForLine(/"events":2[01].*sending auth\.decision events a previous process journalled/);
    for (const id of ids) await stack.policy.waitForLine(new RegExp(`^(?=.*"requestId":"${id}")(?=.*"msg":"auth decision")`));
    // Stopped gracefully, it leaves nothing behind: every event was sent and its segment deleted.
    await second.process.stop('SIGTERM');
    assert.deepEqual(await readdir(journal), []);
  });
});
