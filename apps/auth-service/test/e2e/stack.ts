import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, startProcess, startRedisServer, type ProcessHandle, type RedisServerHandle } from '@portcullis/testing';

const AUTH_MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));
const POLICY_MAIN = fileURLToPath(new URL('../../../policy-service/src/main.ts', import.meta.url));
export const ADMIN = 'e2e-admin-token-0123456789';
export const CLIENT = { client_id: 'e2e-client', client_secret: 'e2e-secret-0123456789', roles: ['editor'] };
export const SECRET = 'e2e-jwt-secret-0123456789abcdef0123456789';
export const ISSUER = 'https://auth.portcullis.test';

/** The whole stack as real processes: Redis, one policy-service, N auth-services. */
export interface Stack {
  redis: RedisServerHandle;
  policy: ProcessHandle;
  policyUrl: string;
  auth: { process: ProcessHandle; url: string }[];
  startPolicy(): Promise<void>;
  /**
   * Starts one more auth-service; resolves when a line matches `readyWhen` (default: its
   * "ready" line). `env` may depend on the instance's own URL (its public URL, say).
   */
  addAuth(
    env?: Record<string, string> | ((url: string) => Record<string, string>),
    readyWhen?: RegExp,
  ): Promise<{ process: ProcessHandle; url: string }>;
  token(instance?: number): Promise<string>;
  /**
   * `PUT /policies` with these policies (the schema and entities stay); resolves with the new version
   * once every auth-service instance has applied it (its policy.updated log line).
   */
  putPolicies(policies: string): Promise<string>;
  close(): Promise<void>;
}

/**
 * `extraEnv` goes to the auth-services, `policyEnv` to the policy-service; with
 * `redisPassword`, Redis requires it (`requirepass`) and both services are given it in REDIS_URL. The policy
 * deadline is a test setting (5 s) unless a test sets its own: on a starved machine a
 * 50 ms deadline is a race, and only tests about deadlines should run one.
 */
export async function startStack(
  instances = 1,
  extraEnv: Record<string, string> = {},
  policyEnv: Record<string, string> = {},
  options: { redisPassword?: string } = {},
): Promise<Stack> {
  const dir = await mkdtemp(join(tmpdir(), 'auth-e2e-'));
  const clients = join(dir, 'clients.json');
  await writeFile(clients, JSON.stringify(CLIENT));
  const password = options.redisPassword;
  const redis = await startRedisServer(password === undefined ? {} : { args: ['--requirepass', password] });
  const redisUrl = password === undefined ? redis.url : `redis://:${encodeURIComponent(password)}@127.0.0.1:${redis.port}`;
  const policyPort = await freePort();
  const policyUrl = `http://127.0.0.1:${policyPort}`;
  const stack: Stack = {
    redis,
    policyUrl,
    auth: [],
    policy: undefined as unknown as ProcessHandle,
    async startPolicy() {
      stack.policy = await startProcess({
        command: process.execPath,
        args: [POLICY_MAIN],
        env: {
          POLICY_PORT: String(policyPort),
          POLICY_ADMIN_TOKEN: ADMIN,
          REDIS_URL: redisUrl,
          POLICY_WATCH: 'false',
          LOG_LEVEL: 'info',
          ...policyEnv,
        },
        readyWhen: /policy-service ready on/,
      });
    },
    async addAuth(env = {}, readyWhen = /auth-service ready on/) {
      const port = await freePort();
      const url = `http://127.0.0.1:${port}`;
      const own = typeof env === 'function' ? env(url) : env;
      const process_ = await startProcess({
        command: process.execPath,
        args: [AUTH_MAIN],
        // Every instance issues and accepts tokens of one issuer, as replicas behind one address do.
        env: {
          AUTH_PORT: String(port),
          POLICY_URL: policyUrl,
          REDIS_URL: redisUrl,
          JWT_SECRET: SECRET,
          JWT_ISSUER: ISSUER,
          AUTH_CLIENTS_FILE: clients,
          AUTH_POLICY_TIMEOUT_MS: '5000',
          AUTH_PUBLIC_URL: url,
          // Inside the stack's directory, so a killed instance's journal goes with it.
          AUTH_AUDIT_JOURNAL_DIR: join(dir, `journal-${port}`),
          ...extraEnv,
          ...own,
        },
        readyWhen,
      });
      const auth = { process: process_, url };
      stack.auth.push(auth);
      return auth;
    },
    async putPolicies(policies) {
      const put = await fetch(`${policyUrl}/policies`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN}` },
        body: JSON.stringify({ policies }),
      });
      if (put.status !== 200) throw new Error(`PUT /policies answered ${put.status}: ${await put.text()}`);
      const { version } = (await put.json()) as { version: string };
      // Each instance logs when it applies policy.updated: wait for that event, not a clock.
      await Promise.all(stack.auth.map(({ process }) => process.waitForLine(new RegExp(`"version":"${version}".*policy version changed`))));
      return version;
    },
    async token(instance = 0) {
      const res = await fetch(`${stack.auth[instance]!.url}/token`, {
        method: 'POST',
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: CLIENT.client_id, client_secret: CLIENT.client_secret }),
      });
      return ((await res.json()) as { access_token: string }).access_token;
    },
    async close() {
      await Promise.all(stack.auth.map((a) => a.process.stop('SIGKILL')));
      await stack.policy?.stop('SIGKILL');
      await redis.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  await stack.startPolicy();
  for (let i = 0; i < instances; i += 1) await stack.addAuth();
  return stack;
}

/** POST /authenticate with a bearer token. */
export async function authenticate(
  url: string,
  token: string | undefined,
  body: unknown,
): Promise<{ status: number; body: Record<string, any>; headers: Headers }> {
  const res = await fetch(`${url}/authenticate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any>, headers: res.headers };
}

export const EDIT_DOC = { action: 'edit', resource: { type: 'Document', id: 'doc-3' } };
export const DELETE_PHOTO = { action: 'delete', resource: { type: 'Photo', id: 'photo-3.jpg' } };
