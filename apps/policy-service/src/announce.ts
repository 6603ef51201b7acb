import { TOPICS, type PolicyUpdatedEvent } from '@portcullis/contracts';
import type { MessageBus } from '@portcullis/message-bus';
import type { Logger } from '@portcullis/observability';
import type { Evaluator } from './engine/evaluator.ts';

/**
 * Publishes `policy.updated` whenever a new version goes live (start, file reload,
 * `PUT /policies`). Publishing never blocks or fails the swap: a bus outage is logged
 * and the auth-services fall back to their TTLs. The message id is the version, so a
 * version announced twice (two replicas loading the same files) is applied once.
 */
export function announceUpdates(evaluator: Evaluator, bus: MessageBus, log: Logger): void {
  let previousVersion: string | null = null;
  evaluator.on('updated', (bundle) => {
    const event: PolicyUpdatedEvent = { version: bundle.version, previousVersion, policyCount: bundle.policyIds.length };
    previousVersion = bundle.version;
    bus
      .publish(TOPICS.policyUpdated.topic, event, { priority: TOPICS.policyUpdated.priority, id: `policy.updated:${bundle.version}` })
      .catch((error: unknown) => log.warn({ err: error, version: bundle.version }, 'could not publish policy.updated'));
  });
}
