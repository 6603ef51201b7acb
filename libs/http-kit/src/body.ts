import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { ERROR_CODES, parseJson } from '@portcullis/contracts';
import { HttpError, payloadTooLarge } from './errors.ts';

const FORM = /^application\/x-www-form-urlencoded\b/i;

/**
 * Reads and parses a JSON request body (or, when `acceptsForm`, a URL-encoded form, as
 * a record of its fields) of at most `limit` bytes. A declared
 * `content-length` over the limit is refused before a byte is read; an undeclared one
 * is counted as it arrives and refused the moment it crosses the limit.
 */
export async function readJsonBody(stream: Readable, headers: IncomingHttpHeaders, limit: number, acceptsForm = false): Promise<unknown> {
  const type = headers['content-type'];
  const isForm = acceptsForm && type !== undefined && FORM.test(type);
  if (type !== undefined && !isForm && !/^application\/([\w.+-]+\+)?json\b/i.test(type)) {
    const expected = acceptsForm ? 'application/x-www-form-urlencoded or application/json' : 'application/json';
    throw new HttpError(415, ERROR_CODES.unsupportedMediaType, `expected ${expected}, got ${type.slice(0, 64)}`);
  }
  const encoding = headers['content-encoding'];
  if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') {
    // Not decoded here: refused by name rather than parsed as JSON and called malformed.
    throw new HttpError(
      415,
      ERROR_CODES.unsupportedMediaType,
      `content-encoding ${encoding.slice(0, 32)} is not accepted; send the body as is`,
    );
  }
  const declared = Number(headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) throw payloadTooLarge(limit);
  const raw = await collect(stream, limit);
  const size = raw.length;
  if (isForm) return formFields(raw.toString('utf8'));
  if (size === 0) throw new HttpError(400, ERROR_CODES.malformedJson, 'request body is empty; expected JSON');
  try {
    // Integers past 2^53 stay exact (contracts' parseJson), for Cedar's 64-bit Long.
    return parseJson(raw.toString('utf8'));
  } catch (error) {
    throw new HttpError(400, ERROR_CODES.malformedJson, `request body is not valid JSON: ${(error as Error).message}`);
  }
}

/**
 * A URL-encoded form as a record of its fields. A field given twice is refused rather
 * than one of the two picked: OAuth forbids it (RFC 6749 §3.2), and which one a server
 * takes is how parameter pollution slips a value past a check of the other.
 */
function formFields(text: string): Record<string, string> {
  const fields = new Map<string, string>();
  for (const [name, value] of new URLSearchParams(text)) {
    if (fields.has(name)) throw new HttpError(400, ERROR_CODES.validation, `form field ${name.slice(0, 64)} is given more than once`);
    fields.set(name, value);
  }
  return Object.fromEntries(fields);
}

/**
 * Collects a body with listeners rather than `for await`: leaving an async iterator
 * early destroys the stream, and for HTTP/1.1 that kills the socket before the 413 can
 * be written. Pausing instead lets the answer go out, then the connection closes.
 */
function collect(stream: Readable, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      stream.off('close', onClose);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        stream.pause();
        reject(payloadTooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(new HttpError(400, ERROR_CODES.malformedJson, 'request body could not be read', { cause: error }));
    };
    const onClose = (): void => onError(new Error('connection closed before the body ended'));
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
    stream.on('close', onClose);
  });
}
