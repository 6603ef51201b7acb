// The perf run's report.html: one self-contained file (data inline, charts drawn as SVG by
// a small inline script, no library and no network), so it opens anywhere, offline, and
// can be attached to an issue. Per scenario: latency over time and latency percentiles
// with the p95 threshold drawn, throughput and errors over time with the throughput
// threshold; a table of every figure; the peer comparison against OPA when
// `npm run bench -- peers` has run (perf/results/peers.json).
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { percentile } from '../_stats.ts';
import type { Hit, Summary } from '../_vegeta.ts';
import type { Thresholds } from './scenarios.ts';

/** A chart as the inline script draws it: lines (or bars) over numeric or named x values. */
export interface Chart {
  id: string;
  title: string;
  xLabel: string;
  yLabel: string;
  /** Numbers (a time axis) or names (percentiles). */
  x: (number | string)[];
  series: { name: string; y: number[]; kind: 'line' | 'bar' }[];
  /** Horizontal limits drawn across the chart. */
  thresholds: { y: number; label: string }[];
  /** Moments drawn as vertical lines on a time axis (an event: a policy update, a kill). */
  marks?: { x: number; label: string }[];
}

/** One scenario's figures, as the report shows them: the load's summary and what was judged. */
export interface ReportScenario extends Summary {
  name: string;
  description: string;
  load: string;
  checks: { threshold: string; limit: number; actual: number; passed: boolean; gated: boolean }[];
  /** What the scenario's event measured, in words. */
  notes: string[];
  charts: Chart[];
}

/** The peers bench's last result (perf/results/peers.json), written by `npm run bench -- peers`. */
export interface PeersResult {
  at: string;
  rounds: number;
  seconds: number;
  /** Per side and mode (`OPA warm`, `Portcullis cold`…): medians over the rounds. */
  medians: Record<string, { rps: number; p95: number; cpuUsPerDecision: number }>;
  ratios: Record<string, number>;
  errors: number;
}

export const PEERS_FILE = fileURLToPath(new URL('../../../results/peers.json', import.meta.url));

const PERCENTILES = [50, 75, 90, 95, 99, 99.9, 100];

/**
 * The charts of one scenario's hits: latency (p50/p95/p99) and throughput/errors per time
 * bucket (1 s, or finer for short runs so a smoke run still has a curve), and the latency
 * percentile curve. Thresholds are drawn where the scenario has them.
 */
export function scenarioCharts(
  name: string,
  hits: Hit[],
  seconds: number,
  thresholds: Thresholds,
  events: { atS: number; label: string }[] = [],
): Chart[] {
  const marks = events.map((event) => ({ x: event.atS, label: event.label }));
  const bucketMs = seconds >= 10 ? 1000 : 250;
  const buckets = Math.max(1, Math.ceil((seconds * 1000) / bucketMs));
  const latencies: number[][] = Array.from({ length: buckets }, () => []);
  const errors = new Array<number>(buckets).fill(0);
  for (const hit of hits) {
    const i = Math.min(buckets - 1, Math.floor(hit.atMs / bucketMs));
    (latencies[i] as number[]).push(hit.latencyMs);
    if (hit.code !== 200) errors[i] = (errors[i] ?? 0) + 1;
  }
  for (const bucket of latencies) bucket.sort((a, b) => a - b);
  const x = latencies.map((_, i) => ((i + 1) * bucketMs) / 1000);
  const perSecond = 1000 / bucketMs;
  const at = (p: number) => latencies.map((bucket) => (bucket.length === 0 ? 0 : percentile(bucket, p)));
  const all = hits.map((h) => h.latencyMs).sort((a, b) => a - b);
  const p95Limit = thresholds.p95_ms === undefined ? [] : [{ y: thresholds.p95_ms, label: `p95 limit ${thresholds.p95_ms} ms` }];
  return [
    {
      id: `${name}-latency`,
      title: 'Latency over time',
      xLabel: 's',
      yLabel: 'ms',
      x,
      series: [
        { name: 'p50', y: at(50), kind: 'line' },
        { name: 'p95', y: at(95), kind: 'line' },
        { name: 'p99', y: at(99), kind: 'line' },
      ],
      thresholds: p95Limit,
      marks,
    },
    {
      id: `${name}-percentiles`,
      title: 'Latency percentiles',
      xLabel: 'percentile',
      yLabel: 'ms',
      x: PERCENTILES.map((p) => (p === 100 ? 'max' : `p${p}`)),
      series: [{ name: 'latency', y: PERCENTILES.map((p) => (all.length === 0 ? 0 : percentile(all, p))), kind: 'line' }],
      thresholds: p95Limit,
    },
    {
      id: `${name}-throughput`,
      title: 'Throughput and errors',
      xLabel: 's',
      yLabel: 'req/s',
      x,
      series: [
        { name: 'answered', y: latencies.map((bucket) => bucket.length * perSecond), kind: 'line' },
        { name: 'errors', y: errors.map((n) => n * perSecond), kind: 'bar' },
      ],
      thresholds: thresholds.min_rps === undefined ? [] : [{ y: thresholds.min_rps, label: `min ${thresholds.min_rps} req/s` }],
      marks,
    },
  ];
}

/** The last peers result, if `npm run bench -- peers` wrote one. */
export function readPeers(file = PEERS_FILE): PeersResult | undefined {
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as PeersResult) : undefined;
}

const escape = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
const fixed = (n: number, digits = 2): string => n.toFixed(digits);

function peersSection(peers: PeersResult | undefined): { html: string; charts: Chart[] } {
  if (peers === undefined)
    return { html: '<h2>Against OPA</h2><p>No peer comparison on record: run <code>npm run bench -- peers</code>.</p>', charts: [] };
  const rows = Object.entries(peers.medians)
    .map(
      ([name, m]) =>
        `<tr><td>${escape(name)}</td><td>${fixed(m.rps, 0)}</td><td>${fixed(m.p95)}</td><td>${fixed(m.cpuUsPerDecision, 0)}</td></tr>`,
    )
    .join('');
  const ratios = Object.entries(peers.ratios);
  const chart: Chart = {
    id: 'peers-ratios',
    title: 'Portcullis / OPA (throughput: higher is better; CPU and p95: lower is better)',
    xLabel: '',
    yLabel: '×',
    x: ratios.map(([name]) => name),
    series: [{ name: 'ratio', y: ratios.map(([, value]) => value), kind: 'bar' }],
    thresholds: [{ y: 1, label: 'parity' }],
  };
  const html =
    `<h2>Against OPA</h2><p>From <code>npm run bench -- peers</code> at ${escape(peers.at)}: medians of ${peers.rounds} rounds of ${peers.seconds} s, ` +
    `same machine, same job, ${peers.errors} errors.</p>` +
    `<table><tr><th>side</th><th>req/s</th><th>p95 ms</th><th>CPU µs a decision</th></tr>${rows}</table>` +
    `<figure class="chart" data-chart="peers-ratios"></figure>`;
  return { html, charts: [chart] };
}

/** The whole report as one HTML document. */
export function renderReport(run: {
  title: string;
  smoke: boolean;
  profile: number;
  failed: string[];
  scenarios: ReportScenario[];
  peers: PeersResult | undefined;
}): string {
  const peers = peersSection(run.peers);
  const charts = [...run.scenarios.flatMap((s) => s.charts), ...peers.charts];
  const rows = run.scenarios
    .map((s) => {
      const checks = s.checks
        .map(
          (c) =>
            `<span class="${c.passed ? 'ok' : c.gated ? 'fail' : 'over'}">${escape(c.threshold)} ${fixed(c.actual, 4)} / ${c.limit}</span>`,
        )
        .join(' ');
      return `<tr><td><a href="#${escape(s.name)}">${escape(s.name)}</a></td><td>${escape(s.load)}</td><td>${fixed(s.rps, 0)}</td><td>${fixed(s.p50)}</td><td>${fixed(s.p95)}</td><td>${fixed(s.p99)}</td><td>${s.failed}/${s.sent}${s.failed > 0 ? ` (${escape(s.failedCodes)})` : ''}</td><td>${checks}</td></tr>`;
    })
    .join('');
  const sections = run.scenarios
    .map(
      (s) =>
        `<section id="${escape(s.name)}"><h2>${escape(s.name)}</h2><p>${escape(s.description)} — ${escape(s.load)}</p>` +
        (s.notes.length > 0 ? `<ul>${s.notes.map((note) => `<li>${escape(note)}</li>`).join('')}</ul>` : '') +
        '<div class="charts">' +
        s.charts.map((c) => `<figure class="chart" data-chart="${escape(c.id)}"></figure>`).join('') +
        '</div></section>',
    )
    .join('');
  // JSON inside <script> must not be able to close the element.
  const data = JSON.stringify({ charts }).replace(/</g, '\\u003c');
  const script = readFileSync(fileURLToPath(new URL('./report-charts.js', import.meta.url)), 'utf8');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(run.title)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1800px}
table{border-collapse:collapse;margin:8px 0 16px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child,th:first-child{text-align:left}
.ok{color:#187a2f}.fail{color:#b00020;font-weight:bold}.over{color:#a86b00}
.charts{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0}figcaption{font-weight:600;margin-bottom:2px}
.note{color:#555}#errors{color:#b00020}
</style></head><body>
<h1>${escape(run.title)}</h1>
<p class="note">${run.smoke ? 'Smoke run: low rate, a few seconds per scenario; only error rates are gated. ' : ''}Profile ${run.profile}. Load from vegeta on the same machine. Latency and throughput thresholds hold only on a machine like the one they were set for (2 cores); error rates hold everywhere.</p>
<p>${run.failed.length === 0 ? '<span class="ok">Every gated threshold held.</span>' : `<span class="fail">Failed: ${escape(run.failed.join(', '))}</span>`}</p>
<table><tr><th>scenario</th><th>load</th><th>req/s</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>errors</th><th>thresholds (actual / limit)</th></tr>${rows}</table>
${sections}
${peers.html}
<div id="errors"></div>
<script type="application/json" id="perf-data">${data}</script>
<script>${script}</script>
</body></html>
`;
}
