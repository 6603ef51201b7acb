// What every k6 script of the suite shares: picking its scenario from perf/scenarios.json
// (the one definition `npm run perf` also reads), turning it into k6 `options`
// (executor, rate, duration, thresholds) and writing the end-of-test summary as JSON.
// Each script reads the file itself (`open` resolves paths from the script that calls it)
// and hands the text here.
import http from 'k6/http';

/**
 * One scenario of perf/scenarios.json (see perf/bench/src/suite/scenarios.ts).
 * @typedef {{ name: string, request: string, event?: string, items?: number, executor: 'constant-arrival-rate' | 'constant-vus', rate?: number, workers?: number, seconds: number, thresholds: Record<string, number> }} Scenario
 */

/**
 * The scenario named by `-e SCENARIO=` (or `fallback`), which must be one `accepts` allows.
 * @param {string} json the text of perf/scenarios.json
 * @param {string} fallback
 * @param {(scenario: Scenario) => boolean} accepts
 * @returns {Scenario}
 */
export function pickScenario(json, fallback, accepts) {
  /** @type {{ scenarios: Scenario[] }} */
  const definition = JSON.parse(json);
  const name = __ENV.SCENARIO || fallback;
  const scenario = definition.scenarios.find((s) => s.name === name && accepts(s));
  if (scenario === undefined) {
    const known = definition.scenarios.filter(accepts).map((s) => s.name);
    throw new Error(`SCENARIO must be one of ${known.join(', ')}; got ${name}`);
  }
  return scenario;
}

/**
 * k6 options for the scenario's load, as scenario `load`; `extra` adds scenarios (an
 * event's one iteration) and `extraThresholds` custom metrics' limits. PROFILE scales
 * open-loop rates (0.5 halves them) for a smaller machine.
 * @param {Scenario} scenario
 * @param {{ extra?: Record<string, import('k6/options').Scenario>, extraThresholds?: Record<string, string[]> }} [more]
 * @returns {import('k6/options').Options}
 */
export function scenarioOptions(scenario, more = {}) {
  const profile = Number(__ENV.PROFILE || 1);
  /** @type {Record<string, string[]>} */
  const thresholds = { checks: ['rate>0.999'], ...more.extraThresholds };
  const limits = scenario.thresholds;
  // Only the load's requests are judged by the latency and error limits: an event's own
  // requests (a PUT, a revoke, the polls until it is seen) are measured by their metric.
  if (limits.p95_ms !== undefined) thresholds['http_req_duration{scenario:load}'] = [`p(95)<${limits.p95_ms}`];
  if (limits.error_rate !== undefined) thresholds['http_req_failed{scenario:load}'] = [`rate<=${limits.error_rate}`];
  if (limits.min_rps !== undefined) thresholds['http_reqs{scenario:load}'] = [`rate>=${limits.min_rps}`];
  /** @type {import('k6/options').Scenario} */
  const load =
    scenario.executor === 'constant-vus'
      ? { executor: 'constant-vus', vus: scenario.workers ?? 1, duration: `${scenario.seconds}s`, exec: 'load' }
      : // Open loop: requests leave on schedule whether or not earlier ones were answered.
        {
          executor: 'constant-arrival-rate',
          rate: Math.max(1, Math.round((scenario.rate ?? 1) * profile)),
          timeUnit: '1s',
          duration: `${scenario.seconds}s`,
          preAllocatedVUs: 64,
          maxVUs: 512,
          exec: 'load',
        };
  return {
    summaryTrendStats: ['med', 'p(95)', 'p(99)', 'max'],
    thresholds,
    scenarios: { load, ...more.extra },
  };
}

/**
 * k6's end-of-test summary (@types/k6 does not type it): each metric's computed values.
 * @typedef {{ metrics: Record<string, { values: Record<string, number> }> }} EndOfTestSummary
 */

/**
 * A `handleSummary` writing the figures `npm run perf` reports, plus `extraMetrics`
 * (an event's own metric), to stdout and `k6-summary-<scenario>.json`.
 * @param {string} name
 * @param {string[]} [extraMetrics]
 * @returns {(data: EndOfTestSummary) => Record<string, string>}
 */
export function summaryWriter(name, extraMetrics = []) {
  return (data) => {
    const d = data.metrics.http_req_duration?.values ?? {};
    /** @type {Record<string, unknown>} */
    const summary = {
      scenario: name,
      rps: data.metrics.http_reqs?.values.rate,
      sent: data.metrics.http_reqs?.values.count,
      failed: data.metrics.http_req_failed?.values.passes,
      p50: d.med,
      p95: d['p(95)'],
      p99: d['p(99)'],
      max: d.max,
      dropped: data.metrics.dropped_iterations?.values.count ?? 0,
    };
    for (const metric of extraMetrics) summary[metric] = data.metrics[metric]?.values ?? null;
    const fixed = (/** @type {unknown} */ value) => (typeof value === 'number' ? value.toFixed(2) : 'n/a');
    const text = [
      `${name}: ${fixed(summary.rps)} req/s, ${summary.sent ?? 0} sent, ${summary.failed ?? 0} failed, ${summary.dropped} dropped`,
      `latency ms: p50 ${fixed(summary.p50)}  p95 ${fixed(summary.p95)}  p99 ${fixed(summary.p99)}  max ${fixed(summary.max)}`,
      ...extraMetrics.map((metric) => `${metric}: ${JSON.stringify(summary[metric])}`),
    ].join('\n');
    return { stdout: `${text}\n`, [`k6-summary-${name}.json`]: JSON.stringify(summary) };
  };
}

/**
 * k6's `setup()` for the scripts that authenticate: `-e TOKEN=` when given, else a token
 * from `<TARGET_URL or the first INSTANCE_URLS>/token` for `-e CLIENT_ID= -e CLIENT_SECRET=`.
 * @returns {{ token: string }}
 */
export function tokenSetup() {
  if (__ENV.TOKEN) return { token: __ENV.TOKEN };
  const base = (__ENV.INSTANCE_URLS || __ENV.TARGET_URL || '').split(',')[0];
  const response = http.post(`${base}/token`, {
    grant_type: 'client_credentials',
    client_id: __ENV.CLIENT_ID,
    client_secret: __ENV.CLIENT_SECRET,
  });
  if (response.status !== 200) throw new Error(`POST ${base}/token answered ${response.status}: set TOKEN, or CLIENT_ID and CLIENT_SECRET`);
  return { token: String(response.json('access_token')) };
}

/**
 * A `check()` set for an answer that must be 200 with a JSON object holding `member`.
 * @param {string} member
 * @returns {Record<string, (r: import('k6/http').RefinedResponse<import('k6/http').ResponseType | undefined>) => boolean>}
 */
export function okWith(member) {
  return {
    'status is 200': (r) => r.status === 200,
    [`the answer has ${member}`]: (r) => {
      const answer = r.status === 200 ? r.json() : null;
      return answer !== null && typeof answer === 'object' && !Array.isArray(answer) && member in answer;
    },
  };
}
