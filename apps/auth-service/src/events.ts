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
export async function subscribeToEvents(options: {
  bus: MessageBus;
  cache: Cache;
  decisions: DecisionService;
  revocations: Revocations;
  log: Logger;
}): Promise<void> {
  const { bus, cache, decisions, revocations, log } = options;
  const group = 'auth-service';
  await bus.subscribe<PolicyUpdatedEvent>(
    TOPICS.policyUpdated.topic,
    (message) => {
      if (decisions.setVersion(message.payload.version))
        log.info({ version: message.payload.version }, 'policy version changed; older decisions dropped');
    },
    { mode: 'broadcast', group, parse: (payload) => PolicyUpdatedEvent.parse(payload) },
  );
  // The sender already dropped L2 (the revoking /revoke, or whoever published
  // cache.invalidate); every instance, the sender too, gets the event and drops its L1.
  await bus.subscribe<TokenRevokedEvent>(
    TOPICS.tokenRevoked.topic,
    (message) => {
      revocations.revoke(message.payload.jti, message.payload.exp);
      cache.forgetLocally({ tags: [principalTag(message.payload.sub)] });
      log.info({ jti: message.payload.jti }, 'token revoked');
    },
    { mode: 'broadcast', group, parse: (payload) => TokenRevokedEvent.parse(payload) },
  );
  await bus.subscribe<CacheInvalidateEvent>(
    TOPICS.cacheInvalidate.topic,
    (message) => {
      cache.forgetLocally({ keys: message.payload.keys, tags: message.payload.tags });
    },
    { mode: 'broadcast', group, parse: (payload) => CacheInvalidateEvent.parse(payload) },
  );
}
