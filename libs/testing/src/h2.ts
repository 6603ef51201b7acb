import { connect, type ClientHttp2Session } from 'node:http2';

/** One HTTP/2 (h2c, prior knowledge) request over an existing session. */
export function h2Request(
  session: ClientHttp2Session,
  method: string,
  path: string,
  body?: string | Buffer,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': method, ':path': path, ...headers });
    let status = 0;
    let responseHeaders: Record<string, unknown> = {};
    const chunks: Buffer[] = [];
    stream.on('response', (h) => {
      status = Number(h[':status']);
      responseHeaders = h;
    });
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => resolve({ status, headers: responseHeaders, body: Buffer.concat(chunks).toString('utf8') }));
    stream.on('error', reject);
    // Closed with no 'end' and no 'error' (an RST_STREAM, a session gone): fail, never hang.
    // After 'end' this reject is a no-op.
    stream.on('close', () => reject(new Error(`${method} ${path}: stream closed before its answer ended (rstCode ${stream.rstCode})`)));
    stream.end(body);
  });
}

export function h2Connect(port: number): ClientHttp2Session {
  return connect(`http://127.0.0.1:${port}`);
}
