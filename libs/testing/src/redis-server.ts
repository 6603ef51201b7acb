import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.ts';
import { startProcess, type ProcessHandle } from './process.ts';

/** Options for {@link startRedisServer}. */
export interface RedisServerOptions {
  /** Extra `redis-server` arguments, e.g. `['--maxmemory', '10mb']`. */
  args?: string[];
  /** Reuse this port (used to restart a server where clients expect it). */
  port?: number;
}

/** A real redis-server owned by a test. */
export interface RedisServerHandle {
  readonly port: number;
  readonly url: string;
  /** Stops the server (SIGTERM unless told otherwise) and waits for it to exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Starts the server again on the same port, as after a crash or a restart. */
  restart(): Promise<void>;
  /** Stops the server for good and removes its data directory. */
  close(): Promise<void>;
}

/**
 * Starts a private redis-server on a free loopback port, with persistence off and its
 * working directory in a fresh temporary folder. Tests never share a server's keys
 * unless they choose to; each uses {@link uniqueId} prefixes as well.
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServerHandle> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-redis-'));
  const port = options.port ?? (await freePort());
  const launch = (): Promise<ProcessHandle> =>
    startProcess({
      command: 'redis-server',
      args: ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...(options.args ?? [])],
      readyWhen: /Ready to accept connections/,
      readyTimeoutMs: 10_000,
    }).catch((error: unknown) => {
      throw new Error('could not start redis-server (is it installed? `apt-get install redis-server`)', { cause: error });
    });
  let server: ProcessHandle | undefined = await launch();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    async stop(signal = 'SIGTERM') {
      await server?.stop(signal);
      server = undefined;
    },
    async restart() {
      await server?.stop();
      server = await launch();
    },
    async close() {
      await server?.stop();
      server = undefined;
      await rm(dir, { recursive: true, force: true });
    },
  };
}
