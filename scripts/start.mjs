// `npm start`: everything Portcullis needs on one machine. Installs dependencies when
// missing, starts a private redis-server under .data/ unless REDIS_URL is set, writes
// fresh development credentials, starts the services, prints the URLs, and on Ctrl-C
// stops everything it started.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureInstalled, ensureModernNode, ensureRedisServer, root } from './lib/bootstrap.mjs';

ensureInstalled();
ensureModernNode(fileURLToPath(import.meta.url), process.argv.slice(2));

// PORTCULLIS_DATA_DIR moves it (the tests start a second suite beside a running one).
const dataDir = process.env.PORTCULLIS_DATA_DIR ? resolve(process.env.PORTCULLIS_DATA_DIR) : join(root, '.data');
const policyPort = Number(process.env.POLICY_PORT ?? 8181);
const authPort = Number(process.env.AUTH_PORT ?? 8080);
const children = [];
let stopping = false;

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Starts a child, prefixes its output, resolves when a line matches `ready`. */
function launch(name, command, args, env, ready) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push({ name, child });
    let started = false;
    const onLine = (line) => {
      if (line.trim() === '') return;
      console.log(`[${name}] ${line}`);
      if (!started && ready.test(line)) {
        started = true;
        resolve(child);
      }
    };
    for (const stream of [child.stdout, child.stderr]) {
      let rest = '';
      stream.on('data', (chunk) => {
        const lines = (rest + chunk.toString()).split('\n');
        rest = lines.pop() ?? '';
        lines.forEach(onLine);
      });
    }
    child.on('exit', (code, signal) => {
      if (!started) reject(new Error(`${name} exited (${code ?? signal}) before it was ready`));
      else if (!stopping) {
        console.error(`[portcullis] ${name} exited unexpectedly (${code ?? signal}); stopping everything`);
        void stopAll(1);
      }
    });
  });
}

async function stopAll(exitCode) {
  if (stopping) return;
  stopping = true;
  console.log('[portcullis] stopping...');
  // Services first (they drain and release bus messages), Redis last.
  for (const { child } of [...children].reverse()) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  }
  process.exit(exitCode);
}
process.on('SIGINT', () => void stopAll(0));
process.on('SIGTERM', () => void stopAll(0));

try {
  mkdirSync(dataDir, { recursive: true });
  let redisUrl = process.env.REDIS_URL;
  if (!redisUrl) {
    ensureRedisServer();
    const redisDir = join(dataDir, 'redis');
    mkdirSync(redisDir, { recursive: true });
    const port = await freePort();
    await launch(
      'redis',
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--dir', redisDir, '--appendonly', 'yes'],
      {},
      /Ready to accept connections/,
    );
    redisUrl = `redis://127.0.0.1:${port}`;
  }

  // Fresh development credentials on every start; .data/ is git-ignored.
  const adminToken = randomBytes(24).toString('base64url');
  const devClient = { client_id: 'dev-client', client_secret: randomBytes(24).toString('base64url') };
  writeFileSync(join(dataDir, 'admin-token'), `${adminToken}\n`, { mode: 0o600 });
  writeFileSync(join(dataDir, 'dev-client.json'), `${JSON.stringify(devClient, null, 2)}\n`, { mode: 0o600 });
  // The auth-service's client registry: the dev client is an editor of the sample domain.
  const clientsFile = join(dataDir, 'clients.json');
  writeFileSync(clientsFile, `${JSON.stringify([{ ...devClient, roles: ['editor'] }], null, 2)}\n`, { mode: 0o600 });

  await launch(
    'policy',
    process.execPath,
    [join(root, 'apps/policy-service/src/main.ts')],
    {
      POLICY_PORT: String(policyPort),
      POLICY_ADMIN_TOKEN: adminToken,
      REDIS_URL: redisUrl,
    },
    /policy-service ready on/,
  );
  await launch(
    'auth',
    process.execPath,
    [join(root, 'apps/auth-service/src/main.ts')],
    {
      AUTH_PORT: String(authPort),
      POLICY_URL: `http://127.0.0.1:${policyPort}`,
      REDIS_URL: redisUrl,
      JWT_SECRET: randomBytes(32).toString('base64url'),
      AUTH_CLIENTS_FILE: clientsFile,
      AUTH_AUDIT_JOURNAL_DIR: join(dataDir, 'audit-journal'),
      // One machine: a worker per core, unless the user chose a number.
      AUTH_WORKERS: process.env.AUTH_WORKERS || 'auto',
    },
    /auth-service ready on/,
  );

  // Where the files really are: .data/ of the checkout, or PORTCULLIS_DATA_DIR.
  const shown = (path) => (path.startsWith(root) ? relative(root, path) : path);
  console.log(`
Portcullis is up.
  auth-service    http://127.0.0.1:${authPort}   (POST /token, /authenticate, /revoke; /health /ready /metrics /openapi.json)
  policy-service  http://127.0.0.1:${policyPort}   (HTTP/1.1 and h2c; /health /ready /metrics /openapi.json)
  redis           ${redisUrl}
  admin token     ${adminToken}   (also in ${shown(join(dataDir, 'admin-token'))})
  dev client      ${devClient.client_id} / ${devClient.client_secret}   (also in ${shown(join(dataDir, 'dev-client.json'))})
Press Ctrl-C to stop everything.`);
} catch (error) {
  console.error(`[portcullis] ${error.message}`);
  await stopAll(1);
}
