// Checks on rendered manifests (`kubectl kustomize` output) that the API server does not
// make: a container without probes, VirtualService weights that are not integers summing to
// 100, a workload whose selector misses its own pod labels (the API server refuses that for
// apps/v1, this names it before anything is sent), a canary whose pod spec drifted from the
// stable one's, an HPA or a route naming something that is not there. Each problem is one
// `<Kind>/<name>: <message>` line. Run by `deploy.sh validate` through main.ts.
import YAML from 'yaml';

export type Obj = Record<string, unknown>;
export interface Manifest {
  kind: string;
  name: string;
  body: Obj;
}
export interface Problem {
  kind: string;
  name: string;
  message: string;
}

const isObj = (value: unknown): value is Obj => typeof value === 'object' && value !== null && !Array.isArray(value);
const obj = (value: unknown): Obj => (isObj(value) ? value : {});
const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);
const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
const labelsOf = (value: unknown): Record<string, string> =>
  Object.fromEntries(Object.entries(obj(value)).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));

export const format = (p: Problem): string => `${p.kind}/${p.name}: ${p.message}`;

/** Every document of a multi-document YAML text (empty ones and `kind: List` items flattened). */
export function parseManifests(text: string): { manifests: Manifest[]; errors: string[] } {
  const manifests: Manifest[] = [];
  const errors: string[] = [];
  YAML.parseAllDocuments(text).forEach((document, index) => {
    if (document.errors.length > 0) {
      errors.push(`document ${index + 1}: ${document.errors.map((e) => e.message).join('; ')}`);
      return;
    }
    const body: unknown = document.toJSON();
    if (body === null || body === undefined) return;
    const items = isObj(body) && body.kind === 'List' ? list(body.items) : [body];
    for (const item of items) {
      const kind = str(obj(item).kind);
      const name = str(obj(obj(item).metadata).name);
      if (!kind || !name) errors.push(`document ${index + 1}: no kind or metadata.name`);
      else manifests.push({ kind, name, body: obj(item) });
    }
  });
  return { manifests, errors };
}

const WORKLOADS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet']);
const PROBES = ['readinessProbe', 'livenessProbe', 'startupProbe'] as const;

const podTemplate = (m: Manifest): Obj => obj(obj(m.body.spec).template);
const podSpec = (m: Manifest): Obj => obj(podTemplate(m).spec);

/** Every long-running container answers all three probes (init containers are not probed). */
export function checkProbes(manifests: Manifest[]): Problem[] {
  return manifests
    .filter((m) => WORKLOADS.has(m.kind))
    .flatMap((m) =>
      list(podSpec(m).containers).flatMap((container) => {
        const c = obj(container);
        const missing = PROBES.filter((probe) => !isObj(c[probe]));
        return missing.length === 0
          ? []
          : [{ kind: m.kind, name: m.name, message: `container ${str(c.name) ?? '?'} has no ${missing.join(', ')}` }];
      }),
    );
}

/** Each route of a VirtualService: integer weights in 0..100 that sum to 100 (Istio's CRD schema lets other values through). */
export function checkWeights(manifests: Manifest[]): Problem[] {
  const problems: Problem[] = [];
  for (const m of manifests.filter((m) => m.kind === 'VirtualService')) {
    const spec = obj(m.body.spec);
    for (const protocol of ['http', 'tcp', 'tls'] as const) {
      list(spec[protocol]).forEach((route, index) => {
        const where = `${protocol}[${index}]${str(obj(route).name) ? ` (${str(obj(route).name)})` : ''}`;
        const destinations = list(obj(route).route).map(obj);
        const weights = destinations.map((d) => d.weight);
        // One destination may leave its weight out (it gets everything).
        if (destinations.length === 1 && weights[0] === undefined) return;
        const bad = weights.filter((w) => typeof w !== 'number' || !Number.isInteger(w) || w < 0 || w > 100);
        if (bad.length > 0) {
          problems.push({
            kind: m.kind,
            name: m.name,
            message: `${where}: weights must be integers from 0 to 100, got ${bad.map((w) => JSON.stringify(w) ?? 'none').join(', ')}`,
          });
          return;
        }
        const sum = (weights as number[]).reduce((a, b) => a + b, 0);
        if (sum !== 100)
          problems.push({ kind: m.kind, name: m.name, message: `${where}: weights ${weights.join('/')} sum to ${sum}, not 100` });
      });
    }
  }
  return problems;
}

/** Whether a label selector (matchLabels and matchExpressions) selects these labels. */
export function selects(selector: Obj, labels: Record<string, string>): boolean {
  const byLabels = Object.entries(labelsOf(selector.matchLabels)).every(([key, value]) => labels[key] === value);
  const byExpressions = list(selector.matchExpressions).every((expression) => {
    const e = obj(expression);
    const key = str(e.key) ?? '';
    const values = list(e.values);
    switch (e.operator) {
      case 'In':
        return key in labels && values.includes(labels[key]);
      case 'NotIn':
        return !(key in labels) || !values.includes(labels[key]);
      case 'Exists':
        return key in labels;
      case 'DoesNotExist':
        return !(key in labels);
      default:
        return false;
    }
  });
  return byLabels && byExpressions;
}

/** A workload's selector selects its own pod template (else its pods are never its own). */
export function checkSelectors(manifests: Manifest[]): Problem[] {
  return manifests
    .filter((m) => WORKLOADS.has(m.kind))
    .flatMap((m) => {
      const selector = obj(obj(m.body.spec).selector);
      const labels = labelsOf(obj(podTemplate(m).metadata).labels);
      if (Object.keys(obj(selector.matchLabels)).length === 0 && list(selector.matchExpressions).length === 0)
        return [{ kind: m.kind, name: m.name, message: 'spec.selector is empty' }];
      return selects(selector, labels)
        ? []
        : [
            {
              kind: m.kind,
              name: m.name,
              message: `spec.selector ${JSON.stringify(selector)} does not match the pod template's labels ${JSON.stringify(labels)}`,
            },
          ];
    });
}

/** The pod template with what a canary may change taken out: images and the version label. */
function comparable(m: Manifest): Obj {
  const template = structuredClone(podTemplate(m));
  const metadata = obj(template.metadata);
  const labels = { ...labelsOf(metadata.labels) };
  delete labels.version;
  const spec = obj(template.spec);
  for (const field of ['containers', 'initContainers'] as const) {
    spec[field] = list(spec[field]).map((c) => ({ ...obj(c), image: undefined }));
  }
  return { ...template, metadata: { ...metadata, labels }, spec };
}

/** Stable-sorted JSON, so key order does not count as a difference. */
const canonical = (value: unknown): string =>
  JSON.stringify(value, (_key, v: unknown) =>
    isObj(v)
      ? Object.fromEntries(
          Object.keys(v)
            .sort()
            .map((k) => [k, v[k]]),
        )
      : v,
  );

/** `<name>-canary` runs the same pod as `<name>` but for its images (and the version label). */
export function checkCanaryParity(manifests: Manifest[]): Problem[] {
  const problems: Problem[] = [];
  for (const canary of manifests.filter((m) => m.kind === 'Deployment' && m.name.endsWith('-canary'))) {
    const stableName = canary.name.slice(0, -'-canary'.length);
    const stable = manifests.find((m) => m.kind === 'Deployment' && m.name === stableName);
    if (!stable) {
      problems.push({ kind: canary.kind, name: canary.name, message: `no stable Deployment ${stableName}` });
      continue;
    }
    const a = comparable(stable);
    const b = comparable(canary);
    const differing = [...new Set([...Object.keys(obj(a.spec)), ...Object.keys(obj(b.spec))])]
      .filter((key) => canonical(obj(a.spec)[key]) !== canonical(obj(b.spec)[key]))
      .map((key) => `spec.template.spec.${key}`);
    if (canonical(a.metadata) !== canonical(b.metadata)) differing.unshift('spec.template.metadata');
    if (differing.length > 0)
      problems.push({ kind: canary.kind, name: canary.name, message: `differs from ${stableName} beyond images: ${differing.join(', ')}` });
    const version = (m: Manifest): string | undefined => labelsOf(obj(podTemplate(m).metadata).labels).version;
    if (version(stable) !== undefined && version(stable) === version(canary))
      problems.push({ kind: canary.kind, name: canary.name, message: `has the same version label as ${stableName} (${version(stable)})` });
  }
  return problems;
}

/** An HPA scales a Deployment or StatefulSet that is rendered with it, within sane bounds. */
export function checkAutoscalers(manifests: Manifest[]): Problem[] {
  return manifests
    .filter((m) => m.kind === 'HorizontalPodAutoscaler')
    .flatMap((m) => {
      const spec = obj(m.body.spec);
      const target = obj(spec.scaleTargetRef);
      const problems: Problem[] = [];
      if (!manifests.some((w) => w.kind === target.kind && w.name === target.name))
        problems.push({
          kind: m.kind,
          name: m.name,
          message: `scaleTargetRef ${str(target.kind)}/${str(target.name)} is not in the manifests`,
        });
      const min = typeof spec.minReplicas === 'number' ? spec.minReplicas : 1;
      if (typeof spec.maxReplicas === 'number' && min > spec.maxReplicas)
        problems.push({ kind: m.kind, name: m.name, message: `minReplicas ${min} > maxReplicas ${spec.maxReplicas}` });
      return problems;
    });
}

/** A route's subset is one its host's DestinationRule defines (else Istio answers 503). */
export function checkSubsets(manifests: Manifest[]): Problem[] {
  const rules = manifests.filter((m) => m.kind === 'DestinationRule');
  const problems: Problem[] = [];
  for (const m of manifests.filter((m) => m.kind === 'VirtualService')) {
    const spec = obj(m.body.spec);
    for (const route of [...list(spec.http), ...list(spec.tcp), ...list(spec.tls)]) {
      for (const destination of list(obj(route).route).map((d) => obj(obj(d).destination))) {
        const subset = str(destination.subset);
        const host = str(destination.host);
        if (!subset || !host) continue;
        const rule = rules.find((r) => obj(r.body.spec).host === host);
        if (!rule) problems.push({ kind: m.kind, name: m.name, message: `subset ${subset} of ${host}: no DestinationRule for that host` });
        else if (!list(obj(rule.body.spec).subsets).some((s) => obj(s).name === subset))
          problems.push({
            kind: m.kind,
            name: m.name,
            message: `subset ${subset} of ${host} is not defined by DestinationRule/${rule.name}`,
          });
      }
    }
  }
  return problems;
}

export const CHECKS = {
  probes: checkProbes,
  weights: checkWeights,
  selectors: checkSelectors,
  'canary-parity': checkCanaryParity,
  autoscalers: checkAutoscalers,
  subsets: checkSubsets,
} as const;

export function runChecks(manifests: Manifest[]): Problem[] {
  return Object.values(CHECKS).flatMap((check) => check(manifests));
}
