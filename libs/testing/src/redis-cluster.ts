import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './free-port.ts';
import { startProcess, type ProcessHandle } from './process.ts';

const run = promisify(execFile);

/** A real Redis Cluster on loopback, owned by a test. */
export interface RedisClusterHandle {
  /** `host:port` of every node the cluster was created with (masters first). */
  readonly nodes: { host: string; port: number }[];
  /** The nodes as a `REDIS_URL` value: `redis://127.0.0.1:7000,127.0.0.1:7001,...`. */
  readonly url: string;
  /** The ports of the nodes that are masters now (serving slots), from `CLUSTER NODES`. */
  masters(): Promise<number[]>;
  /** The port of the master serving `key`'s slot now. */
  masterOf(key: string): Promise<number>;
  /** The process of the node on `port` (to signal it). */
  process(port: number): ProcessHandle;
  /** Stops the node on `port` (SIGTERM unless told otherwise) and waits for it to exit. */
  stop(port: number, signal?: NodeJS.Signals): Promise<void>;
  /** Starts the node on `port` again with its data and node id; it rejoins the cluster. */
  restart(port: number): Promise<void>;
  /**
   * Freezes (SIGSTOP) every node that is not a master now, so no write is replicated, and
   * resolves with the function that thaws them (SIGCONT).
   */
  freezeReplicas(): Promise<() => void>;
  /** Resolves once every running node reports `cluster_state:ok`. */
  waitUntilOk(): Promise<void>;
  close(): Promise<void>;
}

/** Options for {@link startRedisCluster}. */
export interface RedisClusterOptions {
  /** Replicas of each master (`redis-cli --cluster create --cluster-replicas`). Default 0. */
  replicas?: number;
  /** Extra redis-server arguments for every node (persistence, say). */
  args?: string[];
}

/**
 * Starts `masters` redis-server processes in cluster mode (and `replicas` of each), joins
 * them with `redis-cli --cluster create` and waits until every node reports
 * `cluster_state:ok`. A node timeout of 2 s: a killed master's replica is promoted in a
 * few seconds.
 */
export async function startRedisCluster(masters = 3, options: RedisClusterOptions = {}): Promise<RedisClusterHandle> {
  const dir = await mkdtemp(join(tmpdir(), 'portcullis-cluster-'));
  const replicas = options.replicas ?? 0;
  const servers = new Map<number, ProcessHandle>();
  const launchers = new Map<number, () => Promise<ProcessHandle>>();
  const stopAll = (): Promise<unknown> => Promise.all([...servers.values()].map((server) => server.stop()));
  try {
    for (let index = 0; index < masters * (1 + replicas); index += 1) {
      const port = await freePort();
      // Redis's default bus port is port + 10000, which can land in the kernel's ephemeral
      // range and be taken by an outgoing connection: pick a checked one of our own.
      const busPort = await freePort();
      const launch = (): Promise<ProcessHandle> =>
        startProcess({
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
            // A replica must have synced before it may replace its master; don't wait 5 s to start.
            '--repl-diskless-sync-delay',
            '0',
            '--dir',
            dir,
            '--appendfilename',
            `appendonly-${port}.aof`,
            '--appenddirname',
            `appendonly-${port}`,
            ...(options.args ?? []),
          ],
          readyWhen: /Ready to accept connections/,
          readyTimeoutMs: 10_000,
        });
      launchers.set(port, launch);
      servers.set(port, await launch());
    }
    const addresses = [...servers.keys()].map((port) => `127.0.0.1:${port}`);
    await run('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', String(replicas), '--cluster-yes']);
    for (const port of servers.keys()) await waitForClusterOk(port);
    for (const port of servers.keys()) await waitForReplicaSynced(port);
  } catch (error) {
    await stopAll();
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  const ports = [...servers.keys()];
  const running = (): number[] =>
    ports.filter((port) => servers.get(port)?.child.exitCode === null && servers.get(port)?.child.signalCode === null);
  const handle: RedisClusterHandle = {
    nodes: ports.map((port) => ({ host: '127.0.0.1', port })),
    url: `redis://${ports.map((port) => `127.0.0.1:${port}`).join(',')}`,
    async masters() {
      return (await servingMasters(running()[0])).map(({ port }) => port);
    },
    async masterOf(key) {
      const node = running()[0];
      const slot = Number((await run('redis-cli', ['-p', String(node), 'cluster', 'keyslot', key])).stdout.trim());
      const master = (await servingMasters(node)).find(({ ranges }) => ranges.some(([from, to]) => slot >= from && slot <= to));
      if (master === undefined) throw new Error(`no master serves slot ${slot} (${key})`);
      return master.port;
    },
    process(port) {
      const server = servers.get(port);
      if (server === undefined) throw new Error(`no node of this cluster on ${port}`);
      return server;
    },
    async stop(port, signal = 'SIGTERM') {
      await handle.process(port).stop(signal);
    },
    async restart(port) {
      const launch = launchers.get(port);
      if (launch === undefined) throw new Error(`no node of this cluster on ${port}`);
      servers.set(port, await launch());
    },
    async freezeReplicas() {
      const masters = new Set(await handle.masters());
      const frozen = running().filter((port) => !masters.has(port));
      for (const port of frozen) handle.process(port).child.kill('SIGSTOP');
      return () => {
        for (const port of frozen) handle.process(port).child.kill('SIGCONT');
      };
    },
    async waitUntilOk() {
      for (const port of running()) await waitForClusterOk(port);
    },
    async close() {
      await stopAll();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return handle;
}

/** The masters serving slots now, as `CLUSTER NODES` on the node on `port` sees them, with their slot ranges. */
async function servingMasters(port: number | undefined): Promise<{ port: number; ranges: [number, number][] }[]> {
  const { stdout } = await run('redis-cli', ['-p', String(port), 'cluster', 'nodes']);
  // <id> <ip:port@bus> <flags> <master> <ping> <pong> <epoch> <state> <slot or from-to>...
  return stdout
    .split('\n')
    .map((line) => line.split(' '))
    .filter((f) => f[2]?.split(',').includes('master') && !f[2].includes('fail') && f.length > 8)
    .map((f) => ({
      port: Number(f[1]?.split('@')[0]?.split(':')[1]),
      ranges: f.slice(8).map((range): [number, number] => {
        const [from = -1, to = from] = range.split('-').map(Number);
        return [from, to];
      }),
    }));
}

/** Resolves once the node on `port` is a master, or a replica whose link to its master is up. */
async function waitForReplicaSynced(port: number): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const { stdout } = await run('redis-cli', ['-p', String(port), 'info', 'replication']);
    if (stdout.includes('role:master') || stdout.includes('master_link_status:up')) return;
    if (Date.now() > deadline) throw new Error(`cluster replica ${port} never synced: ${stdout}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
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
