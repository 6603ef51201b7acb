// The whole stack as real processes for a benchmark: a private redis-server, one
// policy-service, and auth-services started on demand, each awaited until it says it is
// ready; one registered client to get tokens with.
import { readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  freePort,
  startProcess,
  startRedisServer,
  type ProcessHandle,
  type RedisClusterHandle,
  type RedisServerHandle,
} from '@portcullis/testing';
import { Redis } from 'ioredis';

const AUTH_MAIN = fileURLToPath(new URL('../../../apps/auth-service/src/main.ts', import.meta.url));
export const POLICY_MAIN = fileURLToPath(new URL('../../../apps/policy-service/src/main.ts', import.meta.url));
export const BENCH_CLIENT = { client_id: 'bench', client_secret: 'bench-secret-0123456789', roles: ['editor'] };
/**
 * A few principals with many roles (the realistic mix's heavy tail): 2 of the sample
 * domain's roles plus 30 team roles each, so every decision carries 32 parents.
 */
export const MANY_ROLE_CLIENTS = [1, 2, 3].map((n) => ({
  client_id: `bench-many-${n}`,
  client_secret: `bench-many-secret-${n}-0123456789`,
  roles: ['viewer', 'editor', ...Array.from({ length: 30 }, (_, k) => `team-${n}-${k}`)],
}));
/** The policy-service's admin token in a bench stack (`PUT /policies`). */
export const BENCH_ADMIN_TOKEN = 'bench-admin-token-0123456789abcdef';

/**
 * A policy-service process with the bench settings (its admin token, no file watching,
 * warnings only) and `env` over them, optionally run through `exec` (a namespace's
 * `ip netns exec …`); resolves once it is ready.
 */
export function startPolicyProcess(port: number, env: Record<string, string | undefined>, exec: string[] = []): Promise<ProcessHandle> {
  const [command, ...prefix] = [...exec, process.execPath];
  return startProcess({
    command: command as string,
    args: [...prefix, POLICY_MAIN],
    env: { POLICY_PORT: String(port), POLICY_WATCH: 'false', POLICY_ADMIN_TOKEN: BENCH_ADMIN_TOKEN, LOG_LEVEL: 'warn', ...env },
    readyWhen: /policy-service ready on/,
  });
}

/**
 * The children of process `pid` (a clustered auth-service primary's workers), from
 * `/proc/<pid>/task/<tid>/children` (Linux; empty where it cannot be read or has gone).
 */
export function childPids(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
      readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ').filter(Boolean).map(Number),
    );
  } catch {
    return [];
  }
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * An auth-service handle whose `stop` takes the primary's workers along: their pids are
 * read before the signal, a SIGKILL goes to them too (a killed instance is the whole
 * process tree, as a killed pod is), and `stop` resolves once they are gone as well.
 * Without workers it is the handle itself.
 */
function withWorkers(handle: ProcessHandle): ProcessHandle {
  return {
    ...handle,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      const workers = handle.child.pid === undefined ? [] : childPids(handle.child.pid);
      const status = await handle.stop(signal);
      for (const pid of workers) if (signal === 'SIGKILL' && alive(pid)) process.kill(pid, 'SIGKILL');
      for (let waited = 0; workers.some(alive) && waited < 20_000; waited += 20) await new Promise((r) => setTimeout(r, 20));
      return status;
    },
  };
}

/** A running benchmark stack; `stop()` kills every process and removes its files. */
export interface BenchStack {
  /**
   * Starts an auth-service (default settings unless `env` says otherwise) and waits for it
   * to be ready. `{ AUTH_WORKERS: '4' }` (or `auto`) starts a node:cluster primary with that
   * many workers, ready once all are; its handle's `stop` stops the workers too.
   */
  startAuth(env?: Record<string, string>): Promise<{ url: string; handle: ProcessHandle }>;
  /** Starts the auth-service that answered on `url` again (after it was killed), same port and settings; resolves with its new handle once ready. */
  restartAuth(url: string): Promise<ProcessHandle>;
  /** The stack's redis-server (stop, restart); undefined when it runs on a given Redis Cluster. */
  readonly redis: RedisServerHandle | undefined;
  /** A token of the bench client (or of `client`) from `url`'s `/token`. */
  token(url: string, client?: { client_id: string; client_secret: string }): Promise<string>;
  /** A token of each of {@link MANY_ROLE_CLIENTS}. */
  manyRoleTokens(url: string): Promise<string[]>;
  /** The stack's Redis. */
  readonly redisUrl: string;
  /** The policy-service's base URL. */
  readonly policyUrl: string;
  /** The policy-service process now running (a new one after {@link restartPolicy}). */
  readonly policy: ProcessHandle;
  /** Kills the policy-service with `signal` and resolves once it is gone. */
  stopPolicy(signal?: NodeJS.Signals): Promise<void>;
  /** Starts the policy-service again on its port; resolves once it says it is ready. */
  restartPolicy(): Promise<void>;
  /**
   * Process ids of every running server of the stack by role (`redis-server`,
   * `policy-service`, `auth-service`, `auth-service-2`…), for their CPU time. A clustered
   * auth-service is its primary under its role plus each worker as `<role>-w1`, `<role>-w2`…
   * (the primary's children, read from /proc), so summing every role counts all its CPU.
   */
  serverPids(): Promise<Record<string, number>>;
  stop(): Promise<void>;
}

/**
 * `policyOnBus`: the policy-service joins the bus too (it then consumes the audit events).
 * `redisArgs`: extra redis-server arguments (persistence, for a restart with its data).
 * `policyEnv`: extra policy-service settings.
 * `policyNetwork`: run the policy-service inside this network namespace (the chaos run's).
 * `cluster`: run on this Redis Cluster instead of a redis-server of the stack's own.
 */
export async function startBenchStack(options: {
  policyOnBus: boolean;
  redisArgs?: string[];
  policyEnv?: Record<string, string>;
  policyNetwork?: { exec: string[]; address: string; hostAddress: string };
  cluster?: RedisClusterHandle;
}): Promise<BenchStack> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-stack-'));
  const clients = join(dir, 'clients.json');
  await writeFile(clients, JSON.stringify([BENCH_CLIENT, ...MANY_ROLE_CLIENTS]));
  const network = options.policyNetwork;
  // A policy-service in its own network namespace reaches Redis over the veth pair.
  const reachable = network === undefined ? [] : ['--bind', '127.0.0.1', network.hostAddress, '--protected-mode', 'no'];
  if (network && options.cluster) throw new Error('a policy-service in its own namespace cannot reach a loopback Redis Cluster');
  const redis = options.cluster ? undefined : await startRedisServer({ args: [...(options.redisArgs ?? []), ...reachable] });
  const redisUrl = options.cluster?.url ?? (redis as RedisServerHandle).url;
  const processes: ProcessHandle[] = [];
  const authSettings = new Map<string, { port: number; env: Record<string, string> }>();
  const launchAuth = async (port: number, env: Record<string, string>): Promise<ProcessHandle> =>
    withWorkers(
      await startProcess({
        command: process.execPath,
        args: [AUTH_MAIN],
        env: {
          AUTH_PORT: String(port),
          POLICY_URL: policyUrl,
          REDIS_URL: redisUrl,
          JWT_SECRET: 'bench-jwt-secret-0123456789abcdef0123456789',
          // One issuer for every instance, as replicas behind one address have.
          JWT_ISSUER: 'https://auth.bench.portcullis.test',
          AUTH_CLIENTS_FILE: clients,
          // Per instance, inside the stack's directory: a restarted instance finds its journal.
          AUTH_AUDIT_JOURNAL_DIR: join(dir, `journal-${port}`),
          LOG_LEVEL: 'warn',
          ...env,
        },
        readyWhen: /auth-service ready on/,
      }),
    );
  const stack: BenchStack = {
    async startAuth(env = {}) {
      const port = await freePort();
      const handle = await launchAuth(port, env);
      processes.push(handle);
      const url = `http://127.0.0.1:${port}`;
      authSettings.set(url, { port, env });
      return { url, handle };
    },
    async restartAuth(url) {
      const settings = authSettings.get(url);
      if (settings === undefined) throw new Error(`no auth-service of this stack answered on ${url}`);
      const handle = await launchAuth(settings.port, settings.env);
      processes.push(handle);
      return handle;
    },
    get redis() {
      return redis;
    },
    async token(url, client = BENCH_CLIENT) {
      const body = new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: client.client_id,
        client_secret: client.client_secret,
      });
      const response = await fetch(`${url}/token`, { method: 'POST', body });
      if (response.status !== 200)
        throw new Error(`POST /token for ${client.client_id} answered ${response.status}: ${await response.text()}`);
      return ((await response.json()) as { access_token: string }).access_token;
    },
    manyRoleTokens(url) {
      return Promise.all(MANY_ROLE_CLIENTS.map((client) => stack.token(url, client)));
    },
    get redisUrl() {
      return redisUrl;
    },
    get policyUrl() {
      return policyUrl;
    },
    get policy() {
      return policy;
    },
    async stopPolicy(signal = 'SIGKILL') {
      await policy.stop(signal);
    },
    async restartPolicy() {
      policy = await startPolicy();
      processes[0] = policy;
    },
    async serverPids() {
      const pids: Record<string, number> = {};
      if (redis) {
        const redisClient = new Redis(redis.url);
        const info = await redisClient.info('server');
        redisClient.disconnect();
        pids['redis-server'] = Number(/process_id:(\d+)/.exec(info)?.[1]);
      }
      processes.forEach((p, i) => {
        if (p.child.exitCode !== null || p.child.signalCode !== null) return;
        const role = i === 0 ? 'policy-service' : i === 1 ? 'auth-service' : `auth-service-${i}`;
        pids[role] = p.child.pid ?? 0;
        if (i > 0) childPids(p.child.pid ?? 0).forEach((pid, k) => (pids[`${role}-w${k + 1}`] = pid));
      });
      return pids;
    },
    async stop() {
      await Promise.all(processes.map((p) => p.stop('SIGKILL')));
      await redis?.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  const policyPort = await freePort();
  const policyUrl = `http://${network?.address ?? '127.0.0.1'}:${policyPort}`;
  const startPolicy = (): Promise<ProcessHandle> =>
    startPolicyProcess(
      policyPort,
      {
        ...(network ? { POLICY_HOST: network.address } : {}),
        ...(options.policyOnBus ? { REDIS_URL: network && redis ? `redis://${network.hostAddress}:${redis.port}` : redisUrl } : {}),
        ...options.policyEnv,
      },
      network?.exec,
    );
  let policy: ProcessHandle;
  try {
    policy = await startPolicy();
    processes.push(policy);
  } catch (error) {
    await stack.stop();
    throw error;
  }
  return stack;
}
