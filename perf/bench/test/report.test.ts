import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import type { Hit } from '../src/_vegeta.ts';
import { renderReport, scenarioCharts, type PeersResult, type ReportScenario } from '../src/suite/report.ts';

/** Deterministic hits: `rate` a second for `seconds`, latency rising over the run, every `failEvery`th a 503. */
function hits(rate: number, seconds: number, failEvery = 0): Hit[] {
  return Array.from({ length: rate * seconds }, (_, n) => ({
    atMs: (n * 1000) / rate,
    sentAt: 1_800_000_000_000 + (n * 1000) / rate,
    latencyMs: 1 + (n % 17) / 4 + (n / (rate * seconds)) * 5,
    code: failEvery > 0 && n % failEvery === 0 ? 503 : 200,
  }));
}

function scenario(name: string, description: string, sample: Hit[], seconds: number, thresholds: ReportScenario['checks']): ReportScenario {
  const limits = Object.fromEntries(thresholds.map((c) => [c.threshold, c.limit]));
  return {
    name,
    description,
    load: `${sample.length / seconds}/s, ${seconds} s`,
    rps: sample.length / seconds,
    sent: sample.length,
    failed: sample.filter((h) => h.code !== 200).length,
    failedCodes: '503×n',
    p50: 2,
    p95: 4,
    p99: 5,
    checks: thresholds,
    notes: name === 'authenticate-warm' ? ['policy update: every instance answered by it 12 ms, 15 ms after it was sent'] : [],
    charts: scenarioCharts(name, sample, seconds, limits, name === 'authenticate-warm' ? [{ atS: 2.5, label: 'policy update' }] : []),
  };
}

const PEERS: PeersResult = {
  at: '2026-12-03T00:00:00.000Z',
  rounds: 3,
  seconds: 5,
  medians: { 'OPA warm': { rps: 3000, p95: 12, cpuUsPerDecision: 600 }, 'Portcullis warm': { rps: 5500, p95: 9, cpuUsPerDecision: 240 } },
  ratios: { warm_vs_opa: 1.83, warm_cpu_vs_opa: 0.4 },
  errors: 0,
};

describe('perf report', () => {
  test('charts: time buckets hold every hit once, errors per second, percentiles rise, thresholds where set', () => {
    const sample = hits(200, 10, 50);
    const [latency, percentiles, throughput] = scenarioCharts('s', sample, 10, { p95_ms: 3, min_rps: 150 });
    assert.equal(latency!.x.length, 10, '1 s buckets for a 10 s run');
    const answered = throughput!.series.find((s) => s.name === 'answered')!.y;
    assert.equal(
      answered.reduce((a, b) => a + b, 0),
      sample.length,
    );
    assert.deepEqual(throughput!.series.find((s) => s.name === 'errors')!.y, new Array(10).fill(4));
    const curve = percentiles!.series[0]!.y;
    assert.ok(
      curve.every((v, i) => i === 0 || v >= curve[i - 1]!),
      'a percentile curve never falls',
    );
    assert.deepEqual(
      latency!.thresholds.map((t) => t.y),
      [3],
    );
    assert.deepEqual(
      throughput!.thresholds.map((t) => t.y),
      [150],
    );
    assert.equal(scenarioCharts('short', hits(25, 2), 2, {})[0]!.x.length, 8, 'a smoke run still gets a curve (250 ms buckets)');
  });

  describe('in headless Chromium', () => {
    let browser: Browser;
    let dir: string;
    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'perf-report-'));
      browser = await chromium.launch({
        executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
        // This machine's network is closed: without these Chromium retries Google's hosts at every start.
        args: [
          '--no-sandbox',
          '--disable-gpu',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
          '--no-first-run',
        ],
      });
    });
    after(async () => {
      await browser?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    test('renders every chart, with its thresholds, and no script error; hostile names stay text', async () => {
      const hostile = '</script><script>window.pwned = true</script><img src=x onerror="window.pwned = true">';
      const scenarios = [
        scenario('authenticate-warm', 'warm', hits(300, 10), 10, [
          { threshold: 'p95_ms', limit: 3, actual: 4, passed: false, gated: true },
          { threshold: 'error_rate', limit: 0.001, actual: 0, passed: true, gated: true },
        ]),
        scenario('authenticate-max', hostile, hits(100, 2, 10), 2, [
          { threshold: 'min_rps', limit: 3000, actual: 100, passed: false, gated: false },
        ]),
      ];
      const file = join(dir, 'report.html');
      writeFileSync(
        file,
        renderReport({ title: 'test run', smoke: false, profile: 1, failed: ['authenticate-warm p95_ms'], scenarios, peers: PEERS }),
      );

      const page = await browser.newPage();
      const problems: string[] = [];
      page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
      page.on('console', (message) => {
        if (message.type() === 'error') problems.push(`console: ${message.text()}`);
      });
      page.on('dialog', (dialog) => {
        problems.push(`dialog: ${dialog.message()}`);
        void dialog.dismiss();
      });
      await page.goto(pathToFileURL(file).href);
      const figures = await page.$$eval('figure[data-chart]', (nodes) =>
        nodes.map((node) => ({
          id: node.getAttribute('data-chart'),
          drawn: node.getAttribute('data-drawn'),
          lines: node.querySelectorAll('path.series').length,
          bars: node.querySelectorAll('rect.bar').length,
          thresholds: node.querySelectorAll('line.threshold').length,
          marks: node.querySelectorAll('line.mark').length,
          emptyPaths: [...node.querySelectorAll('path.series')].filter(
            (p) => !/^M[\d.]+,[\d.]+(L[\d.]+,[\d.]+)+$/.test(p.getAttribute('d') ?? ''),
          ).length,
        })),
      );
      assert.deepEqual(problems, []);
      assert.equal(await page.evaluate(() => (globalThis as { pwned?: boolean }).pwned), undefined, 'the hostile description ran nothing');
      assert.ok((await page.textContent('body'))?.includes('window.pwned = true'), 'it is shown as text');
      assert.equal(figures.length, 2 * 3 + 1, 'three charts a scenario, one for the peers');
      for (const figure of figures) {
        assert.equal(figure.drawn, 'true', `${figure.id} drawn`);
        assert.ok(figure.lines + figure.bars > 0, `${figure.id} has data on it`);
        assert.equal(figure.emptyPaths, 0, `${figure.id}: every line has points`);
      }
      const thresholds = Object.fromEntries(figures.map((f) => [f.id, f.thresholds]));
      assert.equal(thresholds['authenticate-warm-latency'], 1);
      assert.equal(thresholds['authenticate-warm-percentiles'], 1);
      assert.equal(thresholds['authenticate-max-throughput'], 1);
      assert.equal(thresholds['authenticate-max-latency'], 0);
      assert.equal(thresholds['peers-ratios'], 1);
      const marks = Object.fromEntries(figures.map((f) => [f.id, f.marks]));
      assert.equal(marks['authenticate-warm-latency'], 1, 'the event is marked on the time charts');
      assert.equal(marks['authenticate-warm-throughput'], 1);
      assert.equal(marks['authenticate-warm-percentiles'], 0, 'not on the percentile curve');
      assert.ok((await page.textContent('body'))?.includes('every instance answered by it 12 ms'), 'the event notes are shown');
      const errorBars = figures.find((f) => f.id === 'authenticate-max-throughput')!.bars;
      assert.ok(errorBars > 0, 'errors are drawn where there were some');
      assert.equal(figures.find((f) => f.id === 'authenticate-warm-throughput')!.bars, 0, 'and not where there were none');
      await page.close();
    });
  });
});
