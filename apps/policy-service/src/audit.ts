import { parseAuthDecisions, TOPICS, type AuthDecisionEvent } from '@portcullis/contracts';
import { RetryLaterError, type MessageBus } from '@portcullis/message-bus';
import type { Logger } from '@portcullis/observability';
import type { PrincipalStats, RecentDecisions } from './impact/recent.ts';

/**
 * Consumes `auth.decision` in one work-sharing group shared by the policy-service's
 * instances (each message is handled once; a message carries a batch of decisions, or
 * one from a producer that predates batching): an audit log line per decision. With
 * `recent`, each batch is first recorded in the shared stream `POST /policies/impact`
 * replays, and counted per principal beside it, once per message id; only what that
 * recorded now is logged. So the stream and the counts hold each decision exactly once,
 * whichever replica consumed it, and a process killed between recording and logging
 * loses only its log lines for that batch, never the record.
 */
export class DecisionAuditLog {
  readonly #log: Logger;
  readonly #recent: RecentDecisions | undefined;

  constructor(log: Logger, options: { recent?: RecentDecisions | undefined } = {}) {
    this.#log = log.child({ audit: true });
    this.#recent = options.recent;
  }

  async subscribe(bus: MessageBus): Promise<void> {
    await bus.subscribeBatch<AuthDecisionEvent[]>(
      TOPICS.authDecision.topic,
      async (messages) => {
        // Recording comes first and decides what is applied: a message the bus delivers
        // again (its consumer killed before the ack, an ack Redis refused, a journal resent)
        // is recorded, logged and counted once. With REDIS_WAIT_REPLICAS, "recorded" also
        // means a replica holds it. When Redis refuses (or no replica answers), that is
        // Redis's fault, not the messages': the bus retries them for as long as it lasts
        // (RetryLaterError), never dead-letters them for it, so the audit waits out a
        // failover instead of losing records to the dead-letter queue.
        const fresh = this.#recent
          ? await this.#recent
              .record(messages.map((m) => ({ id: m.id, decisions: m.payload.map((event) => ({ ...event, at: m.occurredAt })) })))
              .catch((error: unknown) => {
                throw new RetryLaterError('the audit record could not be written', { cause: error });
              })
          : messages.map(() => true);
        messages.forEach((message, index) => {
          if (fresh[index] === true) for (const event of message.payload) this.record(event, message.occurredAt);
        });
      },
      // Batches of batches: 20 messages of up to 200 decisions each.
      { mode: 'work', group: 'policy-service', batchSize: 20, parse: parseAuthDecisions },
    );
  }

  record(event: AuthDecisionEvent, at: string): void {
    this.#log.info({ ...event, at }, 'auth decision');
  }

  /**
   * The principals with the most decisions, busiest first, over every replica's audit
   * (none without Redis: no `auth.decision` arrives then).
   */
  async top(limit = 100): Promise<PrincipalStats[]> {
    return this.#recent ? this.#recent.topPrincipals(limit) : [];
  }
}
