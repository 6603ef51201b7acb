// Runs vegeta (MIT) as the load generator: a native process of its own, open loop at a
// fixed rate, so the load does not share the event loop (or the GC) of what it measures.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { findGoTool } from './_go-tool.ts';

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
  latencyMs: number;
  /** HTTP status; 0 when no answer came (connection error, vegeta's timeout). */
  code: number;
}

/** The vegeta binary: `$VEGETA_BIN`, `vegeta` on PATH, or Go's bin directory; built with `go install` when missing. */
export const findVegeta = (): string => findGoTool('vegeta', VEGETA_MODULE, 'VEGETA_BIN', 'about a minute');

/**
 * Sends `targets` in order (cycling) at `rate` per second for `seconds`, open loop: a
 * slow answer does not delay the next request. Resolves with every request's outcome.
 */
export async function attack(
  vegeta: string,
  targets: Target[],
  options: { rate: number; seconds: number; timeoutSeconds?: number },
): Promise<Hit[]> {
  const lines = targets.map((t) =>
    JSON.stringify({
      method: t.method,
      url: t.url,
      header: Object.fromEntries(Object.entries(t.headers ?? {}).map(([k, v]) => [k, [v]])),
      ...(t.body === undefined ? {} : { body: Buffer.from(t.body).toString('base64') }),
    }),
  );
  const child = spawn(
    'sh',
    [
      '-c',
      `"${vegeta}" attack -format=json -lazy -rate=${options.rate}/s -duration=${options.seconds}s -timeout=${options.timeoutSeconds ?? 10}s -max-workers=256 | "${vegeta}" encode --to json`,
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
  child.stdin.on('error', () => undefined); // vegeta stops reading once the duration is over
  // -lazy reads targets as it needs them; enough for the whole run, cycling if short.
  const needed = options.rate * options.seconds + 1;
  for (let i = 0; i < needed; i++) child.stdin.write(`${lines[i % lines.length]}\n`);
  child.stdin.end();
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`vegeta failed (exit ${code}): ${stderr.slice(-2000)}`);
  const results = stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { timestamp: string; latency: number; code: number });
  const start = Math.min(...results.map((r) => Date.parse(r.timestamp)));
  return results.map((r) => ({ atMs: Date.parse(r.timestamp) - start, latencyMs: r.latency / 1e6, code: r.code }));
}
