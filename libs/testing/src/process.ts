import { spawn, type ChildProcess } from 'node:child_process';

/** Options for {@link startProcess}. */
export interface StartProcessOptions {
  command: string;
  args?: string[];
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** The process is ready once a line of its output matches this. */
  readyWhen: RegExp;
  /** How long to wait for readiness before failing (ms). Default 20 000. */
  readyTimeoutMs?: number;
}

/** A child process started by a test, with its combined output kept for assertions. */
export interface ProcessHandle {
  readonly child: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /**
   * Resolves with the first output line matching `pattern`: already written or future,
   * or with `{ fromNow: true }` only lines written after this call. With `count`, the
   * count-th such line (two workers each logging an event: `count: 2`).
   */
  waitForLine(pattern: RegExp, timeoutMs?: number, options?: { fromNow?: boolean; count?: number }): Promise<string>;
  /** Sends `signal` and resolves with the exit code (or signal name) once it has exited. */
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

/**
 * Starts a real process and resolves once it prints a line matching `readyWhen`.
 * Rejects with the captured output if it exits or times out first, so a failing
 * start explains itself in the test report.
 */
export async function startProcess(options: StartProcessOptions): Promise<ProcessHandle> {
  const child = spawn(options.command, options.args ?? [], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let buffer = '';
  const waiters = new Set<{ pattern: RegExp; count: number; from: number; resolve: (line: string) => void }>();
  const onData = (chunk: Buffer): void => {
    buffer += chunk.toString('utf8');
    for (const waiter of waiters) {
      const line = findLine(buffer.slice(waiter.from), waiter.pattern, waiter.count);
      if (line !== undefined) {
        waiters.delete(waiter);
        waiter.resolve(line);
      }
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  // A failed spawn (command not installed) emits 'error' and never 'exit'; both settle
  // this, so a missing binary is reported instead of crashing on an unhandled rejection.
  // 'close', not 'exit': 'exit' can come before the last of the output has been read, and
  // a test reading output() after stop() would then miss the final lines.
  const exited = new Promise<number | string>((resolve) => {
    child.once('close', (code, signal) => resolve(code ?? signal ?? 'unknown'));
    child.once('error', (error) => resolve(`spawn failed: ${error.message}`));
  });

  const waitForLine = (pattern: RegExp, timeoutMs = 20_000, wait: { fromNow?: boolean; count?: number } = {}): Promise<string> => {
    const from = wait.fromNow === true ? buffer.length : 0;
    const count = wait.count ?? 1;
    const found = findLine(buffer.slice(from), pattern, count);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const waiter = {
        pattern,
        count,
        from,
        resolve: (line: string) => {
          clearTimeout(timer);
          resolve(line);
        },
      };
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${pattern} from ${options.command}\n${buffer}`));
      }, timeoutMs);
      waiters.add(waiter);
      void exited.then((status) => {
        if (!waiters.has(waiter)) return;
        waiters.delete(waiter);
        clearTimeout(timer);
        reject(new Error(`${options.command} exited (${status}) before printing ${pattern}\n${buffer}`));
      });
    });
  };

  await waitForLine(options.readyWhen, options.readyTimeoutMs);
  return {
    child,
    output: () => buffer,
    waitForLine,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** The `count`-th line of `text` matching `pattern`. */
function findLine(text: string, pattern: RegExp, count: number): string | undefined {
  return text.split('\n').filter((line) => pattern.test(line))[count - 1];
}
