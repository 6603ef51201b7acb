import { ERROR_CODES, PortcullisError, type ErrorCode } from '@portcullis/contracts';

/**
 * An error that becomes an HTTP answer: a status, a stable `E_*` code, a message for
 * people and optional details (e.g. Cedar's messages). Anything thrown that is not an
 * HttpError is answered 500 `E_INTERNAL` and logged, never shown to the client.
 */
export class HttpError extends PortcullisError {
  static override readonly code: string = 'E_HTTP';
  readonly status: number;
  readonly details: unknown;
  readonly headers: Record<string, string>;
  /** The RFC 6749 §5.2 `error` value on routes with `errorFormat: 'oauth'` (default: from the status). */
  readonly oauthError: string | undefined;

  constructor(
    status: number,
    code: ErrorCode | (string & {}),
    message: string,
    options: { details?: unknown; cause?: unknown; headers?: Record<string, string>; oauthError?: string } = {},
  ) {
    super(message, { cause: options.cause, code });
    this.status = status;
    this.details = options.details;
    this.headers = options.headers ?? {};
    this.oauthError = options.oauthError;
  }
}

export const notFound = (message = 'no such route'): HttpError => new HttpError(404, ERROR_CODES.notFound, message);
export const payloadTooLarge = (limit: number): HttpError =>
  new HttpError(413, ERROR_CODES.payloadTooLarge, `request body exceeds ${limit} bytes`);
export const headersTooLarge = (limit: number): HttpError =>
  new HttpError(431, ERROR_CODES.headersTooLarge, `the request line and headers exceed ${limit} bytes`);
export const requestTimeout = (headersMs: number, requestMs: number): HttpError =>
  new HttpError(
    408,
    ERROR_CODES.requestTimeout,
    `the request did not arrive in time (headers within ${headersMs} ms, the whole request within ${requestMs} ms)`,
  );
export const malformedRequest = (reason: string): HttpError =>
  new HttpError(400, ERROR_CODES.malformedRequest, `the HTTP request is malformed: ${reason}`);
