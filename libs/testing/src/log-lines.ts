import { Writable } from 'node:stream';

/**
 * A log destination that keeps each line written to it (pino's `destination`), for tests
 * that assert what a component logged without a process around it.
 */
export function logLines(): { lines: string[]; destination: Writable } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  return { lines, destination };
}
