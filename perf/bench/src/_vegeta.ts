// Runs vegeta (MIT) as the load generator: a native process of its own, so the load does
// not share the event loop (or the GC) of what it measures. k6 is not used here (AGPL);
// perf/k6/*.js are the same scenarios for users who run k6 themselves.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { findGoTool } from './_go-tool.ts';
import { percentile } from './_stats.ts';

const VEGETA_MODULE = 'github.com/tsenart/vegeta/v12@v12.13.0';

/** One HTTP request of an attack. */
export interface Target {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: string;
}

/** One answered (or failed) request, as vegeta recorded it. */
export interface Hit {
  /** When it was sent, ms after the attack began. */
  atMs: number;
  /** When it was sent, epoch ms (to line it up with other clocks of the run). */
  sentAt: number;
  latencyMs: number;
  /** HTTP status; 0 when no answer came (connection error, vegeta's timeout). */
  code: number;
  /** The answer's body, when the attack was asked to keep them. */
  body?: string;
}

/** An attack in a few numbers (latencies in ms). */
export interface Summary {
  rps: number;
  sent: number;
  /** Requests not answered 200. */
  failed: number;
  /** Their statuses, e.g. `503×12` (0: no answer). */
  failedCodes: string;
  p50: number;
  p95: number;
  p99: number;
}

/** The vegeta binary: `$VEGETA_BIN`, on PATH, or Go's bin directory; built once with `go install` when missing. */
export function findVegeta(): string {
  return findGoTool('vegeta', VEGETA_MODULE, 'VEGETA_BIN');
}

/**
 * Sends `targets` in order (cycling) for `seconds`. With `rate`, open loop (like k6's
 * constant-arrival-rate): a slow answer does not delay the next request. With `workers`
 * instead, closed loop (like k6's constant-vus): that many requests in flight, each sent
 * when the last was answered, as fast as the stack answers. Resolves with every request.
 */
export async function attack(
  vegeta: string,
  targets: Target[],
  options: { seconds: number; timeoutSeconds?: number; keepBodies?: boolean } & (
    { rate: number; maxWorkers?: number } | { workers: number }
  ),
): Promise<Hit[]> {
  const lines = targets.map((t) =>
    JSON.stringify({
      method: t.method,
      url: t.url,
      header: Object.fromEntries(Object.entries(t.headers ?? {}).map(([k, v]) => [k, [v]])),
      ...(t.body === undefined ? {} : { body: Buffer.from(t.body).toString('base64') }),
    }),
  );
  const pace =
    'rate' in options
      ? `-rate=${options.rate}/s -max-workers=${options.maxWorkers ?? 256}`
      : `-rate=0 -workers=${options.workers} -max-workers=${options.workers}`;
  const child = spawn(
    'sh',
    [
      '-c',
      `"${vegeta}" attack -format=json -lazy ${pace} -duration=${options.seconds}s -timeout=${options.timeoutSeconds ?? 10}s | "${vegeta}" encode --to json`,
    ],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  // vegeta stops reading once the duration is over: a broken pipe then is the normal end.
  child.stdin.on('error', () => undefined);
  // -lazy reads targets as it needs them; the list cycles if the attack wants more.
  const exited = once(child, 'exit');
  for (let i = 0; child.exitCode === null && i < Math.max(lines.length, 1_000_000); i++) {
    if (!child.stdin.write(`${lines[i % lines.length]}\n`)) await Promise.race([once(child.stdin, 'drain').catch(() => undefined), exited]);
  }
  child.stdin.end();
  const [code] = (await exited) as [number | null];
  if (code !== 0) throw new Error(`vegeta failed (exit ${code}): ${stderr.slice(-2000)}`);
  const results = stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { timestamp: string; latency: number; code: number; body?: string | null });
  // A loop, not Math.min(...): a long attack has more hits than a call has room for arguments.
  let start = Number.POSITIVE_INFINITY;
  for (const r of results) start = Math.min(start, Date.parse(r.timestamp));
  return results.map((r) => ({
    atMs: Date.parse(r.timestamp) - start,
    sentAt: Date.parse(r.timestamp),
    latencyMs: r.latency / 1e6,
    code: r.code,
    ...(options.keepBodies === true && typeof r.body === 'string' ? { body: Buffer.from(r.body, 'base64').toString('utf8') } : {}),
  }));
}

/** Throughput over the attack's span, failures and latency percentiles of its hits. */
export function summarize(hits: Hit[], seconds: number): Summary {
  const latencies = hits.map((h) => h.latencyMs).sort((a, b) => a - b);
  return {
    rps: hits.length / seconds,
    sent: hits.length,
    failed: hits.filter((h) => h.code !== 200).length,
    failedCodes: [
      ...Map.groupBy(
        hits.filter((h) => h.code !== 200),
        (h) => h.code,
      ),
    ]
      .map(([code, of]) => `${code}×${of.length}`)
      .join(' '),
    p50: percentile(latencies, 50),
    p95: percentile(latencies, 95),
    p99: percentile(latencies, 99),
  };
}
