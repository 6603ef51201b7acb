import type { PortcullisMetrics } from '@portcullis/observability';
import { BREAKER_STATE_VALUE, type CircuitBreaker } from './breaker.ts';

/**
 * Reports a breaker in `portcullis_circuit_state{target}` and
 * `portcullis_circuit_events_total{target,event}`: every breaker, one vocabulary.
 * Returns an unsubscribe function.
 */
export function observeBreaker(
  breaker: CircuitBreaker,
  metrics: Pick<PortcullisMetrics, 'circuitState' | 'circuitEvents'>,
  target: string,
): () => void {
  const state = metrics.circuitState.labels({ target });
  state.set(BREAKER_STATE_VALUE[breaker.state]);
  // One labelled child per event, made once: `success` is counted on every call.
  const counters = new Map<string, { inc(): void }>();
  return breaker.onEvent((event, now) => {
    let counter = counters.get(event);
    if (counter === undefined) counters.set(event, (counter = metrics.circuitEvents.labels({ target, event })));
    counter.inc();
    if (event === 'open' || event === 'half_open' || event === 'close') state.set(BREAKER_STATE_VALUE[now]);
  });
}
