import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { watchForStall } from '../src/index.ts';

test('watchForStall: a window this process spent running is its own stall; one spent waiting is not', async () => {
  // First, because event-loop utilization reads 0 until the loop has started.
  const waiting = watchForStall();
  await sleep(50);
  assert.equal(waiting(), false);

  const busy = watchForStall();
  const end = performance.now() + 50;
  while (performance.now() < end); // what a GC pause or a long synchronous task does to a caller
  assert.equal(busy(), true);
});
