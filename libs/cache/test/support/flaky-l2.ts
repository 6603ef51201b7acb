import type { L2Command, L2Driver } from '../../src/index.ts';

/**
 * Fault injection around a real L2 driver, as bentocache's chaos drivers do: in `fail`
 * mode every call rejects at once, in `stall` mode every call hangs until `heal()`.
 */
export class FlakyL2 implements L2Driver {
  readonly inner: L2Driver;
  mode: 'ok' | 'fail' | 'stall' = 'ok';
  calls = 0;
  readonly #stalled: (() => void)[] = [];

  constructor(inner: L2Driver) {
    this.inner = inner;
  }

  fail(): void {
    this.mode = 'fail';
  }

  stall(): void {
    this.mode = 'stall';
  }

  /** Back to normal; calls stalled so far reject. */
  heal(): void {
    this.mode = 'ok';
    for (const release of this.#stalled.splice(0)) release();
  }

  get roundTrips(): number {
    return this.inner.roundTrips;
  }

  get ready(): boolean {
    return this.mode === 'ok' && this.inner.ready;
  }

  get(key: string): Promise<string | null> {
    return this.#gate(() => this.inner.get(key));
  }

  pipeline(commands: L2Command[]): Promise<unknown[]> {
    return this.#gate(() => this.inner.pipeline(commands));
  }

  deleteMatching(pattern: string): Promise<number> {
    return this.#gate(() => this.inner.deleteMatching(pattern));
  }

  close(): Promise<void> {
    this.heal();
    return this.inner.close();
  }

  #gate<T>(call: () => Promise<T>): Promise<T> {
    this.calls += 1;
    if (this.mode === 'fail') return Promise.reject(new Error('injected L2 failure'));
    if (this.mode === 'stall') return new Promise<T>((_resolve, reject) => this.#stalled.push(() => reject(new Error('stall released'))));
    return call();
  }
}
