import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { AuditJournal } from '../src/audit-journal.ts';

/** The pid of a process that has exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(child.stdout.toString());
}

/** A pid below `pid` that no process has. */
function deadPidBelow(pid: number): number {
  for (let candidate = pid - 1; candidate > 1; candidate -= 1) {
    try {
      process.kill(candidate, 0);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ESRCH') return candidate;
    }
  }
  throw new Error(`every pid below ${pid} is in use`);
}

describe('AuditJournal (real files)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'journal-test-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('a segment stays until it is closed and every entry in it is settled', () => {
    const journal = new AuditJournal<{ n: number }>(dir);
    const a = journal.append({ n: 1 });
    const b = journal.append({ n: 2 });
    assert.equal(a.segment, b.segment);
    assert.deepEqual([a.line, b.line], [0, 1], 'lines counted from 0');
    assert.equal(readFileSync(join(dir, readdirSync(dir)[0]!), 'utf8'), '{"n":1}\n{"n":2}\n');
    journal.settle([a.segment, b.segment]);
    assert.equal(readdirSync(dir).length, 1, 'the open segment is kept');
    journal.rotate();
    assert.deepEqual(readdirSync(dir), [], 'closed and settled: deleted');
    const c = journal.append({ n: 3 });
    assert.notEqual(c.segment, a.segment, 'a new segment after rotate');
    assert.equal(c.line, 0, 'a new segment counts its lines afresh');
    journal.rotate();
    assert.equal(readdirSync(dir).length, 1, 'closed, not settled: kept');
    journal.settle([c.segment]);
    assert.deepEqual(readdirSync(dir), []);
  });

  test('readFrom reads back unsettled entries from a position on, across segments, a bounded number at a time', () => {
    const journal = new AuditJournal<{ n: number }>(dir);
    const first = [1, 2, 3, 4, 5].map((n) => journal.append({ n }));
    journal.rotate();
    const second = [6, 7, 8].map((n) => journal.append({ n }));
    const start = first[2]!;
    const page = journal.readFrom(start, 4);
    assert.deepEqual(
      page.entries.map(({ value, segment, line }) => [value.n, segment, line]),
      [
        [3, start.segment, 2],
        [4, start.segment, 3],
        [5, start.segment, 4],
        [6, second[0]!.segment, 0],
      ],
    );
    assert.deepEqual(page.next, { segment: second[0]!.segment, line: 1 });
    const rest = journal.readFrom(page.next!, 10);
    assert.deepEqual(
      rest.entries.map(({ value }) => value.n),
      [7, 8],
    );
    assert.equal(rest.next, undefined, 'everything written so far was read');
  });

  test("recover adopts a dead process's segments, in order, and skips a cut line", () => {
    const pid = deadPid();
    writeFileSync(join(dir, `${pid}-10.ndjson`), '{"n":3}\n');
    writeFileSync(join(dir, `${pid}-2.ndjson`), '{"n":1}\n{"n":2}\n{"n":');
    const journal = new AuditJournal<{ n: number }>(dir);
    const { entries, unreadable } = journal.recover();
    assert.deepEqual(
      entries.map((e) => e.value.n),
      [1, 2, 3],
    );
    assert.equal(unreadable, 1);
    assert.deepEqual(
      entries.map((e) => e.line),
      [0, 1, 0],
      'each at the line it was written to, as the audit chunks by it',
    );
    assert.ok(
      readdirSync(dir).every((name) => name.startsWith(`${process.pid}-`)),
      'renamed to this process',
    );
    journal.settle(entries.map((e) => e.segment));
    assert.deepEqual(readdirSync(dir), [], 'sent: deleted');
  });

  test("a live process's segments are left alone; an earlier one with this pid is adopted without overwriting", () => {
    writeFileSync(join(dir, `${process.ppid}-1.ndjson`), '{"n":9}\n');
    // Left by an earlier process with this pid (a restarted container's pid 1), numbered
    // so that adopting them in order would rename one onto another if numbering began at 1.
    // A dead pid below this one sorts first and would take number 1.
    writeFileSync(join(dir, `${deadPidBelow(process.pid)}-1.ndjson`), '{"n":0}\n');
    writeFileSync(join(dir, `${process.pid}-1.ndjson`), '{"n":1}\n');
    writeFileSync(join(dir, `${process.pid}-2.ndjson`), '{"n":2}\n');
    const journal = new AuditJournal<{ n: number }>(dir);
    const { entries } = journal.recover();
    assert.deepEqual(entries.map((e) => e.value.n).sort(), [0, 1, 2]);
    assert.ok(readdirSync(dir).includes(`${process.ppid}-1.ndjson`), "the parent's segment is untouched");
    const appended = journal.append({ n: 3 });
    assert.ok(!entries.some((e) => e.segment === appended.segment), 'new entries go to a new segment');
  });
});
