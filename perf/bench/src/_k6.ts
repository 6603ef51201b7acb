// Runs perf/k6 scripts with a native k6 in its own process, so the load generator does
// not share the event loop (or the GC) of anything it measures.
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** k6 v1.8.1: the newest k6 on the Go module proxy (`go.k6.io/k6/v2` is not published there). */
const K6_MODULE = 'go.k6.io/k6@v1.8.1';

/** What k6's handleSummary reports for one run (latencies in ms). */
export interface K6Summary { rps: number; sent: number; failed: number; dropped: number; p50: number; p95: number; p99: number; max: number }

function gopathBin(): string | undefined {
  const result = spawnSync('go', ['env', 'GOPATH'], { encoding: 'utf8' });
  return result.status === 0 ? join(result.stdout.trim(), 'bin', 'k6') : undefined;
}

/** The k6 binary: `$K6_BIN`, `k6` on PATH, or Go's bin directory; built with `go install` when missing. */
export function findK6(): string {
  const candidates = [process.env.K6_BIN, ...(process.env.PATH ?? '').split(':').map((dir) => join(dir, 'k6')), join(homedir(), 'go', 'bin', 'k6'), gopathBin()];
  const found = candidates.find((path) => path !== undefined && path !== '' && existsSync(path));
  if (found !== undefined) return found;
  console.log(`k6 not found; building ${K6_MODULE} with go install (a few minutes, once)`);
  const built = spawnSync('go', ['install', K6_MODULE], { stdio: 'inherit' });
  const path = gopathBin();
  if (built.status !== 0 || path === undefined || !existsSync(path)) {
    throw new Error(`k6 is needed for this benchmark: install Go and run \`go install ${K6_MODULE}\`, or set K6_BIN`);
  }
  return path;
}

/** Runs one k6 script with `-e` variables and returns its summary. */
export async function runK6(k6: string, script: string, env: Record<string, string | number>): Promise<K6Summary> {
  const path = fileURLToPath(new URL(`../../k6/${script}`, import.meta.url));
  const args = ['run', '--quiet', '--no-color', '--no-usage-report', ...Object.entries(env).flatMap(([key, value]) => ['-e', `${key}=${value}`]), path];
  const child = spawn(k6, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  const [code] = (await once(child, 'exit')) as [number | null];
  const line = stdout.split('\n').find((l) => l.startsWith('K6_SUMMARY '));
  // 99 means a threshold (a goal) was missed: the figures are still the result.
  if (line === undefined || (code !== 0 && code !== 99)) throw new Error(`k6 failed (exit ${code}): ${stderr.slice(-2000)}`);
  return JSON.parse(line.slice('K6_SUMMARY '.length)) as K6Summary;
}
