import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** Where an entry is: its segment file and its line there (counted from 0), and the line's length as JSON. */
export interface JournalPosition {
  segment: number;
  line: number;
  /** UTF-16 length of the entry's JSON (what a message carrying it grows by). */
  length: number;
}

/** One journalled entry: what the audit publishes, and where it is. */
export interface JournalEntry<T> extends JournalPosition {
  value: T;
}

const SEGMENT = /^(\d+)-(\d+)\.ndjson$/;

/** True when a process with this pid exists (EPERM: it exists but is not ours to signal). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The entries of one segment file, each at its line (counted from 0 over non-empty
 * lines, as `append` numbers them); undefined where a line does not parse (a write cut
 * short by a full disk).
 */
function readSegment<T>(path: string, segment: number): (JournalEntry<T> | undefined)[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((text) => text !== '')
    .map((text, line) => {
      try {
        return { value: JSON.parse(text) as T, segment, line, length: text.length };
      } catch {
        return undefined;
      }
    });
}

/**
 * A write-ahead journal for events that must outlive the process that produced them.
 * `append` writes one line to the current segment file with a synchronous write before
 * the caller answers, so a SIGKILLed or OOM-killed process loses none: the bytes are in
 * the kernel's page cache. The next process started on the same directory adopts the
 * segments of processes that are gone (renaming each, so two starting at once cannot both
 * take one) and hands their entries back to be sent again. It survives the process, not
 * the machine: there is no fsync, which would cost a disk flush a decision.
 *
 * Segments are named `<pid>-<seq>.ndjson`. `rotate` closes the current one (a flush
 * does so before it sends), and a closed segment is deleted once every entry in it is
 * `settle`d, so the directory holds only what has not been sent yet.
 */
export class AuditJournal<T> {
  readonly #dir: string;
  #seq = 0;
  #fd: number | undefined;
  #segment = 0;
  /** Lines written to the current segment. */
  #lines = 0;
  /** Entries not yet settled, per segment; closed segments are deleted when theirs reach 0. */
  readonly #pending = new Map<number, { count: number; closed: boolean }>();

  /** Opens (creating) `dir`; nothing is adopted until {@link recover}. */
  constructor(dir: string) {
    this.#dir = dir;
    mkdirSync(dir, { recursive: true });
    // An earlier process with this pid (a restarted container's pid 1) may have left
    // segments: number ours past them, so adopting never renames onto one of them.
    for (const name of readdirSync(dir)) {
      const match = SEGMENT.exec(name);
      if (match !== null && Number(match[1]) === process.pid) this.#seq = Math.max(this.#seq, Number(match[2]));
    }
  }

  /**
   * Adopts the segments of processes that are no longer running (and of an earlier
   * process that had this pid) and returns their entries, oldest segment first, each at
   * the line it was written to. A line that does not parse (a write cut short by a full
   * disk) is skipped and counted.
   */
  recover(): { entries: JournalEntry<T>[]; unreadable: number } {
    const entries: JournalEntry<T>[] = [];
    let unreadable = 0;
    const orphans = readdirSync(this.#dir)
      .map((name) => ({ name, match: SEGMENT.exec(name) }))
      .filter(({ match }) => match !== null && (Number(match[1]) === process.pid || !alive(Number(match[1]))))
      .sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
    for (const { name } of orphans) {
      const segment = this.#nextSegment();
      const path = this.#path(segment);
      try {
        renameSync(join(this.#dir, name), path);
      } catch {
        continue; // another process adopted it first
      }
      const lines = readSegment<T>(path, segment);
      const readable = lines.filter((entry) => entry !== undefined);
      entries.push(...readable);
      unreadable += lines.length - readable.length;
      const count = readable.length;
      this.#pending.set(segment, { count, closed: true });
      if (count === 0) this.#settleSegment(segment);
    }
    return { entries, unreadable };
  }

  /**
   * Reads back up to `max` of this process's unsettled entries from `from` on (its
   * segments in order, the current one included), for a caller that kept them on disk
   * only; says where to go on from, or undefined when every entry written so far was read.
   * A line that does not parse is settled (it can never be sent) and skipped.
   */
  readFrom(
    from: { segment: number; line: number },
    max: number,
  ): { entries: JournalEntry<T>[]; next: { segment: number; line: number } | undefined } {
    const entries: JournalEntry<T>[] = [];
    const segments = [...this.#pending.keys()].filter((segment) => segment >= from.segment).sort((a, b) => a - b);
    for (const segment of segments) {
      let lines: (JournalEntry<T> | undefined)[];
      try {
        lines = readSegment<T>(this.#path(segment), segment);
      } catch {
        this.#pending.delete(segment); // removed from under us: nothing left to read there
        continue;
      }
      for (let line = segment === from.segment ? from.line : 0; line < lines.length; line += 1) {
        if (entries.length === max) return { entries, next: { segment, line } };
        const entry = lines[line];
        if (entry === undefined) this.settle([segment]);
        else entries.push(entry);
      }
    }
    return { entries, next: undefined };
  }

  /** Appends one entry, synchronously, and says where it is. */
  append(value: T): JournalPosition {
    if (this.#fd === undefined) {
      this.#segment = this.#nextSegment();
      this.#fd = openSync(this.#path(this.#segment), 'a');
      this.#lines = 0;
      this.#pending.set(this.#segment, { count: 0, closed: false });
    }
    const json = JSON.stringify(value);
    writeSync(this.#fd, `${json}\n`);
    const state = this.#pending.get(this.#segment);
    if (state) state.count += 1;
    this.#lines += 1;
    return { segment: this.#segment, line: this.#lines - 1, length: json.length };
  }

  /** Closes the current segment; the next `append` starts another. */
  rotate(): void {
    if (this.#fd === undefined) return;
    try {
      closeSync(this.#fd);
    } catch {
      // the descriptor is gone either way; what was written stays on disk
    }
    this.#fd = undefined;
    const state = this.#pending.get(this.#segment);
    if (state) state.closed = true;
    if (state?.count === 0) this.#settleSegment(this.#segment);
  }

  /** Marks entries sent; a closed segment whose entries are all sent is deleted. */
  settle(segments: Iterable<number>): void {
    for (const segment of segments) {
      const state = this.#pending.get(segment);
      if (state === undefined) continue;
      state.count -= 1;
      if (state.count <= 0 && state.closed) this.#settleSegment(segment);
    }
  }

  /** Closes the current segment; unsent entries stay on disk for the next process. */
  close(): void {
    this.rotate();
  }

  #settleSegment(segment: number): void {
    this.#pending.delete(segment);
    try {
      unlinkSync(this.#path(segment));
    } catch {
      // already gone: nothing left to send from it
    }
  }

  #nextSegment(): number {
    this.#seq += 1;
    return this.#seq;
  }

  #path(segment: number): string {
    return join(this.#dir, `${process.pid}-${segment}.ndjson`);
  }
}
