// An auth-service in front of a test's policy-service: the tests that need real tokens or
// real decisions through the whole path start one, with one registered client.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, startProcess, type ProcessHandle } from '@portcullis/testing';

const AUTH_MAIN = fileURLToPath(new URL('../../auth-service/src/main.ts', import.meta.url));

/** A running auth-service and an access token of its client. */
export interface AuthPeer {
  process: ProcessHandle;
  url: string;
  token: string;
}

/**
 * Starts an auth-service that asks `policyUrl` (on `redisUrl`'s bus when given), with
 * `client` registered and its files under `dir`, and gets the client a token.
 */
export async function startAuthPeer(options: {
  dir: string;
  policyUrl: string;
  redisUrl?: string;
  client: { client_id: string; client_secret: string; roles: string[] };
}): Promise<AuthPeer> {
  const clients = join(options.dir, 'auth-clients.json');
  await writeFile(clients, JSON.stringify(options.client));
  const port = await freePort();
  const process_ = await startProcess({
    command: process.execPath,
    args: [AUTH_MAIN],
    env: {
      AUTH_PORT: String(port),
      POLICY_URL: options.policyUrl,
      ...(options.redisUrl === undefined ? {} : { REDIS_URL: options.redisUrl }),
      JWT_SECRET: 'policy-tests-jwt-secret-0123456789abcdef',
      AUTH_CLIENTS_FILE: clients,
      AUTH_POLICY_TIMEOUT_MS: '5000',
      AUTH_AUDIT_JOURNAL_DIR: join(options.dir, 'auth-journal'),
    },
    readyWhen: /auth-service ready on/,
  });
  const url = `http://127.0.0.1:${port}`;
  const { client_id, client_secret } = options.client;
  const res = await fetch(`${url}/token`, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id, client_secret }),
  });
  if (res.status !== 200) throw new Error(`POST /token answered ${res.status}: ${await res.text()}`);
  const { access_token: token } = (await res.json()) as { access_token: string };
  return { process: process_, url, token };
}
