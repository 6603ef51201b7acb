import { randomUUID } from 'node:crypto';
import { TOPICS, type PolicyUpdatedEvent } from '@portcullis/contracts';
import type { MessageBus } from '@portcullis/message-bus';
import type { Logger } from '@portcullis/observability';
import { retryUntilDone } from '@portcullis/resilience';
import type { LiveSetSync } from './live-set/sync.ts';

/**
 * Publishes `policy.updated` whenever a new version goes live (start, file reload,
 * `PUT /policies`, a set another replica stored), and tries again with backoff (0.1 s to 5 s) until it is out: an
 * auth-service that never hears of a version keeps answering from decisions cached under
 * the older one until they expire (5 min by default) or it asks for a new one. Only the
 * newest version is sent: one superseded while its announcement was failing is skipped,
 * since every instance moves to whichever version it is told of. Publishing never blocks
 * or fails the swap. The message id is the version and its stored revision, so the same
 * change announced by each replica that loads it is applied once, while a version going
 * live again later (a revert) is a new message, not a duplicate the bus drops. A version
 * no store numbered (Redis away when it went live) gets an id of its own.
 * `signal` stops the retries.
 */
export function announceUpdates(liveSet: Pick<LiveSetSync, 'on'>, bus: MessageBus, log: Logger, signal: AbortSignal): void {
  let previousVersion: string | null = null;
  let next: { event: PolicyUpdatedEvent; id: string } | undefined;
  let sending = false;
  // Each attempt sends the newest version; a newer one arriving during a successful
  // publish is sent by the next turn of the loop.
  const publishNewest = async (): Promise<void> => {
    const newest = next as { event: PolicyUpdatedEvent; id: string };
    await bus.publish(TOPICS.policyUpdated.topic, newest.event, { priority: TOPICS.policyUpdated.priority, id: newest.id });
    if (next === newest) next = undefined;
  };
  const send = async (): Promise<void> => {
    if (sending) return;
    sending = true;
    try {
      while (next !== undefined && !signal.aborted)
        await retryUntilDone(publishNewest, {
          baseMs: 100,
          maxMs: 5000,
          signal,
          onFailure: (error, retryInMs) =>
            log.warn({ err: error, version: next?.event.version, retryInMs }, 'could not publish policy.updated; trying again'),
        });
    } finally {
      sending = false;
    }
  };
  liveSet.on('live', (bundle, revision) => {
    const id = `policy.updated:${bundle.version}:${revision >= 0 ? `r${revision}` : randomUUID()}`;
    next = { event: { version: bundle.version, previousVersion, policyCount: bundle.policyIds.length }, id };
    previousVersion = bundle.version;
    void send();
  });
}
