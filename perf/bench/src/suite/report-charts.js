// Draws the perf report's charts (report.ts) as inline SVG from the JSON in #perf-data.
// Runs in the browser, inlined into report.html: no library, no network. Each figure gets
// data-drawn="true" once drawn, which the report's browser test checks.
(() => {
  const NS = 'http://www.w3.org/2000/svg';
  const W = 540;
  const H = 230;
  const M = { left: 56, right: 14, top: 12, bottom: 40 };
  const COLORS = ['#1f6fb4', '#e07b00', '#c62828', '#2e7d32'];

  function el(name, attrs, parent, text) {
    const node = document.createElementNS(NS, name);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
    if (text !== undefined) node.textContent = text;
    parent.appendChild(node);
    return node;
  }

  /** A round upper bound for the y axis: 1, 2 or 5 times a power of ten. */
  function niceMax(value) {
    if (!(value > 0)) return 1;
    const power = 10 ** Math.floor(Math.log10(value));
    for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power;
    return 10 * power;
  }

  const label = (n) => (n >= 1000 ? `${+(n / 1000).toFixed(1)}k` : `${+n.toFixed(2)}`);

  function draw(figure, chart) {
    el('figcaption', {}, figure, chart.title);
    const svg = el('svg', { class: 'plot', width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: 'img' }, figure);
    const plotW = W - M.left - M.right;
    const plotH = H - M.top - M.bottom;
    const values = chart.series.flatMap((s) => s.y).concat(chart.thresholds.map((t) => t.y));
    const top = niceMax(Math.max(...values, 0) * 1.05);
    const named = chart.x.some((x) => typeof x === 'string');
    const n = chart.x.length;
    const xAt = named ? (i) => M.left + ((i + 0.5) * plotW) / n : (i) => M.left + (n <= 1 ? plotW / 2 : (i * plotW) / (n - 1));
    const yAt = (v) => M.top + plotH - (Math.min(v, top) / top) * plotH;

    for (let k = 0; k <= 4; k++) {
      const v = (top * k) / 4;
      el('line', { x1: M.left, x2: W - M.right, y1: yAt(v), y2: yAt(v), stroke: '#e5e5e5' }, svg);
      el('text', { x: M.left - 6, y: yAt(v) + 4, 'text-anchor': 'end', 'font-size': 11 }, svg, label(v));
    }
    const every = Math.max(1, Math.ceil(n / 10));
    chart.x.forEach((x, i) => {
      if (i % every === 0 || i === n - 1)
        el('text', { x: xAt(i), y: H - M.bottom + 16, 'text-anchor': 'middle', 'font-size': 11 }, svg, String(x));
    });
    el('text', { x: M.left + plotW / 2, y: H - 6, 'text-anchor': 'middle', 'font-size': 11, fill: '#555' }, svg, chart.xLabel);
    el(
      'text',
      { x: 12, y: M.top + plotH / 2, 'font-size': 11, fill: '#555', transform: `rotate(-90 12 ${M.top + plotH / 2})` },
      svg,
      chart.yLabel,
    );

    chart.series.forEach((series, s) => {
      const color = COLORS[s % COLORS.length];
      if (series.kind === 'bar') {
        const width = Math.max(2, (plotW / Math.max(n, 1)) * 0.6);
        series.y.forEach((v, i) => {
          if (v > 0)
            el('rect', { class: 'bar', x: xAt(i) - width / 2, y: yAt(v), width, height: yAt(0) - yAt(v), fill: color, opacity: 0.75 }, svg);
        });
      } else {
        const d = series.y.map((v, i) => `${i === 0 ? 'M' : 'L'}${xAt(i).toFixed(1)},${yAt(v).toFixed(1)}`).join('');
        el('path', { class: 'series', d, fill: 'none', stroke: color, 'stroke-width': 2 }, svg);
      }
      el('text', { x: M.left + 8 + s * 90, y: M.top + 10, 'font-size': 11, fill: color }, svg, `■ ${series.name}`);
    });
    // Events on a time axis, placed between the bucket ends; one after the load ended
    // (a restart that outlasted it) is left to the notes above the charts.
    const xs = chart.x;
    const span = n > 1 && !named ? xs[n - 1] - xs[0] : 0;
    for (const event of chart.marks ?? []) {
      if (span <= 0 || event.x > xs[n - 1]) continue;
      const x = M.left + (Math.max(event.x - xs[0], 0) / span) * plotW;
      el('line', { class: 'mark', x1: x, x2: x, y1: M.top, y2: M.top + plotH, stroke: '#555', 'stroke-dasharray': '2 3' }, svg);
      el('text', { x: x + 3, y: M.top + 24, 'font-size': 11, fill: '#555' }, svg, event.label);
    }
    for (const limit of chart.thresholds) {
      el(
        'line',
        {
          class: 'threshold',
          x1: M.left,
          x2: W - M.right,
          y1: yAt(limit.y),
          y2: yAt(limit.y),
          stroke: '#b00020',
          'stroke-dasharray': '6 4',
        },
        svg,
      );
      el('text', { x: W - M.right - 4, y: yAt(limit.y) - 4, 'text-anchor': 'end', 'font-size': 11, fill: '#b00020' }, svg, limit.label);
    }
    figure.dataset.drawn = 'true';
  }

  const { charts } = JSON.parse(document.getElementById('perf-data').textContent);
  const byId = new Map(charts.map((chart) => [chart.id, chart]));
  for (const figure of document.querySelectorAll('figure[data-chart]')) {
    const chart = byId.get(figure.dataset.chart);
    if (chart === undefined) throw new Error(`no data for chart ${figure.dataset.chart}`);
    draw(figure, chart);
  }
})();
