// Contracts between deploy/monitoring and the services: every metric a dashboard query or
// an alert reads is one the services really expose (scraped from real processes: Redis, a
// policy-service, an auth-service), histograms only through _bucket/_sum/_count; every
// PRODUCT.md metric has a panel; the ServiceMonitor finds the Services of deploy/base by
// their labels and port names. The alerts' behaviour is promtool's job (check.sh).
import { strict as assert } from 'node:assert';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort, startProcess, startRedisServer, type ProcessHandle, type RedisServerHandle } from '@portcullis/testing';
import YAML from 'yaml';

type Obj = Record<string, any>;
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const read = (path: string): string => readFileSync(join(root, path), 'utf8');
const yamlDocs = (path: string): Obj[] => YAML.parseAllDocuments(read(path)).map((d) => d.toJSON() as Obj);

const SERVICES = ['auth-service', 'policy-service'] as const;
type Service = (typeof SERVICES)[number];
/** Series Prometheus makes itself for every target, not the services. */
const PROMETHEUS_SERIES = new Set(['up']);

// ---- what the monitoring reads ------------------------------------------------------

const rule = yamlDocs('deploy/monitoring/prometheusrule.yaml')[0]!;
const alertRules: Obj[] = rule.spec.groups.flatMap((g: Obj) => g.rules).filter((r: Obj) => r.alert !== undefined);
const dashboard = JSON.parse(read('deploy/monitoring/dashboards/portcullis.json')) as Obj;
const dashboardPanels: Obj[] = dashboard.panels.flatMap((p: Obj) => [p, ...(p.panels ?? [])]);
const dashboardExprs: string[] = dashboardPanels.flatMap((p) => (p.targets ?? []).map((t: Obj) => t.expr as string));

/** The label names PromQL writes without braces: grouping and matching lists. */
const GROUPING = /\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/y;
const KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'offset',
  'bool',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'atan2',
  'inf',
  'nan',
]);

/**
 * The series selectors of a PromQL expression (Grafana's `$__…` variables allowed): each
 * metric name with the `job` it is limited to, if any. Functions, aggregations, keywords,
 * label lists, strings, ranges and numbers are skipped.
 */
function selectorsOf(expr: string): { name: string; jobs?: string[] }[] {
  const found: { name: string; jobs?: string[] }[] = [];
  const token =
    /"(?:[^"\\]|\\.)*"|\{(?:"(?:[^"\\]|\\.)*"|[^}"])*\}|\[[^\]]*\]|[A-Za-z_:][A-Za-z0-9_:]*|\$\{?\w+\}?|\d+(?:\.\d+)?(?:e[+-]?\d+)?[a-z]*|\S/gy;
  let i = 0;
  while (i < expr.length) {
    while (i < expr.length && /\s/.test(expr[i]!)) i += 1;
    if (i >= expr.length) break;
    GROUPING.lastIndex = i;
    const grouping = GROUPING.exec(expr);
    if (grouping !== null) {
      i = GROUPING.lastIndex;
      continue;
    }
    token.lastIndex = i;
    const [text] = token.exec(expr)!;
    i = token.lastIndex;
    if (text.startsWith('{')) {
      const last = found.at(-1);
      const job = /\bjob\s*(=~?)\s*"([^"]*)"/.exec(text);
      if (last !== undefined && job !== null) last.jobs = job[1] === '=' ? [job[2]!] : job[2]!.split('|');
      continue;
    }
    if (!/^[A-Za-z_:]/.test(text) || KEYWORDS.has(text)) continue;
    if (/^\s*(?:(?:by|without)\s*\([^)]*\)\s*)?\(/.test(expr.slice(i))) continue; // a function or an aggregation
    found.push({ name: text });
  }
  return found;
}

test('selectorsOf reads metric names, their job and nothing else', () => {
  assert.deepEqual(
    selectorsOf(
      'histogram_quantile(0.95, sum by (job, le) (rate(a_bucket{job="x", route="/r{1}"}[5m]))) > 0.005 and on (pod) (b offset 15m or c{job=~"x|y"} > time() - 900)',
    ),
    [{ name: 'a_bucket', jobs: ['x'] }, { name: 'b' }, { name: 'c', jobs: ['x', 'y'] }],
  );
  assert.deepEqual(selectorsOf('sum(rate(d_total{namespace="$namespace"}[$__rate_interval])) / 1e3'), [{ name: 'd_total' }]);
});

// ---- what the services expose ---------------------------------------------------------

/** The series names one /metrics text can hold, from its `# TYPE` lines (present before any sample). */
function seriesNames(text: string): Map<string, string> {
  const names = new Map<string, string>();
  for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const suffixes = type === 'histogram' ? ['_bucket', '_sum', '_count'] : type === 'summary' ? ['', '_sum', '_count'] : [''];
    for (const suffix of suffixes) names.set(`${name}${suffix}`, type!);
  }
  return names;
}

/** The PRODUCT.md metrics as the services declare them (libs/observability, read as text). */
function productMetrics(): Map<string, 'histogram' | 'other'> {
  const source = read('libs/observability/src/metrics.ts');
  const block = /export const METRIC_NAMES = \{([\s\S]*?)\n\}/.exec(source)?.[1];
  assert.ok(block, 'METRIC_NAMES found in libs/observability/src/metrics.ts');
  const keys = new Map([...block.matchAll(/^\s*(\w+): '([a-z_]+)',$/gm)].map((m) => [m[1]!, m[2]!]));
  const histograms = new Set([...source.matchAll(/(\w+): new Histogram\(/g)].map((m) => m[1]!));
  return new Map([...keys].map(([key, name]) => [name, histograms.has(key) ? 'histogram' : 'other']));
}

const exposed = new Map<Service, Map<string, string>>();
let redis: RedisServerHandle | undefined;
const processes: ProcessHandle[] = [];
let dir: string | undefined;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'monitoring-test-'));
  const clients = join(dir, 'clients.json');
  await writeFile(
    clients,
    JSON.stringify({ client_id: 'monitoring-test', client_secret: 'monitoring-test-secret-0123456789', roles: ['viewer'] }),
  );
  redis = await startRedisServer();
  const [policyPort, authPort] = [await freePort(), await freePort()];
  const policyUrl = `http://127.0.0.1:${policyPort}`;
  const authUrl = `http://127.0.0.1:${authPort}`;
  /** One service as a real process, from its main, until it says it is ready. */
  const start = async (service: Service, env: Record<string, string>): Promise<void> => {
    processes.push(
      await startProcess({
        command: process.execPath,
        args: [join(root, `apps/${service}/src/main.ts`)],
        env,
        readyWhen: new RegExp(`${service} ready on`),
      }),
    );
  };
  await start('policy-service', {
    POLICY_PORT: String(policyPort),
    POLICY_ADMIN_TOKEN: 'monitoring-admin-token-0123456789',
    REDIS_URL: redis.url,
    POLICY_WATCH: 'false',
  });
  await start('auth-service', {
    AUTH_PORT: String(authPort),
    AUTH_PUBLIC_URL: authUrl,
    POLICY_URL: policyUrl,
    REDIS_URL: redis.url,
    JWT_SECRET: 'monitoring-test-jwt-secret-0123456789abcdef',
    AUTH_CLIENTS_FILE: clients,
    AUTH_AUDIT_JOURNAL_DIR: join(dir, 'journal'),
  });
  for (const [service, url] of [
    ['policy-service', policyUrl],
    ['auth-service', authUrl],
  ] as const) {
    const res = await fetch(`${url}/metrics`);
    assert.equal(res.status, 200, `${service} GET /metrics`);
    exposed.set(service, seriesNames(await res.text()));
  }
});

after(async () => {
  await Promise.all(processes.map((p) => p.stop('SIGKILL')));
  await redis?.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

/** Where each selector of `exprs` names a series no service in its job exposes. */
function unknownSeries(exprs: { where: string; expr: string }[]): string[] {
  return exprs.flatMap(({ where, expr }) =>
    selectorsOf(expr)
      .filter(({ name, jobs }) => {
        if (PROMETHEUS_SERIES.has(name)) return false;
        const services = (jobs ?? [...SERVICES]).filter((job): job is Service => (SERVICES as readonly string[]).includes(job));
        assert.ok(services.length > 0, `${where}: ${name} is limited to jobs ${jobs?.join('|')}, none of them ours`);
        return !services.some((service) => exposed.get(service)!.has(name));
      })
      .map(({ name, jobs }) => `${where}: ${name}${jobs === undefined ? '' : ` (job ${jobs.join('|')})`}`),
  );
}

test('both services expose every PRODUCT.md metric on /metrics', () => {
  for (const service of SERVICES) {
    const names = exposed.get(service)!;
    for (const [name, kind] of productMetrics()) {
      assert.ok(names.has(kind === 'histogram' ? `${name}_bucket` : name), `${service} exposes ${name}`);
      if (kind === 'histogram') assert.equal(names.get(`${name}_bucket`), 'histogram', `${name} is a histogram`);
    }
  }
});

test('every alert reads only series the services expose (in the job it names)', () => {
  assert.ok(alertRules.length > 0);
  assert.deepEqual(unknownSeries(alertRules.map((r) => ({ where: `alert ${r.alert}`, expr: r.expr as string }))), []);
});

test('every dashboard query reads only series the services expose', () => {
  assert.ok(dashboardExprs.length > 0);
  const exprs = dashboardPanels.flatMap((p) =>
    (p.targets ?? []).map((t: Obj) => ({ where: `panel "${p.title}" ${t.refId}`, expr: t.expr as string })),
  );
  const variables = (dashboard.templating.list as Obj[])
    .filter((v) => v.type === 'query')
    .map((v) => ({ where: `variable ${v.name}`, expr: String(v.definition).replace(/^label_values\((.*),\s*\w+\)$/, '$1') }));
  assert.deepEqual(unknownSeries([...exprs, ...variables]), []);
});

test('every PRODUCT.md metric has a dashboard panel (histograms through their buckets)', () => {
  const used = new Set(dashboardExprs.flatMap((expr) => selectorsOf(expr).map((s) => s.name)));
  const missing = [...productMetrics()]
    .filter(([name, kind]) => !used.has(kind === 'histogram' ? `${name}_bucket` : name))
    .map(([name]) => name);
  assert.deepEqual(missing, []);
});

test('every alert has for, a severity, a summary, a description and a runbook that exists', () => {
  const readme = read('deploy/monitoring/README.md');
  const anchors = new Set(
    [...readme.matchAll(/^#+ (.+)$/gm)].map((m) =>
      m[1]!
        .toLowerCase()
        .replace(/[^a-z0-9 -]/g, '')
        .replace(/ /g, '-'),
    ),
  );
  for (const r of alertRules) {
    assert.match(String(r.for), /^\d+[smh]$/, `${r.alert}: for`);
    assert.ok(['critical', 'warning', 'info'].includes(r.labels?.severity), `${r.alert}: severity`);
    assert.ok(r.annotations?.summary && r.annotations?.description, `${r.alert}: summary and description`);
    const [file, anchor] = String(r.annotations?.runbook_url).split('#');
    assert.equal(file, 'deploy/monitoring/README.md', `${r.alert}: runbook in the README`);
    assert.equal(anchor, String(r.alert).toLowerCase(), `${r.alert}: runbook anchor`);
    assert.ok(anchors.has(anchor!), `${r.alert}: README has a section for #${anchor}`);
  }
});

test('the ServiceMonitor selects both Services of deploy/base by label and port name', () => {
  const services = yamlDocs('deploy/base/auth-service.yaml')
    .concat(yamlDocs('deploy/base/policy-service.yaml'))
    .filter((d) => d.kind === 'Service');
  const [monitor] = yamlDocs('deploy/monitoring/servicemonitor.yaml');
  assert.equal(monitor?.kind, 'ServiceMonitor');
  const [expression] = monitor!.spec.selector.matchExpressions as Obj[];
  assert.equal(expression!.operator, 'In');
  const ports = (monitor!.spec.endpoints as Obj[]).map((e) => e.port as string);
  for (const service of SERVICES) {
    const found = services.find((s) => s.metadata.name === service);
    assert.ok(found, `deploy/base has a Service ${service}`);
    assert.ok(expression!.values.includes(found.metadata.labels?.[expression!.key]), `selector matches Service ${service}'s labels`);
    const scraped = (found.spec.ports as Obj[]).filter((p) => ports.includes(p.name));
    assert.equal(scraped.length, 1, `exactly one port of Service ${service} is scraped`);
  }
  for (const endpoint of monitor!.spec.endpoints as Obj[]) assert.equal(endpoint.path, '/metrics');
});

test('the kustomization holds the monitors, the rules and a dashboard ConfigMap Grafana loads', () => {
  const kustomization = YAML.parse(read('deploy/monitoring/kustomization.yaml')) as Obj;
  assert.equal(kustomization.namespace, 'portcullis');
  for (const file of kustomization.resources as string[]) assert.ok(existsSync(join(root, 'deploy/monitoring', file)), file);
  const [generator] = kustomization.configMapGenerator as Obj[];
  assert.equal(generator!.options.labels.grafana_dashboard, '1');
  for (const file of generator!.files as string[]) assert.ok(existsSync(join(root, 'deploy/monitoring', file)), file);
});
