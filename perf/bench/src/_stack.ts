// The whole stack as real processes for a benchmark: a private redis-server, one
// policy-service, and auth-services started on demand, each awaited until it says it is
// ready; one registered client to get tokens with.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, startProcess, startRedisServer, type ProcessHandle } from '@portcullis/testing';
import { Redis } from 'ioredis';

const AUTH_MAIN = fileURLToPath(new URL('../../../apps/auth-service/src/main.ts', import.meta.url));
const POLICY_MAIN = fileURLToPath(new URL('../../../apps/policy-service/src/main.ts', import.meta.url));
export const BENCH_CLIENT = { client_id: 'bench', client_secret: 'bench-secret-0123456789', roles: ['editor'] };

/** A running benchmark stack; `stop()` kills every process and removes its files. */
export interface BenchStack {
  /** Starts an auth-service (default settings unless `env` says otherwise) and waits for it to be ready. */
  startAuth(env?: Record<string, string>): Promise<{ url: string; handle: ProcessHandle }>;
  /** A token of the bench client from `url`'s `/token`. */
  token(url: string): Promise<string>;
  /** The policy-service's base URL. */
  readonly policyUrl: string;
  /** Process ids of every running server of the stack by role (`redis-server`, `policy-service`, `auth-service`, `auth-service-2`…), for their CPU time. */
  serverPids(): Promise<Record<string, number>>;
  stop(): Promise<void>;
}

/** `policyOnBus`: the policy-service joins the bus too (it then consumes the audit events). */
export async function startBenchStack(options: { policyOnBus: boolean }): Promise<BenchStack> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-stack-'));
  const clients = join(dir, 'clients.json');
  await writeFile(clients, JSON.stringify(BENCH_CLIENT));
  const redis = await startRedisServer();
  const processes: ProcessHandle[] = [];
  const stack: BenchStack = {
    async startAuth(env = {}) {
      const port = await freePort();
      const handle = await startProcess({
        command: process.execPath,
        args: [AUTH_MAIN],
        env: {
          AUTH_PORT: String(port),
          POLICY_URL: policyUrl,
          REDIS_URL: redis.url,
          JWT_SECRET: 'bench-jwt-secret-0123456789abcdef0123456789',
          // One issuer for every instance, as replicas behind one address have.
          JWT_ISSUER: 'https://auth.bench.portcullis.test',
          AUTH_CLIENTS_FILE: clients,
          LOG_LEVEL: 'warn',
          ...env,
        },
        readyWhen: /auth-service ready on/,
      });
      processes.push(handle);
      return { url: `http://127.0.0.1:${port}`, handle };
    },
    async token(url) {
      const body = new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: BENCH_CLIENT.client_id,
        client_secret: BENCH_CLIENT.client_secret,
      });
      return ((await (await fetch(`${url}/token`, { method: 'POST', body })).json()) as { access_token: string }).access_token;
    },
    get policyUrl() {
      return policyUrl;
    },
    async serverPids() {
      const redisClient = new Redis(redis.url);
      const info = await redisClient.info('server');
      redisClient.disconnect();
      const redisPid = Number(/process_id:(\d+)/.exec(info)?.[1]);
      const pids: Record<string, number> = { 'redis-server': redisPid };
      processes.forEach((p, i) => {
        if (p.child.exitCode !== null || p.child.signalCode !== null) return;
        pids[i === 0 ? 'policy-service' : i === 1 ? 'auth-service' : `auth-service-${i}`] = p.child.pid ?? 0;
      });
      return pids;
    },
    async stop() {
      await Promise.all(processes.map((p) => p.stop('SIGKILL')));
      await redis.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  const policyPort = await freePort();
  const policyUrl = `http://127.0.0.1:${policyPort}`;
  try {
    processes.push(
      await startProcess({
        command: process.execPath,
        args: [POLICY_MAIN],
        env: {
          POLICY_PORT: String(policyPort),
          POLICY_WATCH: 'false',
          LOG_LEVEL: 'warn',
          ...(options.policyOnBus ? { REDIS_URL: redis.url } : {}),
        },
        readyWhen: /policy-service ready on/,
      }),
    );
  } catch (error) {
    await stack.stop();
    throw error;
  }
  return stack;
}
