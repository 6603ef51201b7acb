import { performance } from 'node:perf_hooks';

/**
 * Above this event-loop utilization over a call's window, a timeout of that call is this
 * process's own doing: it was too busy to send the request, or to read an answer that may
 * have arrived. Measured on a CPU-starved machine (one core shared with a spinning
 * process), a caller that only waited still showed 0.2–0.55 (descheduled while running
 * counts as active); one blocked past the deadline shows ~1.
 */
export const LOCAL_STALL_UTILIZATION = 0.8;

/**
 * Starts watching this process's event loop for one call. The returned function says
 * whether the loop was busy enough since then that a timeout says nothing about the
 * dependency; a breaker should then neither count it nor hold its trial (`release()`).
 */
export function watchForStall(): () => boolean {
  const start = performance.eventLoopUtilization();
  return () => performance.eventLoopUtilization(start).utilization > LOCAL_STALL_UTILIZATION;
}
