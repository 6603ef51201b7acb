import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { TOPICS, type AuthDecisionBatch, type AuthDecisionEvent } from '@portcullis/contracts';
import type { BatchItem, MessageBus, Priority } from '@portcullis/message-bus';
import type { Logger } from '@portcullis/observability';
import { FailureRun } from '@portcullis/resilience';
import type { AuditJournal, JournalPosition } from './audit-journal.ts';

/** An event with the `traceparent` of the request that decided it. */
export interface AuditRecord {
  event: AuthDecisionEvent;
  traceparent: string | undefined;
}

/** Options for {@link DecisionAudit}. */
export interface DecisionAuditOptions {
  bus: MessageBus | undefined;
  log: Logger;
  /** Events per chunk: one message of its allows and one of its denials. Default 200. */
  batchSize?: number;
  /** Longest an event waits before it is sent (ms). Default 50. */
  flushMs?: number;
  /**
   * Events kept in memory while the bus is away or behind. Past it, journalled events stay
   * on disk only and are read back as the buffer empties; an event that could not be
   * journalled is dropped and counted. Default 10 000.
   */
  maxBuffered?: number;
  /** Write-ahead journal: every event is on disk before its answer leaves. */
  journal?: AuditJournal<AuditRecord>;
}

/** A buffered record and where the journal holds it (none when it could not be written). */
type Buffered = AuditRecord & { position: JournalPosition | undefined };

/**
 * Publishes `auth.decision` off the request path: `record` appends to the journal (one
 * synchronous write) and a bounded buffer (past its bound, the journal alone holds events
 * until the buffer has room to read them back), and a timer sends batches, so a slow or absent
 * bus never slows or fails a request, and a killed process loses no event: the next one
 * sends what the journal still holds, under the same message ids, so the consumer's
 * deduplication drops those that had gone out.
 *
 * Events travel in batches ({@link AuthDecisionBatch}): a flush publishes one message for
 * its allows and one for its denials (at `high` priority, as PRODUCT.md's event table
 * says), so the stream entry, dedup marker and ack are paid once a batch, not once a
 * decision. For the ids to be the same when the next process resends, a chunk never
 * spans journal segments and starts at a multiple of `batchSize` within its segment: the
 * same lines always make the same chunks, and a message id is a digest of its events'
 * request ids.
 */
export class DecisionAudit {
  readonly #options: Required<Omit<DecisionAuditOptions, 'bus' | 'journal'>> & Pick<DecisionAuditOptions, 'bus' | 'journal'>;
  #buffer: Buffered[] = [];
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | undefined;
  /** Sends failing in a row (Redis away, a stream key of the wrong type): backoff, and logs that thin out. */
  readonly #failures = new FailureRun({ baseMs: 50, maxMs: 2000 });
  /** Where the events kept on disk only begin (every journalled event from there on is). */
  #spilled: { segment: number; line: number } | undefined;
  /** Events published so far. */
  #sent = 0;
  /** Events lost: not journalled, and no room in memory. */
  dropped = 0;
  /** Events that could not be journalled (kept in memory only). */
  unjournalled = 0;
  /** Events a previous process had journalled and this one took over to send. */
  readonly recovered: number;

  constructor(options: DecisionAuditOptions) {
    this.#options = { batchSize: 200, flushMs: 50, maxBuffered: 10_000, ...options };
    const { entries, unreadable } = options.bus && options.journal ? options.journal.recover() : { entries: [], unreadable: 0 };
    this.recovered = entries.length;
    if (entries.length > 0 || unreadable > 0)
      options.log.info({ events: entries.length, unreadable }, 'sending auth.decision events a previous process journalled');
    for (const { value, segment, line, length } of entries) this.#buffer.push({ ...value, position: { segment, line, length } });
    if (this.#buffer.length > 0) this.#timer = setTimeout(() => void this.flush(), 0);
  }

  /** Queues one event; `traceparent` rides in its envelope so the consumer's span joins the request's trace. */
  record(event: AuthDecisionEvent, traceparent?: string): void {
    if (this.#options.bus === undefined) return;
    const position = this.#journal({ event, traceparent });
    const full = this.#buffer.length >= this.#options.maxBuffered;
    // Once some are on disk only, so are all later ones, so reading back keeps the order.
    if (position !== undefined && (full || this.#spilled !== undefined)) this.#spilled ??= position;
    else if (full) this.dropped += 1;
    else this.#buffer.push({ event, traceparent, position });
    this.#schedule();
  }

  /** A send in `flushMs`, or once the backoff after failed sends is over; one timer at a time. */
  #schedule(): void {
    this.#timer ??= setTimeout(() => void this.flush(), Math.max(this.#options.flushMs, this.#failures.retryInMs));
  }

  /**
   * Journals one record. A journal that cannot be written (disk full, directory gone)
   * does not fail the request: the event goes on in memory only, as without a journal,
   * counted in `unjournalled` and logged on the first failure and every 1000th.
   */
  #journal(record: AuditRecord): JournalPosition | undefined {
    if (this.#options.journal === undefined) return undefined;
    try {
      return this.#options.journal.append(record);
    } catch (error) {
      if (this.unjournalled % 1000 === 0)
        this.#options.log.error(
          { err: error, unjournalled: this.unjournalled + 1 },
          'cannot write the audit journal; events kept in memory only',
        );
      this.unjournalled += 1;
      return undefined;
    }
  }

  /** Sends one batch of what is buffered; on failure the batch is kept (up to the bound) for the next try. */
  flush(): Promise<void> {
    // A timer that fires while a batch is in flight has done its job: the batch's end
    // schedules the next one when events are waiting.
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#inFlight ??= this.#send().finally(() => {
      this.#inFlight = undefined;
    });
    return this.#inFlight;
  }

  /**
   * Sends what it can within `timeoutMs`, then closes the journal: what is left there is
   * the next process's to send.
   */
  async close(timeoutMs = 2000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    // Until all is sent, a send fails (nothing more went out), or time is up.
    for (let sent = -1; (this.#buffer.length > 0 || this.#spilled !== undefined) && this.#sent > sent && Date.now() < deadline;) {
      sent = this.#sent;
      await Promise.race([this.flush(), sleep(Math.max(0, deadline - Date.now()), undefined, { ref: false })]);
    }
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#options.journal?.close();
  }

  async #send(): Promise<void> {
    const bus = this.#options.bus;
    if (bus === undefined) return;
    this.#readBack();
    if (this.#buffer.length === 0) return;
    // Events recorded from now on go to a new segment, so this one can be deleted once sent.
    this.#options.journal?.rotate();
    // One chunk when the bus keeps up; a backlog (a slow Redis, replicas to wait for) goes
    // out several chunks a round trip, so the send rate grows with the backlog.
    const chunks: Buffered[][] = [];
    while (chunks.length < CHUNKS_PER_SEND && this.#buffer.length > 0)
      chunks.push(this.#buffer.splice(0, chunkLength(this.#buffer, this.#options.batchSize)));
    const batch = chunks.flat();
    try {
      await bus.publishBatch(chunks.flatMap(messagesOf));
      this.#sent += batch.length;
      this.#options.journal?.settle(batch.flatMap(({ position }) => (position === undefined ? [] : [position.segment])));
      const failed = this.#failures.succeed();
      if (failed > 0) this.#options.log.info({ failures: failed }, 'publishing auth.decision again');
    } catch (error) {
      const { retryInMs, log } = this.#failures.fail();
      if (log)
        this.#options.log.warn(
          { err: error, events: batch.length, failures: this.#failures.count, retryInMs },
          'could not publish auth.decision; will retry',
        );
      // All of it goes back: memory may pass its bound by one send while events recorded
      // meanwhile filled it, rather than lose events only memory held.
      this.#buffer.unshift(...batch);
    }
    if (this.#buffer.length > 0 || this.#spilled !== undefined) this.#schedule();
  }

  /** Moves events kept on disk only back into the buffer, as far as it has room. */
  #readBack(): void {
    const room = this.#options.maxBuffered - this.#buffer.length;
    if (this.#spilled === undefined || this.#options.journal === undefined || room <= 0) return;
    const { entries, next } = this.#options.journal.readFrom(this.#spilled, room);
    for (const { value, segment, line, length } of entries) this.#buffer.push({ ...value, position: { segment, line, length } });
    this.#spilled = next;
  }
}

/**
 * Most chunks one send carries. A send is one round trip (and one replica WAIT with
 * REDIS_WAIT_REPLICAS): with one chunk per send, a burst on the cluster outran the sends
 * and filled the buffer (`npm run chaos -- --cluster`, burst step).
 */
const CHUNKS_PER_SEND = 10;

/**
 * How many of `buffer`'s first records make the next chunk: up to `size`, all from the
 * first one's segment and block of `size` lines (or all unjournalled), so a resend of the
 * same segment makes the same chunks.
 */
function chunkLength(buffer: readonly Buffered[], size: number): number {
  const first = buffer[0]?.position;
  const sameBlock = (other: JournalPosition | undefined): boolean =>
    first === undefined
      ? other === undefined
      : other !== undefined && other.segment === first.segment && Math.floor(other.line / size) === Math.floor(first.line / size);
  let length = 1;
  while (length < Math.min(size, buffer.length) && sameBlock(buffer[length]?.position)) length += 1;
  return length;
}

/**
 * Most JSON a message's decisions may take: far below the bus's maxMessageBytes (8 MiB),
 * which 200 events with the largest contexts and tokens the limits let through could pass.
 */
const MAX_MESSAGE_JSON = 1024 * 1024;

/**
 * One chunk's messages: its allows and its denials (split further, in order, past
 * {@link MAX_MESSAGE_JSON}), each under an id made from its request ids.
 */
function messagesOf(chunk: readonly Buffered[]): BatchItem<AuthDecisionBatch>[] {
  const groups: { priority: Priority; records: Buffered[]; length: number }[] = [];
  const open = new Map<Priority, (typeof groups)[number]>();
  for (const record of chunk) {
    const priority = record.event.decision === 'deny' ? 'high' : TOPICS.authDecision.priority;
    const length = record.position?.length ?? JSON.stringify(record.event).length;
    let group = open.get(priority);
    if (group === undefined || (group.records.length > 0 && group.length + length > MAX_MESSAGE_JSON)) {
      group = { priority, records: [], length: 0 };
      groups.push(group);
      open.set(priority, group);
    }
    group.records.push(record);
    group.length += length;
  }
  return groups.map(({ priority, records }) => {
    const digest = createHash('sha256');
    for (const { event } of records) digest.update(event.requestId).update('\n');
    return {
      topic: TOPICS.authDecision.topic,
      payload: { decisions: records.map(({ event }) => event) },
      priority,
      id: `auth.decision:${digest.digest('base64url')}`,
      // One envelope, one trace context: the first sampled request's, so the consumer's
      // span joins a trace someone keeps (the others' spans would be dropped anyway).
      traceparent: (records.find(({ traceparent }) => traceparent?.endsWith('-01')) ?? records.find(({ traceparent }) => traceparent))
        ?.traceparent,
    };
  });
}
