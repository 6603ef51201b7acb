import { connect, type Socket } from 'node:net';

/** An HTTP/1.1 answer read off the wire. */
export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Splits raw HTTP/1.1 response bytes into status, (lower-cased) headers and body. */
export function parseAnswer(raw: string): RawAnswer {
  const end = raw.indexOf('\r\n\r\n');
  const [statusLine = '', ...lines] = (end === -1 ? raw : raw.slice(0, end)).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(statusLine.split(' ')[1]), headers, body: end === -1 ? '' : raw.slice(end + 4) };
}

/** The `error.code` of a JSON error body. */
export const codeOf = (answer: { body: string }): string => (JSON.parse(answer.body) as { error: { code: string } }).error.code;

/** Opens a TCP connection to the server on loopback. */
export function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

/**
 * Everything the server sends on `socket` until it closes the connection, and how long
 * that took. A server that never closes fails the test after `limitMs`.
 */
export function readUntilClosed(socket: Socket, limitMs = 10_000): Promise<{ raw: string; ms: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server did not close the connection within ${limitMs} ms`));
    }, limitMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    // A reset after the answer is still a close; what matters is what arrived first.
    socket.on('error', () => undefined);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve({ raw: Buffer.concat(chunks).toString('utf8'), ms: performance.now() - started });
    });
  });
}

/** Sends one request on a kept-alive connection and reads its answer (framed by content-length). */
export function requestOn(socket: Socket, request: string): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    let raw = '';
    const onData = (chunk: Buffer): void => {
      raw += chunk.toString('utf8');
      const answer = parseAnswer(raw);
      if (raw.includes('\r\n\r\n') && Buffer.byteLength(answer.body) >= Number(answer.headers['content-length'] ?? 0)) {
        socket.off('data', onData);
        socket.off('close', onClose);
        resolve(answer);
      }
    };
    const onClose = (): void => reject(new Error(`connection closed before an answer; got ${JSON.stringify(raw.slice(0, 80))}`));
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.write(request);
  });
}

/** Writes `bytes` one at a time, one every `everyMs`, until they run out or `stop()` is called. */
export function trickle(socket: Socket, bytes: string, everyMs = 100): { stop(): void } {
  let next = 0;
  const timer = setInterval(() => {
    if (next >= bytes.length || socket.destroyed) return clearInterval(timer);
    socket.write(bytes[next] ?? '');
    next += 1;
  }, everyMs);
  socket.once('close', () => clearInterval(timer));
  return { stop: () => clearInterval(timer) };
}
