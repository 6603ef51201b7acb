// A Zipf(s) key stream over n keys, from a seeded generator so every run replays the same.
export function zipfStream(n: number, s: number, length: number, seed = 42): string[] {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i += 1) {
    sum += 1 / Math.pow(i + 1, s);
    cdf[i] = sum;
  }
  let state = seed >>> 0;
  const keys: string[] = new Array<string>(length);
  for (let j = 0; j < length; j += 1) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    const u = (state / 2 ** 32) * sum;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((cdf[mid] as number) < u) lo = mid + 1;
      else hi = mid;
    }
    keys[j] = `key:${lo}`;
  }
  return keys;
}

/** Runs `body` repeatedly for about `ms` milliseconds; returns operations per second. */
export async function opsPerSecond(ms: number, opsPerCall: number, body: () => Promise<unknown> | unknown): Promise<number> {
  const start = performance.now();
  let ops = 0;
  let now = start;
  while (now - start < ms) {
    for (let i = 0; i < 256; i += 1) await body();
    ops += 256 * opsPerCall;
    now = performance.now();
  }
  return ops / ((now - start) / 1000);
}
