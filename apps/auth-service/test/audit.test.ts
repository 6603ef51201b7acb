import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { parseAuthDecisions, TOPICS, type AuthDecisionEvent } from '@portcullis/contracts';
import { MessageBus } from '@portcullis/message-bus';
import { Registry, createLogger } from '@portcullis/observability';
import { logLines, useRedisServer, uniqueId } from '@portcullis/testing';
import { AuditJournal } from '../src/audit-journal.ts';
import { DecisionAudit, type AuditRecord } from '../src/audit.ts';

const run = promisify(execFile);
const log = createLogger({ service: 'audit-test', level: 'silent' });

function decision(requestId: string, verdict: 'allow' | 'deny' = 'allow'): AuthDecisionEvent {
  return { principal: 'alice', action: 'view', resource: 'Document::d1', decision: verdict, policyVersion: 'v1', cache: 'miss', requestId };
}

describe('DecisionAudit on a real redis-server', () => {
  const redis = useRedisServer();
  let bus: MessageBus;
  let dir: string;
  const applied = new Map<string, number>();
  /** Messages handled, by priority. */
  const messages = { normal: 0, high: 0 };
  let onApplied = (): void => undefined;
  before(async () => {
    bus = new MessageBus({ redis: redis.url, registry: new Registry(), logger: log, source: 'audit-test' });
    await bus.subscribe<AuthDecisionEvent[]>(
      TOPICS.authDecision.topic,
      (message) => {
        for (const event of message.payload) {
          applied.set(event.requestId, (applied.get(event.requestId) ?? 0) + 1);
          assert.equal(message.priority, event.decision === 'deny' ? 'high' : 'normal', 'denials travel at high priority');
        }
        messages[message.priority as 'normal' | 'high'] += 1;
        onApplied();
      },
      { mode: 'work', group: uniqueId('g'), parse: parseAuthDecisions },
    );
  });
  after(async () => {
    await bus.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** A bus whose publishes fail until `up` is set, then go to the real one. */
  const gatedBus = () => {
    const gate = {
      up: false,
      bus: {
        publishBatch: (items: Parameters<MessageBus['publishBatch']>[0]) =>
          gate.up ? bus.publishBatch(items) : Promise.reject(new Error('the bus is away')),
      } as unknown as MessageBus,
    };
    return gate;
  };

  /** Resolves when every id has been applied. */
  const allApplied = (ids: string[]): Promise<void> =>
    new Promise((resolve) => {
      onApplied = () => {
        if (ids.every((id) => applied.has(id))) resolve();
      };
      onApplied();
    });

  test('events recorded while a batch is stuck in flight are all sent once it ends; the journal is left empty', async () => {
    dir = mkdtempSync(join(tmpdir(), 'audit-test-'));
    const audit = new DecisionAudit({ bus, log, flushMs: 1, batchSize: 5, journal: new AuditJournal<AuditRecord>(dir) });
    // Writes paused for 300 ms: the first batch hangs, and its timer fires meanwhile.
    await run('redis-cli', ['-p', String(redis.port), 'CLIENT', 'PAUSE', '300', 'WRITE']);
    const ids = Array.from({ length: 40 }, (_, i) => uniqueId(`r${i}`));
    for (const id of ids.slice(0, 20)) audit.record(decision(id));
    const inFlight = audit.flush();
    for (const id of ids.slice(20)) audit.record(decision(id));
    assert.ok(readdirSync(dir).length >= 1, 'journalled before any was sent');
    await inFlight;
    await allApplied(ids);
    await audit.close();
    assert.deepEqual(readdirSync(dir), [], 'every segment sent and deleted');
    assert.ok(
      ids.every((id) => applied.get(id) === 1),
      'each applied once',
    );
  });

  test('what a closed audit could not send is sent by the next one on the same journal, under the same ids', async () => {
    dir = mkdtempSync(join(tmpdir(), 'audit-test-'));
    const down = new MessageBus({ redis: 'redis://127.0.0.1:1', registry: new Registry(), logger: log, source: 'audit-test' });
    const ids = Array.from({ length: 7 }, (_, i) => uniqueId(`k${i}`));
    const first = new DecisionAudit({ bus: down, log, journal: new AuditJournal<AuditRecord>(dir) });
    for (const id of ids) first.record(decision(id));
    await first.close(300);
    await down.close({ timeoutMs: 200 });
    assert.ok(readdirSync(dir).length >= 1, 'unsent events stay in the journal');
    const next = new DecisionAudit({ bus, log, journal: new AuditJournal<AuditRecord>(dir) });
    assert.equal(next.recovered, ids.length);
    await allApplied(ids);
    await next.close();
    assert.deepEqual(readdirSync(dir), []);
  });

  test('decisions travel in batches, allows and denials apart; a resend after a crash makes the same messages, so none is applied twice', async () => {
    dir = mkdtempSync(join(tmpdir(), 'audit-test-'));
    const before = { ...messages };
    // The first process gets its first chunk (two messages: allows, denials) out and dies
    // before the rest of that send is stored: its publish never settles.
    const dying = {
      publishBatch: async (items: Parameters<MessageBus['publishBatch']>[0]) => {
        await bus.publishBatch(items.slice(0, 2));
        return new Promise<string[]>(() => undefined);
      },
    } as unknown as MessageBus;
    const first = new DecisionAudit({ bus: dying, log, flushMs: 60_000, batchSize: 5, journal: new AuditJournal<AuditRecord>(dir) });
    const ids = Array.from({ length: 12 }, (_, i) => uniqueId(`c${i}`));
    ids.forEach((id, i) => first.record(decision(id, i % 3 === 0 ? 'deny' : 'allow')));
    void first.flush();
    await allApplied(ids.slice(0, 5));
    assert.deepEqual(
      { normal: messages.normal - before.normal, high: messages.high - before.high },
      { normal: 1, high: 1 },
      'the first 5 decisions went out as one message of allows and one of denials',
    );
    // Nothing was settled in the journal's eyes but the first chunk: the next process
    // (here: another audit on the same directory) resends every line, chunked the same way.
    const next = new DecisionAudit({ bus, log, flushMs: 1, batchSize: 5, journal: new AuditJournal<AuditRecord>(dir) });
    assert.equal(next.recovered, 12);
    await allApplied(ids);
    await next.close();
    // The resent first chunk is dropped by the consumer's deduplication (its message ids
    // are the same); the handler would have counted it twice otherwise. Wait for one more
    // message after it, so a late duplicate would have been seen.
    const sentinel = uniqueId('sentinel');
    await bus.publish(TOPICS.authDecision.topic, { decisions: [decision(sentinel)] });
    await allApplied([sentinel]);
    assert.ok(
      ids.every((id) => applied.get(id) === 1),
      `each applied once: ${JSON.stringify(ids.map((id) => applied.get(id)))}`,
    );
  });

  test('a backlog of several chunks goes out in one publish, each chunk its own messages', async () => {
    dir = mkdtempSync(join(tmpdir(), 'audit-test-'));
    const before = messages.normal;
    const published: number[] = [];
    const counting = {
      publishBatch: (items: Parameters<MessageBus['publishBatch']>[0]) => {
        published.push(items.length);
        return bus.publishBatch(items);
      },
    } as unknown as MessageBus;
    const audit = new DecisionAudit({ bus: counting, log, flushMs: 60_000, batchSize: 5, journal: new AuditJournal<AuditRecord>(dir) });
    const ids = Array.from({ length: 12 }, (_, i) => uniqueId(`b${i}`));
    for (const id of ids) audit.record(decision(id));
    await audit.flush();
    await allApplied(ids);
    assert.deepEqual(published, [3], 'one publish of three messages (chunks of 5, 5 and 2)');
    assert.equal(messages.normal - before, 3);
    await audit.close();
    assert.deepEqual(readdirSync(dir), []);
  });

  // The timeout turns a lost event (never applied) into a failure rather than a hang.
  test(
    'past maxBuffered, events wait in the journal alone and are read back once the bus is back: none dropped, each applied once',
    { timeout: 30_000 },
    async () => {
      dir = mkdtempSync(join(tmpdir(), 'audit-test-'));
      const gate = gatedBus();
      const audit = new DecisionAudit({
        bus: gate.bus,
        log,
        flushMs: 1,
        batchSize: 3,
        maxBuffered: 5,
        journal: new AuditJournal<AuditRecord>(dir),
      });
      const ids = Array.from({ length: 23 }, (_, i) => uniqueId(`s${i}`));
      for (const id of ids.slice(0, 12)) audit.record(decision(id));
      await audit.flush(); // fails: the batch goes back, none lost
      for (const id of ids.slice(12)) audit.record(decision(id));
      gate.up = true;
      await allApplied(ids);
      await audit.close();
      assert.equal(audit.dropped, 0);
      assert.ok(
        ids.every((id) => applied.get(id) === 1),
        `each applied once: ${JSON.stringify(ids.map((id) => applied.get(id)))}`,
      );
      assert.deepEqual(readdirSync(dir), [], 'every segment sent and deleted');
    },
  );

  test(
    'sends failing in a row are logged on the 1st, 2nd, 4th… only, then once more when they work again; nothing is lost',
    { timeout: 30_000 },
    async () => {
      dir = mkdtempSync(join(tmpdir(), 'audit-test-'));
      const gate = gatedBus();
      const { lines, destination } = logLines();
      const audit = new DecisionAudit({
        bus: gate.bus,
        log: createLogger({ service: 'audit-test', level: 'info', destination }),
        flushMs: 60_000,
        journal: new AuditJournal<AuditRecord>(dir),
      });
      const id = uniqueId('away');
      audit.record(decision(id));
      for (let attempt = 0; attempt < 20; attempt += 1) await audit.flush();
      const failures = lines.filter((line) => line.includes('could not publish auth.decision')).map((line) => JSON.parse(line).failures);
      assert.deepEqual(failures, [1, 2, 4, 8, 16]);
      gate.up = true;
      await audit.flush();
      await allApplied([id]);
      assert.ok(lines.some((line) => line.includes('publishing auth.decision again') && JSON.parse(line).failures === 20));
      await audit.close();
    },
  );

  // A decision the consumer refuses is never applied: the timeout makes that a failure, not a hang.
  test('a batch too large for one message goes out as several, every decision applied once', { timeout: 30_000 }, async () => {
    dir = mkdtempSync(join(tmpdir(), 'audit-test-'));
    const before = messages.normal;
    const audit = new DecisionAudit({ bus, log, flushMs: 1, journal: new AuditJournal<AuditRecord>(dir) });
    // 40 decisions of ~60 KB each (the largest contexts a body may carry): ~2.4 MB, more than one message holds.
    const ids = Array.from({ length: 40 }, (_, i) => uniqueId(`big${i}`));
    for (const id of ids) audit.record({ ...decision(id), context: { note: 'x'.repeat(60_000) } });
    await allApplied(ids);
    await audit.close();
    assert.ok(messages.normal - before >= 3, `split into ${messages.normal - before} messages`);
    assert.ok(ids.every((id) => applied.get(id) === 1));
  });

  test('a journal that cannot be written does not fail the decision: the event is sent from memory and counted', async () => {
    dir = mkdtempSync(join(tmpdir(), 'audit-test-'));
    const audit = new DecisionAudit({ bus, log, journal: new AuditJournal<AuditRecord>(dir) });
    rmSync(dir, { recursive: true, force: true }); // the directory is gone: every append fails
    const id = uniqueId('nodisk');
    assert.doesNotThrow(() => audit.record(decision(id)));
    assert.equal(audit.unjournalled, 1);
    await allApplied([id]);
    await audit.close();
  });
});
