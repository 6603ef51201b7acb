// Runs wrk (Apache-2.0, Debian's package) as a closed-loop load generator for one request
// asked again and again. It costs far less CPU a request than vegeta (an event loop in C,
// no per-request record), so on a 2-core machine the servers measured get more of it.
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onPath } from './_go-tool.ts';
import type { Summary, Target } from './_vegeta.ts';

/** The wrk binary: `$WRK_BIN` or on PATH; installed from Debian's packages when missing and we are root. */
export function findWrk(): string {
  const found = process.env.WRK_BIN ?? onPath('wrk');
  if (found !== undefined) return found;
  if (process.getuid?.() === 0) {
    console.log('wrk not found; installing Debian package wrk (once)');
    spawnSync('sh', ['-c', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk'], { stdio: 'inherit' });
    const installed = onPath('wrk');
    if (installed !== undefined) return installed;
  }
  throw new Error('wrk is needed for this benchmark: `apt-get install wrk`, or set WRK_BIN');
}

/** A Lua long string that cannot be closed early by `text`. */
function luaString(text: string): string {
  let level = '';
  while (text.includes(`]${level}]`)) level += '=';
  return `[${level}[${text}]${level}]`;
}

/** The script: the target's method, headers and body; at the end one line of JSON with the figures. */
function script(target: Target): string {
  return [
    `wrk.method = ${luaString(target.method)}`,
    ...Object.entries(target.headers ?? {}).map(([name, value]) => `wrk.headers[ ${luaString(name)} ] = ${luaString(value)}`),
    target.body === undefined ? '' : `wrk.body = ${luaString(target.body)}`,
    'done = function(summary, latency, requests)',
    '  local e = summary.errors',
    '  io.write(string.format("WRKJSON {\\"requests\\":%d,\\"duration_us\\":%d,\\"status\\":%d,\\"socket\\":%d,\\"p50\\":%d,\\"p95\\":%d,\\"p99\\":%d}\\n",',
    '    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,',
    '    latency:percentile(50), latency:percentile(95), latency:percentile(99)))',
    'end',
  ].join('\n');
}

/**
 * Sends `target` again and again from `connections` keep-alive connections for `seconds`
 * (closed loop: each connection sends its next request when the last was answered).
 * `failed` counts answers other than 2xx/3xx and socket errors.
 */
export async function wrkAttack(
  wrk: string,
  target: Target,
  options: { seconds: number; connections: number; threads?: number },
): Promise<Summary> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-wrk-'));
  try {
    const file = join(dir, 'target.lua');
    writeFileSync(file, script(target));
    const threads = Math.min(options.threads ?? 2, options.connections);
    const child = spawn(
      wrk,
      [`-t${threads}`, `-c${options.connections}`, `-d${options.seconds}s`, '--timeout', '10s', '-s', file, target.url],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    const line = /^WRKJSON (.*)$/m.exec(output)?.[1];
    if (code !== 0 || line === undefined) throw new Error(`wrk failed (exit ${code}): ${output.slice(-2000)}`);
    const figures = JSON.parse(line) as Record<'requests' | 'duration_us' | 'status' | 'socket' | 'p50' | 'p95' | 'p99', number>;
    const failed = figures.status + figures.socket;
    return {
      rps: figures.requests / (figures.duration_us / 1e6),
      sent: figures.requests,
      failed,
      failedCodes: failed === 0 ? '' : `non-2xx×${figures.status} socket×${figures.socket}`,
      p50: figures.p50 / 1000,
      p95: figures.p95 / 1000,
      p99: figures.p99 / 1000,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
