import { PortcullisError } from '@portcullis/contracts';

/**
 * Every error the bus throws or records, with a stable `code`. Callers branch on `code`
 * (or `instanceof`), never on message text. Dead-letter entries carry the same codes.
 */
export class BusError extends PortcullisError {
  static override readonly code: string = 'E_BUS';
}

/** `publish` or `subscribe` after `close()` began. */
export class BusClosedError extends BusError {
  static override readonly code = 'E_BUS_CLOSED';
}

/** A stream entry that is not a valid envelope (hand-written, truncated, foreign). */
export class MalformedEntryError extends BusError {
  static override readonly code = 'E_MALFORMED_ENTRY';
}

/** The subscription's `parse(payload)` hook rejected the payload: never retried. */
export class InvalidPayloadError extends BusError {
  static override readonly code = 'E_INVALID_PAYLOAD';
}

/**
 * Thrown by a handler when something it depends on, not the message, is at fault (Redis
 * refusing writes during a failover, say): the message is retried with the usual backoff
 * for as long as that lasts, and such failures never count toward `maxAttempts`, so a
 * good message waits out an outage instead of being dead-lettered by it.
 */
export class RetryLaterError extends BusError {
  static override readonly code = 'E_RETRY_LATER';
}

/** A handler failed on its last allowed attempt. */
export class MaxAttemptsError extends BusError {
  static override readonly code = 'E_MAX_ATTEMPTS';
}

/** A publish could not be written to Redis. */
export class PublishError extends BusError {
  static override readonly code = 'E_PUBLISH_FAILED';
}

/** `close()` ran past its deadline; in-flight messages were released, not finished. */
export class ShutdownTimeoutError extends BusError {
  static override readonly code = 'E_SHUTDOWN_TIMEOUT';
}

/** A dead-letter entry asked for by id does not exist. */
export class DeadLetterNotFoundError extends BusError {
  static override readonly code = 'E_DEAD_LETTER_NOT_FOUND';
}
