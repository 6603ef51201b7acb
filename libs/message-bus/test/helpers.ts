import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { Registry } from '@portcullis/observability';
import { MessageBus, type BusOptions, type ProcessedEvent } from '../src/index.ts';

/** A bus with its own metrics registry and a silent logger, for one test. */
export function testBus(redis: string, options: Partial<BusOptions> = {}): MessageBus {
  const silent = { warn: () => undefined } as unknown as import('@portcullis/observability').Logger;
  return new MessageBus({ redis, registry: new Registry(), statsIntervalMs: 200, logger: silent, ...options });
}

/**
 * Resolves once `predicate` has been true for the processed events seen so far.
 * Events arrive on the diagnostics channel after each outcome is stored in Redis.
 */
export function outcomes(topic: string): {
  events: ProcessedEvent[];
  until(predicate: (events: ProcessedEvent[]) => boolean, timeoutMs?: number): Promise<void>;
  stop(): void;
} {
  const events: ProcessedEvent[] = [];
  const waiters = new Set<() => void>();
  const listener = (message: unknown): void => {
    const event = message as ProcessedEvent;
    if (event.topic !== topic) return;
    events.push(event);
    for (const waiter of waiters) waiter();
  };
  subscribe('portcullis:bus:processed', listener);
  return {
    events,
    until(predicate, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (!predicate(events)) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out; ${events.length} events: ${JSON.stringify(events.slice(-5))}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    stop: () => unsubscribe('portcullis:bus:processed', listener),
  };
}

export const count = (events: ProcessedEvent[], outcome: ProcessedEvent['outcome']): number =>
  events.filter((event) => event.outcome === outcome).length;
