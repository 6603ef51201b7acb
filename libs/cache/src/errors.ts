import { PortcullisError } from '@portcullis/contracts';

/**
 * Every error the cache throws. Each class has a static stable `code`, carries the
 * underlying `cause` when there is one, and context (the key, the option) so a log line
 * says what failed without a stack trace.
 */
export class CacheError extends PortcullisError {
  static override readonly code: string = 'E_CACHE';
}

/** A key that is not a non-empty, well-formed string within the length limit. */
export class InvalidKeyError extends CacheError {
  static override readonly code = 'E_CACHE_INVALID_KEY';
}

/** A value JSON cannot represent faithfully (undefined, functions, BigInt, cycles, Map, NaN...). */
export class NotSerializableError extends CacheError {
  static override readonly code = 'E_CACHE_NOT_SERIALIZABLE';
}

/** A serialized value larger than `maxValueBytes`. */
export class ValueTooLargeError extends CacheError {
  static override readonly code = 'E_CACHE_VALUE_TOO_LARGE';
}

/** A `type` name that was not configured in `types`. */
export class UnknownTypeError extends CacheError {
  static override readonly code = 'E_CACHE_UNKNOWN_TYPE';
}

/** The factory of `getOrSet` failed and no stale value could stand in. */
export class FactoryError extends CacheError {
  static override readonly code = 'E_CACHE_FACTORY';
}

/** An L2 call took longer than `l2TimeoutMs`. Never reaches callers of reads. */
export class L2TimeoutError extends CacheError {
  static override readonly code = 'E_CACHE_L2_TIMEOUT';
}

/** The L2 breaker is open: the call was not attempted. Never reaches callers of reads. */
export class L2UnavailableError extends CacheError {
  static override readonly code = 'E_CACHE_L2_UNAVAILABLE';
}

/** An L2 command failed (connection lost, Redis error). Never reaches callers of reads. */
export class L2CommandError extends CacheError {
  static override readonly code = 'E_CACHE_L2_COMMAND';
}

/** The cache was used after `close()`. */
export class CacheClosedError extends CacheError {
  static override readonly code = 'E_CACHE_CLOSED';
}
