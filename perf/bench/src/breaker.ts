// `npm run bench -- breaker`: what a circuit breaker costs each call, in process, for the
// shared breaker (`@portcullis/resilience`: consecutive-failure and failure-rate rules)
// against opossum 10 (the peer the policy client used before) configured alike (error
// rate over a 10 s window of 10 buckets, volume threshold 10, no timeout of its own).
// Every call succeeds, as almost every call does in production; both also count the
// call in a Prometheus counter, as the services do.
// RESULT: ns per call of each, and opossum / ours.
import { Registry, portcullisMetrics } from '@portcullis/observability';
import { CircuitBreaker, ConsecutiveFailures, FailureRate, observeBreaker } from '@portcullis/resilience';
import Opossum from 'opossum';
import { median } from './_stats.ts';

const ROUNDS = 7;
const CALLS = 200_000;
const call = (): Promise<number> => Promise.resolve(1);

async function measure(run: () => Promise<unknown>): Promise<number> {
  const perCall: number[] = [];
  for (let round = 0; round < ROUNDS; round += 1) {
    const started = process.hrtime.bigint();
    for (let i = 0; i < CALLS; i += 1) await run();
    perCall.push(Number(process.hrtime.bigint() - started) / CALLS);
  }
  return median(perCall);
}

export async function run(): Promise<void> {
  const ours = new CircuitBreaker({
    rules: [new ConsecutiveFailures(3), new FailureRate({ thresholdPercent: 50, windowMs: 10_000, minimumCalls: 10 })],
    resetMs: 15_000,
  });
  observeBreaker(ours, portcullisMetrics(new Registry()), 'bench');
  const throughOurs = async (): Promise<number> => {
    if (!ours.tryAcquire()) throw new Error('open');
    try {
      const value = await call();
      ours.success();
      return value;
    } catch (error) {
      ours.failure();
      throw error;
    }
  };
  const opossum = new Opossum(call, {
    timeout: false,
    errorThresholdPercentage: 50,
    rollingCountTimeout: 10_000,
    rollingCountBuckets: 10,
    volumeThreshold: 10,
    resetTimeout: 15_000,
  });
  const events = portcullisMetrics(new Registry()).circuitEvents;
  opossum.on('success', () => events.inc({ target: 'bench', event: 'success' }));
  const bare = await measure(call);
  const oursNs = await measure(throughOurs);
  const opossumNs = await measure(() => opossum.fire());
  opossum.shutdown();
  ours.shutdown();
  console.log(
    `bare call ${bare.toFixed(0)} ns; shared breaker ${oursNs.toFixed(0)} ns; opossum ${opossumNs.toFixed(0)} ns (medians of ${ROUNDS} × ${CALLS.toLocaleString()} calls)`,
  );
  console.log(
    `RESULT breaker ours_ns=${(oursNs - bare).toFixed(0)} opossum_ns=${(opossumNs - bare).toFixed(0)} opossum_vs_ours=${((opossumNs - bare) / Math.max(1, oursNs - bare)).toFixed(2)}`,
  );
}
