// Shared by the manifests*.test.ts files, which check the contracts between the manifests
// (deploy/base, deploy/overlays/*, istio/), deploy/deploy.sh and the services' source: the
// mistakes that kubectl accepts and a cluster only shows at run time (a typo in an env var
// name, a probe on a path that does not exist, a subset without pods, a secret key the
// deploy script never creates), and the sizes, scaling, disruption budgets, network and
// mesh policies a production deployment relies on. The apps are read as text, never imported.
//
// The overlays are rendered by a small kustomize written here (resources, strategic-merge
// patches, `$patch: delete`, configMapGenerator), so the tests run without kubectl; where
// kubectl is installed, one test (manifests-overlays.test.ts) checks that `kubectl kustomize`
// renders the same objects.
/**
 * The manifests as the tests see them, read once when a test file imports this module.
 *
 * - Parsing: {@link Doc}, {@link parseDocs}, and {@link root}, {@link read}, {@link under}, {@link isObj}.
 * - The renderings: {@link views} (deploy/base and every overlay, each a {@link View}, rendered by a
 *   small kustomize), {@link meshViews} (those with an in-cluster Redis, together with istio/),
 *   {@link view}, {@link base}, {@link baseMesh}.
 * - Pod helpers: {@link podSpec}, {@link podLabels}, {@link containersOf}, and label selectors:
 *   {@link matches}, {@link selects}.
 * - What the repository says: {@link kustomization} and {@link namespace} (of deploy/base),
 *   {@link baseDocs}, {@link istioDocs}, {@link OVERLAYS}, {@link deployScript} and the Secret it
 *   creates ({@link secretName}, {@link secretKeys}), the env vars the code reads ({@link keysIn},
 *   {@link TRACING_KEYS}, {@link THIRD_PARTY_ENV}).
 *
 * Not a test file: `npm test` runs only the *.test.ts files.
 * @module
 */
import { strict as assert } from 'node:assert';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

/** A parsed YAML object, whose shape the tests assert. */
export type Obj = Record<string, any>;
/** Labels, or a `matchLabels` selector. */
export type Labels = Record<string, string>;
/** One object of a manifest: the file it came from, its kind, its name and its whole body. */
export interface Doc {
  file: string;
  kind: string;
  name: string;
  body: Obj;
}

/** The repository's root. */
export const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
/** A file of the repository, by its path from the root. */
export const read = (path: string): string => readFileSync(join(root, path), 'utf8');
/** `path` relative to `dir`, as a path from the repository's root. */
export const under = (dir: string, path: string): string => relative(root, resolve(root, dir, path));
/** Whether `value` is a plain object (not null, not an array). */
export const isObj = (value: unknown): value is Obj => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The objects of a multi-document YAML `file` (or of `text`, named `file`), asserting each parses and has a kind and a name. */
export function parseDocs(file: string, text = read(file)): Doc[] {
  return YAML.parseAllDocuments(text)
    .filter((document: any) => document.contents !== null)
    .map((document: any) => {
      assert.deepEqual(document.errors.map(String), [], `${file} parses`);
      const body = document.toJSON() as Obj;
      assert.ok(body?.kind && body.metadata?.name, `${file}: every document has a kind and a name`);
      return { file, kind: body.kind, name: body.metadata.name, body };
    });
}

function loadDocs(dir: string): Doc[] {
  return readdirSync(join(root, dir))
    .filter((name) => name.endsWith('.yaml') && name !== 'kustomization.yaml')
    .flatMap((name) => parseDocs(`${dir}/${name}`));
}

// ---------------------------------------------------------------------------------------
// A small kustomize: what these kustomizations use, and an assertion for anything else.

const KUSTOMIZATION_KEYS = new Set(['apiVersion', 'kind', 'namespace', 'resources', 'patches', 'configMapGenerator']);
/** Lists that a strategic-merge patch merges item by item, by `name` (Kubernetes' patchMergeKey). */
const MERGE_BY_NAME = new Set(['containers', 'initContainers', 'env', 'volumes']);

function strategicMerge(into: unknown, patch: unknown, where: string): unknown {
  if (!isObj(into) || !isObj(patch)) return structuredClone(patch);
  const out: Obj = { ...into };
  for (const [key, value] of Object.entries(patch)) {
    assert.ok(!key.startsWith('$'), `${where}: the directive ${key} is not implemented by this test's renderer`);
    if (value === null) delete out[key];
    else if (MERGE_BY_NAME.has(key) && Array.isArray(value) && Array.isArray(out[key])) {
      const list = [...out[key]];
      for (const item of value) {
        const at = list.findIndex((existing: Obj) => existing.name === item.name);
        if (at >= 0) list[at] = strategicMerge(list[at], item, where);
        else list.push(structuredClone(item));
      }
      out[key] = list;
    } else out[key] = strategicMerge(out[key], value, where);
  }
  return out;
}

/** The objects `kubectl kustomize` makes of `dir` (a generated ConfigMap without its data). */
function kustomize(dir: string): Doc[] {
  const file = `${dir}/kustomization.yaml`;
  const k = YAML.parse(read(file)) as Obj;
  for (const key of Object.keys(k)) assert.ok(KUSTOMIZATION_KEYS.has(key), `${file}: ${key} is not implemented by this test's renderer`);
  assert.equal(k.kind, 'Kustomization', `${file}: a Kustomization`);
  const docs: Doc[] = [];
  for (const entry of k.resources ?? []) {
    const path = under(dir, entry);
    assert.ok(existsSync(join(root, path)), `${file}: resource ${entry} exists`);
    docs.push(...(statSync(join(root, path)).isDirectory() ? kustomize(path) : parseDocs(path)));
  }
  for (const generator of k.configMapGenerator ?? [])
    docs.push({
      file,
      kind: 'ConfigMap',
      name: generator.name,
      body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: generator.name } },
    });
  for (const entry of k.patches ?? []) {
    assert.ok(!entry.target && !entry.options, `${file}: patch targets and options are not implemented by this test's renderer`);
    const patches = entry.path ? parseDocs(under(dir, entry.path)) : parseDocs(`${file} (inline patch)`, entry.patch);
    for (const patch of patches) {
      const at = docs.findIndex((d) => d.kind === patch.kind && d.name === patch.name);
      assert.ok(at >= 0, `${patch.file}: ${patch.kind}/${patch.name} patches nothing (kustomize refuses that)`);
      const target = docs[at]!;
      assert.equal(patch.body.apiVersion, target.body.apiVersion, `${patch.file}: ${patch.kind}/${patch.name} apiVersion`);
      const { $patch: directive, ...rest } = patch.body;
      if (directive === 'delete') docs.splice(at, 1);
      else {
        assert.equal(directive, undefined, `${patch.file}: $patch ${directive} is not implemented by this test's renderer`);
        docs[at] = { ...target, body: strategicMerge(target.body, rest, patch.file) as Obj };
      }
    }
  }
  const ids = docs.map((d) => `${d.kind}/${d.name}`);
  assert.deepEqual(
    ids.filter((id, n) => ids.indexOf(id) !== n),
    [],
    `${dir}: every object once`,
  );
  return docs;
}

// ---------------------------------------------------------------------------------------
// The renderings: base and every overlay, each with helpers over its objects.

/** One rendering (`name`: its directory) and its objects, with lookups over them. */
export class View {
  /** Its Deployments and StatefulSets. */
  readonly workloads: Doc[];
  /** Every container of every workload, with `where` naming it in assertion messages. */
  readonly allContainers: { w: Doc; c: Obj; where: string }[];
  readonly name: string;
  readonly docs: Doc[];
  constructor(name: string, docs: Doc[]) {
    this.name = name;
    this.docs = docs;
    this.workloads = docs.filter((doc) => doc.kind === 'Deployment' || doc.kind === 'StatefulSet');
    this.allContainers = this.workloads.flatMap((w) =>
      containersOf(w).map((c) => ({ w, c, where: `${name}: ${w.kind}/${w.name} container ${c.name}` })),
    );
  }
  /** Its objects of `kind`. */
  ofKind(kind: string): Doc[] {
    return this.docs.filter((doc) => doc.kind === kind);
  }
  /** Its object `kind`/`name`, if any. */
  find(kind: string, name: string): Doc | undefined {
    return this.ofKind(kind).find((doc) => doc.name === name);
  }
  /** The workloads whose pods `selector` (matchLabels) selects. */
  selectedBy(selector: Labels): Doc[] {
    return this.workloads.filter((w) => matches(selector, podLabels(w)));
  }
  /** With the in-cluster Redis of base/redis.yaml (prod-redis-cluster points elsewhere). */
  get inClusterRedis(): boolean {
    return this.find('StatefulSet', 'redis') !== undefined;
  }
}

/** The pod spec of a Deployment or StatefulSet. */
export const podSpec = (w: Doc): Obj => w.body.spec.template.spec;
/** The labels of a workload's pods. */
export const podLabels = (w: Doc): Labels => w.body.spec.template.metadata.labels ?? {};
/** A workload's init containers and containers. */
export const containersOf = (w: Doc): Obj[] => [...(podSpec(w).initContainers ?? []), ...podSpec(w).containers];
/** Whether a `matchLabels` selector matches `labels`. */
export const matches = (selector: Labels, labels: Labels): boolean =>
  Object.entries(selector).every(([key, value]) => labels[key] === value);

/** deploy/base/kustomization.yaml, and the namespace it deploys to. */
export const kustomization = YAML.parse(read('deploy/base/kustomization.yaml')) as Obj;
export const namespace: string = kustomization.namespace;
/** The objects of deploy/base/*.yaml and istio/*.yaml, as files (not rendered). */
export const baseDocs = loadDocs('deploy/base');
export const istioDocs = loadDocs('istio');
/** The text of deploy/deploy.sh. */
export const deployScript = read('deploy/deploy.sh');
/** Every deploy/overlays/<name> with a kustomization.yaml, as a path from the root. */
export const OVERLAYS = readdirSync(join(root, 'deploy/overlays'))
  .filter((name) => existsSync(join(root, 'deploy/overlays', name, 'kustomization.yaml')))
  .map((name) => `deploy/overlays/${name}`);
/** deploy/base and every overlay, rendered; `view(dir)` finds one by its directory. */
export const views = ['deploy/base', ...OVERLAYS].map((dir) => new View(dir, kustomize(dir)));
export const view = (dir: string): View => views.find((v) => v.name === dir)!;
/** A rendering together with istio/, for the mesh's checks (not with a Redis elsewhere: its policy then selects nothing). */
export const meshViews = views.filter((v) => v.inClusterRedis).map((v) => new View(`${v.name} + istio`, [...v.docs, ...istioDocs]));
/** The rendering of deploy/base, alone and with istio/. */
export const base = view('deploy/base');
export const baseMesh = meshViews.find((v) => v.name === 'deploy/base + istio')!;

/** Whether a full label selector (matchLabels and matchExpressions; none: everything) selects `labels`. */
export function selects(selector: Obj | undefined, labels: Labels): boolean {
  if (!selector) return true;
  const expressions = (selector.matchExpressions ?? []) as Obj[];
  return (
    matches(selector.matchLabels ?? {}, labels) &&
    expressions.every(({ key, operator, values }) => {
      if (operator === 'In') return values.includes(labels[key]);
      if (operator === 'NotIn') return !values.includes(labels[key]);
      if (operator === 'Exists') return key in labels;
      if (operator === 'DoesNotExist') return !(key in labels);
      assert.fail(`unknown selector operator ${operator}`);
    })
  );
}
/** `NAME:` keys of an object literal in source text (the zod schemas of config.ts). */
export const keysIn = (source: string): Set<string> => new Set([...source.matchAll(/^\s*([A-Z][A-Z0-9_]*):/gm)].map((m) => m[1]!));
const tracingSource = read('libs/observability/src/tracing-sdk.ts');
const tracingBlock = /export const TRACING_ENV = \{([\s\S]*?)\n\};/.exec(tracingSource)?.[1];
assert.ok(tracingBlock, 'TRACING_ENV found in libs/observability/src/tracing-sdk.ts');
/** The env vars TRACING_ENV of libs/observability reads, which every Portcullis container may set. */
export const TRACING_KEYS = keysIn(tracingBlock);
/** Containers of other images and the variables they are known to read (REDIS_MAXMEMORY: only through its args). */
export const THIRD_PARTY_ENV: Record<string, string[]> = { redis: ['REDIS_PASSWORD', 'REDISCLI_AUTH', 'REDIS_MAXMEMORY'] };

/** Keys of the Secret that deploy.sh creates. */
export const secretName = /^SECRET=(\S+)$/m.exec(deployScript)?.[1];
export const secretKeys = /^SECRET_KEYS=\(([^)]*)\)/m.exec(deployScript)?.[1]?.trim().split(/\s+/) ?? [];
