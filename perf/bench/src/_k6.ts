// Runs perf/k6 scripts with a native k6 in its own process, so the load generator does
// not share the event loop (or the GC) of anything it measures.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { findGoTool } from './_go-tool.ts';

/** k6 v1.8.1: the newest k6 on the Go module proxy (`go.k6.io/k6/v2` is not published there). */
const K6_MODULE = 'go.k6.io/k6@v1.8.1';

/** What k6's handleSummary reports for one run (latencies in ms). */
export interface K6Summary {
  rps: number;
  sent: number;
  failed: number;
  dropped: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** The k6 binary: `$K6_BIN`, `k6` on PATH, or Go's bin directory; built with `go install` when missing. */
export const findK6 = (): string => findGoTool('k6', K6_MODULE, 'K6_BIN', 'a few minutes');

/** Runs one k6 script with `-e` variables and returns its summary. */
export async function runK6(k6: string, script: string, env: Record<string, string | number>): Promise<K6Summary> {
  const path = fileURLToPath(new URL(`../../k6/${script}`, import.meta.url));
  const args = [
    'run',
    '--quiet',
    '--no-color',
    '--no-usage-report',
    ...Object.entries(env).flatMap(([key, value]) => ['-e', `${key}=${value}`]),
    path,
  ];
  const child = spawn(k6, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  const line = stdout.split('\n').find((l) => l.startsWith('K6_SUMMARY '));
  // 99 means a threshold (a goal) was missed: the figures are still the result.
  if (line === undefined || (code !== 0 && code !== 99)) throw new Error(`k6 failed (exit ${code}): ${stderr.slice(-2000)}`);
  return JSON.parse(line.slice('K6_SUMMARY '.length)) as K6Summary;
}
