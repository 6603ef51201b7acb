// `npm run bench -- startup`: is load served from the first second after `/ready`?
// Each run starts the whole stack fresh (redis-server, policy-service, auth-service as
// real processes, default settings), and the moment the auth-service says it is ready
// sends open-loop load of new decisions (every request a new resource) with vegeta.
// The limit is zero: no 503 and no breaker opening while both services are healthy.
// STARTUP_RATE (200/s), STARTUP_SECONDS (10) and STARTUP_RUNS (3) tune it.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, startProcess, startRedisServer, type ProcessHandle } from '@portcullis/testing';
import { attack, findVegeta, type Hit } from './_vegeta.ts';
import { median, percentile } from './_stats.ts';

const AUTH_MAIN = fileURLToPath(new URL('../../../apps/auth-service/src/main.ts', import.meta.url));
const POLICY_MAIN = fileURLToPath(new URL('../../../apps/policy-service/src/main.ts', import.meta.url));
const RATE = Number(process.env.STARTUP_RATE ?? 200);
const SECONDS = Number(process.env.STARTUP_SECONDS ?? 10);
const RUNS = Number(process.env.STARTUP_RUNS ?? 3);
const CLIENT = { client_id: 'bench', client_secret: 'bench-secret-0123456789', roles: ['editor'] };

interface RunResult {
  hits: Hit[];
  breakerOpens: number;
  readyMs: number;
}

async function oneRun(vegeta: string, run: number): Promise<RunResult> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-startup-'));
  const clients = join(dir, 'clients.json');
  await writeFile(clients, JSON.stringify(CLIENT));
  const redis = await startRedisServer();
  const processes: ProcessHandle[] = [];
  try {
    const policyPort = await freePort();
    const authPort = await freePort();
    const began = performance.now();
    processes.push(
      await startProcess({
        command: process.execPath,
        args: [POLICY_MAIN],
        env: { POLICY_PORT: String(policyPort), POLICY_WATCH: 'false', REDIS_URL: redis.url, LOG_LEVEL: 'warn' },
        readyWhen: /policy-service ready on/,
      }),
    );
    const auth = await startProcess({
      command: process.execPath,
      args: [AUTH_MAIN],
      env: {
        AUTH_PORT: String(authPort),
        POLICY_URL: `http://127.0.0.1:${policyPort}`,
        REDIS_URL: redis.url,
        JWT_SECRET: 'bench-jwt-secret-0123456789abcdef0123456789',
        AUTH_CLIENTS_FILE: clients,
        LOG_LEVEL: 'warn',
      },
      readyWhen: /auth-service ready on/,
    });
    processes.push(auth);
    const readyMs = performance.now() - began;
    const url = `http://127.0.0.1:${authPort}`;
    const tokenRes = await fetch(`${url}/token`, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: CLIENT.client_id, client_secret: CLIENT.client_secret }),
    });
    const { access_token: token } = (await tokenRes.json()) as { access_token: string };
    const targets = Array.from({ length: RATE * SECONDS + 1 }, (_, n) => ({
      method: 'POST',
      url: `${url}/authenticate`,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ action: n % 3 === 0 ? 'edit' : 'view', resource: { type: 'Document', id: `startup-${run}-${n}` } }),
    }));
    const hits = await attack(vegeta, targets, { rate: RATE, seconds: SECONDS });
    const breakerOpens = auth
      .output()
      .split('\n')
      .filter((line) => /policy-service circuit open/.test(line)).length;
    return { hits, breakerOpens, readyMs };
  } finally {
    await Promise.all(processes.map((p) => p.stop('SIGKILL')));
    await redis.close();
    await rm(dir, { recursive: true, force: true });
  }
}

export async function run(): Promise<void> {
  const vegeta = findVegeta();
  console.log(`${RUNS} runs: fresh stack, then ${RATE} new decisions/s for ${SECONDS} s from the moment the auth-service is ready`);
  const rows: { errors: number; firstSecond: number; opens: number; p95: number; p99: number; readyMs: number }[] = [];
  for (let run = 0; run < RUNS; run++) {
    const { hits, breakerOpens, readyMs } = await oneRun(vegeta, run);
    const failed = hits.filter((h) => h.code !== 200);
    const latencies = hits.map((h) => h.latencyMs).sort((a, b) => a - b);
    const row = {
      errors: failed.length,
      firstSecond: failed.filter((h) => h.atMs < 1000).length,
      opens: breakerOpens,
      p95: percentile(latencies, 95),
      p99: percentile(latencies, 99),
      readyMs,
    };
    rows.push(row);
    const codes = [...new Set(failed.map((h) => h.code))].join(',') || '-';
    console.log(
      `run ${run + 1}: ready after ${readyMs.toFixed(0)} ms; ${hits.length} requests, ${row.errors} not 200 (codes ${codes}), ${row.firstSecond} of them in the first second; breaker opened ${row.opens}×; p95 ${row.p95.toFixed(1)} ms, p99 ${row.p99.toFixed(1)} ms`,
    );
  }
  const total = (pick: (r: (typeof rows)[number]) => number): number => rows.reduce((sum, r) => sum + pick(r), 0);
  console.log(
    `RESULT startup rate=${RATE} seconds=${SECONDS} runs=${RUNS} errors=${total((r) => r.errors)} first_second_errors=${total((r) => r.firstSecond)} breaker_opens=${total((r) => r.opens)} p95_ms=${median(rows.map((r) => r.p95)).toFixed(2)} p99_ms=${median(rows.map((r) => r.p99)).toFixed(2)} ready_ms=${median(rows.map((r) => r.readyMs)).toFixed(0)} limit_errors=0`,
  );
}
