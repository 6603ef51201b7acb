import { EventEmitter, once } from 'node:events';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach } from 'node:test';
import { Registry } from '@portcullis/observability';
import { PolicyClient, type PolicyClientOptions } from '../src/index.ts';

/** A request for `principal` to view a resource of `resourceType` (the server rejects type `Bad`). */
export const req = (principal: string, resourceType = 'Photo') => ({
  principal: { type: 'User', id: principal },
  action: { type: 'Action', id: 'view' },
  resource: { type: resourceType, id: 'a.jpg' },
});

/** Resolves the next time `subscribe` (an `on…Change` method of the client) reports `wanted`. */
export function next<S>(subscribe: (listener: (state: S) => void) => () => void, wanted: S): Promise<void> {
  return new Promise((resolve) => {
    const off = subscribe((state) => {
      if (state === wanted) {
        off();
        resolve();
      }
    });
  });
}

/** One request the fake server received. */
export interface Received {
  headers: http2.IncomingHttpHeaders;
  body: any;
}

/** What the server does with request number `n` (0-based since the last `reset`). */
export type Behaviour = (stream: http2.ServerHttp2Stream, received: Received, n: number) => void;

/** The policy-service's answer: allow `view`, deny the rest; the reason names the principal so routing can be checked. */
export function decide(item: any): any {
  if (item?.resource?.type === 'Bad') return { error: { code: 'E_VALIDATION', message: `bad resource ${item.resource.id}` } };
  return { decision: item?.action?.id === 'view' ? 'allow' : 'deny', reasons: [`p-${item?.principal?.id}`], errors: [] };
}

export const behaviours = {
  answer: ((stream, received) => reply(stream, 200, { policyVersion: 'v1', results: received.body.requests.map(decide) })) as Behaviour,
  status:
    (status: number, body: unknown = { error: { code: 'E_SOMETHING', message: 'no' } }): Behaviour =>
    (stream) =>
      reply(stream, status, body),
  raw:
    (status: number, text: string): Behaviour =>
    (stream) => {
      stream.respond({ ':status': status, 'content-type': 'application/json' });
      stream.end(text);
    },
  /** Never answers: the client must give up on its own. */
  hang: (() => undefined) as Behaviour,
  /** GOAWAY with last stream id 0 (this stream was never processed), then drop the session. */
  goaway: ((stream) => {
    stream.session?.goaway(http2.constants.NGHTTP2_NO_ERROR, 0);
    stream.session?.destroy();
  }) as Behaviour,
  /** Drop the connection mid-request, as a crash would. */
  reset: ((stream) => stream.session?.destroy()) as Behaviour,
};

function reply(stream: http2.ServerHttp2Stream, status: number, body: unknown): void {
  if (stream.destroyed) return;
  stream.respond({ ':status': status, 'content-type': 'application/json' });
  stream.end(JSON.stringify(body));
}

/** A real h2c server on port 0 implementing `/evaluate/batch` with scriptable behaviour. */
export class FakePolicyServer extends EventEmitter {
  readonly received: Received[] = [];
  /** `GET` requests (the client's session probes) since the server started. */
  pings = 0;
  /** The status `GET /alive` answers with (a proxy in front of a service that is away answers 503). */
  aliveStatus = 200;
  url = '';
  #server = http2.createServer();
  #sessions = new Set<http2.ServerHttp2Session>();
  #streams = new Set<http2.ServerHttp2Stream>();
  #behaviour: Behaviour = behaviours.answer;
  #open = 0;
  /** Sessions of earlier tests' clients: what still arrives on them is answered, never recorded or scripted. */
  readonly #retired = new WeakSet<http2.Http2Session>();

  async start(): Promise<this> {
    this.#server.on('session', (session) => {
      this.#sessions.add(session);
      session.on('close', () => this.#sessions.delete(session));
      session.on('error', () => undefined);
    });
    this.#server.on('stream', (stream, headers) => {
      this.#open++;
      this.#streams.add(stream);
      stream.on('error', () => undefined);
      stream.on('close', () => {
        this.#streams.delete(stream);
        if (--this.#open === 0) this.emit('idle');
      });
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        // The session keeper's probe: any answer proves the session; it is not a batch.
        if (headers[':method'] === 'GET') {
          this.pings++;
          reply(stream, this.aliveStatus, { status: 'alive' });
          this.emit('ping');
          return;
        }
        const received: Received = { headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) };
        // On a starved machine an earlier test's abandoned request can reach the server
        // only now; it must not take this test's scripted answers or count as received.
        if (stream.session !== undefined && this.#retired.has(stream.session)) {
          behaviours.answer(stream, received, -1);
          return;
        }
        const n = this.received.push(received) - 1;
        this.emit('request', received);
        this.#behaviour(stream, received, n);
      });
    });
    this.#server.listen(0, '127.0.0.1');
    await once(this.#server, 'listening');
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this;
  }

  /** Sets the behaviour (and `/alive`'s 200) and forgets what was received. */
  reset(behaviour: Behaviour = behaviours.answer): void {
    this.#behaviour = behaviour;
    this.aliveStatus = 200;
    this.received.length = 0;
  }

  /** Behaviours for the first requests, then `rest`. */
  script(first: Behaviour[], rest: Behaviour = behaviours.answer): void {
    this.reset((stream, received, n) => (first[n] ?? rest)(stream, received, n));
  }

  /** Marks every session open now as an earlier test's (see the stream handler). */
  retireSessions(): void {
    for (const session of this.#sessions) this.#retired.add(session);
  }

  /** Drops every open session, as a restart or a proxy's idle timeout would. */
  dropSessions(): void {
    for (const session of this.#sessions) session.destroy();
  }

  /**
   * Ends every stream still open (a hung answer its caller gave up on: the client
   * abandons such streams, it does not reset them), so a test starts with none.
   */
  endOpenStreams(): void {
    for (const stream of this.#streams) stream.close(http2.constants.NGHTTP2_CANCEL);
  }

  /** Resolves once no stream is open (every request answered or abandoned by the client). */
  async idle(): Promise<void> {
    if (this.#open > 0) await once(this, 'idle');
  }

  get itemsReceived(): number {
    return this.received.reduce((sum, r) => sum + r.body.requests.length, 0);
  }

  async close(): Promise<void> {
    for (const session of this.#sessions) session.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/**
 * The fixture both client test files use: one fake server for the file, reset before
 * each test, and a factory of clients (own metrics registry, 2 s default deadline) that
 * are all closed with the server after the file.
 */
export function useFakePolicyServer(): {
  server: FakePolicyServer;
  client(options?: Partial<PolicyClientOptions>): { client: PolicyClient; registry: Registry };
} {
  const server = new FakePolicyServer();
  const clients: PolicyClient[] = [];
  before(() => server.start());
  // A previous test's attempts may still be on the wire (a hung one its caller gave up
  // on stays open): end them first, or they would take this test's scripted answers.
  beforeEach(async () => {
    server.endOpenStreams();
    await server.idle();
    server.retireSessions();
    server.reset();
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await server.close();
  });
  return {
    server,
    client(options = {}) {
      const registry = new Registry();
      const c = new PolicyClient({ url: server.url, registry, timeoutMs: 2000, ...options });
      clients.push(c);
      return { client: c, registry };
    },
  };
}
