// node deploy/checks/keep-live.ts <rendered.yaml> <Kind>/<name>=<value>...
// Rewrites rendered manifests in place so that re-applying them keeps what
// `deploy.sh promote`/`rollback` set on the live objects:
//   VirtualService/<name>=90/10 50/50   the v1/v2 weights of each http route, in order
//   HorizontalPodAutoscaler/<name>=3    spec.minReplicas (maxReplicas raised to it if below)
// Objects or routes that do not line up with the value are left as rendered.
import { readFileSync, writeFileSync } from 'node:fs';
import YAML from 'yaml';

const [file, ...specs] = process.argv.slice(2);
if (!file) {
  console.error('usage: node deploy/checks/keep-live.ts <rendered.yaml> <Kind>/<name>=<value>...');
  process.exit(2);
}
const wanted = new Map(
  specs.map((spec) => {
    const at = spec.indexOf('=');
    return [spec.slice(0, at), spec.slice(at + 1)] as const;
  }),
);
const documents = YAML.parseAllDocuments(readFileSync(file, 'utf8'));
for (const document of documents) {
  const kind = document.get('kind');
  const name = document.getIn(['metadata', 'name']);
  const value = wanted.get(`${String(kind)}/${String(name)}`);
  if (value === undefined) continue;
  if (kind === 'VirtualService') {
    value.split(' ').forEach((pair, route) => {
      const weights = pair.split('/').map(Number);
      if (weights.length !== 2 || weights.some((w) => !Number.isInteger(w))) return;
      const path = ['spec', 'http', route, 'route'];
      if (document.getIn([...path, 0, 'destination', 'subset']) !== 'v1' || document.getIn([...path, 1, 'destination', 'subset']) !== 'v2')
        return;
      weights.forEach((weight, index) => document.setIn([...path, index, 'weight'], weight));
    });
    console.error(`keeping the live split of ${kind}/${String(name)}: ${value}`);
  } else if (kind === 'HorizontalPodAutoscaler' && /^[0-9]+$/.test(value)) {
    const min = Number(value);
    document.setIn(['spec', 'minReplicas'], min);
    const max = document.getIn(['spec', 'maxReplicas']);
    if (typeof max === 'number' && max < min) document.setIn(['spec', 'maxReplicas'], min);
    console.error(`keeping the live minReplicas of ${kind}/${String(name)}: ${min}`);
  }
}
// Each document once, separated by one marker (toString repeats an explicit `---`).
writeFileSync(file, documents.map((document) => document.toString().replace(/^---\n/, '')).join('---\n'));
