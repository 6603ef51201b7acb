import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './free-port.ts';
import { startProcess, type ProcessHandle } from './process.ts';

const run = promisify(execFile);

/** A real Redis Cluster of masters on loopback, owned by a test. */
export interface RedisClusterHandle {
  /** `host:port` of every master. */
  readonly nodes: { host: string; port: number }[];
  /** The nodes as a `REDIS_URL` value: `redis://127.0.0.1:7000,127.0.0.1:7001,...`. */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Starts `masters` redis-server processes in cluster mode, joins them with
 * `redis-cli --cluster create` (no replicas) and waits until every node reports
 * `cluster_state:ok`.
 */
export async function startRedisCluster(masters = 3): Promise<RedisClusterHandle> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-cluster-'));
  const ports: number[] = [];
  const servers: ProcessHandle[] = [];
  try {
    for (let index = 0; index < masters; index += 1) {
      const port = await freePort();
      // Redis's default bus port is port + 10000, which can land in the kernel's ephemeral
      // range and be taken by an outgoing connection: pick a checked one of our own.
      const busPort = await freePort();
      ports.push(port);
      servers.push(
        await startProcess({
          command: 'redis-server',
          args: [
            '--port',
            String(port),
            '--bind',
            '127.0.0.1',
            '--save',
            '',
            '--appendonly',
            'no',
            '--cluster-enabled',
            'yes',
            '--cluster-port',
            String(busPort),
            '--cluster-config-file',
            `nodes-${port}.conf`,
            '--cluster-node-timeout',
            '2000',
            '--dir',
            dir,
          ],
          readyWhen: /Ready to accept connections/,
          readyTimeoutMs: 10_000,
        }),
      );
    }
    const addresses = ports.map((port) => `127.0.0.1:${port}`);
    await run('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes']);
    for (const port of ports) await waitForClusterOk(port);
  } catch (error) {
    await Promise.all(servers.map((server) => server.stop()));
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    nodes: ports.map((port) => ({ host: '127.0.0.1', port })),
    url: `redis://${ports.map((port) => `127.0.0.1:${port}`).join(',')}`,
    async close() {
      await Promise.all(servers.map((server) => server.stop()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function waitForClusterOk(port: number): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const { stdout } = await run('redis-cli', ['-p', String(port), 'cluster', 'info']);
    if (stdout.includes('cluster_state:ok')) return;
    if (Date.now() > deadline) throw new Error(`cluster node ${port} not ok: ${stdout}`);
    // Cluster state converges by gossip with no event to await from outside; poll briefly.
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
