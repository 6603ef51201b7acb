import { CacheInvalidateEvent, PolicyUpdatedEvent, TOPICS, TokenRevokedEvent } from '@portcullis/contracts';
import type { Cache } from '@portcullis/cache';
import type { MessageBus } from '@portcullis/message-bus';
import type { Logger } from '@portcullis/observability';
import { principalTag, type DecisionService } from './decisions.ts';

/** Where a revoked token's id goes so every request checks it (a Map lookup). */
export interface Revocations {
  revoke(jti: string, expiresAtSec: number): void;
}

/**
 * The auth-service's bus subscriptions, each in broadcast mode so every instance
 * applies every event: `policy.updated` moves decisions to the new version (older keys
 * become unreachable at once), `token.revoked` refuses the token and drops its
 * principal's cached decisions, `cache.invalidate` drops keys or tags. Payloads are
 * validated with the contracts' schemas; invalid ones are dead-lettered by the bus.
 */
export async function subscribeToEvents(options: { bus: MessageBus; cache: Cache; decisions: DecisionService; revocations: Revocations; log: Logger }): Promise<void> {
  const { bus, cache, decisions, revocations, log } = options;
  const group = 'auth-service';
  await bus.subscribe<PolicyUpdatedEvent>(TOPICS.policyUpdated.topic, (message) => {
    if (decisions.setVersion(message.payload.version)) log.info({ version: message.payload.version }, 'policy version changed; older decisions dropped');
  }, { mode: 'broadcast', group, parse: (payload) => PolicyUpdatedEvent.parse(payload) });
  await bus.subscribe<TokenRevokedEvent>(TOPICS.tokenRevoked.topic, async (message) => {
    revocations.revoke(message.payload.jti, message.payload.exp);
    await cache.invalidateTags([principalTag(message.payload.sub)]);
    log.info({ jti: message.payload.jti }, 'token revoked');
  }, { mode: 'broadcast', group, parse: (payload) => TokenRevokedEvent.parse(payload) });
  await bus.subscribe<CacheInvalidateEvent>(TOPICS.cacheInvalidate.topic, async (message) => {
    if (message.payload.keys.length > 0) await cache.deleteMany(message.payload.keys);
    if (message.payload.tags.length > 0) await cache.invalidateTags(message.payload.tags);
  }, { mode: 'broadcast', group, parse: (payload) => CacheInvalidateEvent.parse(payload) });
}
