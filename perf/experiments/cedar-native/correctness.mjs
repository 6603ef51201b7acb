// Runs every case of policies/tests through the service's Evaluator (cedar-wasm statefulIsAuthorized,
// exactly as the service and `policy test` do) and through the native binding; compares answers.
import {
  Evaluator,
  Registry,
  portcullisMetrics,
  readTestFile,
  listTestFiles,
  loadSource,
  loadNative,
  POLICY_DIR,
  native,
  cedarWasm,
} from './common.mjs';

const source = await loadSource();
const evaluator = new Evaluator({ metrics: portcullisMetrics(new Registry()), decisionCacheSize: 0 });
const bundle = evaluator.swap(source);
const engine = loadNative(source);
console.log(`cedar-wasm SDK ${cedarWasm.getCedarVersion()} | native cedar-policy ${native.cedarVersion()}`);
console.log(`policy ids wasm-bundle=${JSON.stringify(bundle.policyIds)}\n           native     =${JSON.stringify(engine.policyIds)}`);

const sorted = (xs) => [...xs].sort();
const key = (r) =>
  'rejected' in r || r.type === 'failure' ? 'REJECTED' : `${r.decision} [${sorted(r.reasons).join(',')}] errors=${r.errors.length}`;

const cases = [];
for (const file of await listTestFiles(`${POLICY_DIR}/tests`)) {
  const read = await readTestFile(file);
  if (read.findings.length) throw new Error(JSON.stringify(read.findings));
  cases.push(...read.cases);
}
// Extra edge requests (not in the suite) to compare rejection behaviour.
const base = {
  principal: { type: 'User', id: 'alice' },
  action: { type: 'Action', id: 'view' },
  resource: { type: 'Document', id: 'doc-1' },
  context: {},
  entities: [],
};
const extras = [
  { name: '[extra] principal type not allowed by schema', request: { ...base, principal: { type: 'Role', id: 'admin' } } },
  { name: '[extra] context attribute of wrong type', request: { ...base, context: { riskScore: 'high' } } },
  { name: '[extra] undeclared context attribute', request: { ...base, context: { foo: 1 } } },
  { name: '[extra] unknown action', request: { ...base, action: { type: 'Action', id: 'fly' } } },
  {
    name: '[extra] request entity violating schema',
    request: { ...base, entities: [{ uid: { type: 'User', id: 'zed' }, attrs: { department: 7 }, parents: [] }] },
  },
  {
    name: '[extra] duplicate request entities',
    request: {
      ...base,
      entities: [
        { uid: { type: 'User', id: 'zed' }, attrs: {}, parents: [] },
        { uid: { type: 'User', id: 'zed' }, attrs: {}, parents: [{ type: 'Role', id: 'admin' }] },
      ],
    },
  },
  { name: '[extra] unknown resource entity', request: { ...base, resource: { type: 'Document', id: 'nope' } } },
  {
    name: '[extra] implicit ip extension (schema-based parsing)',
    request: {
      ...base,
      principal: { type: 'User', id: 'dave' },
      action: { type: 'Action', id: 'delete' },
      resource: { type: 'Document', id: 'doc-3' },
      context: { sourceIp: '10.1.2.3' },
    },
  },
];

let mismatches = 0,
  expectFail = 0;
for (const c of [...cases, ...extras]) {
  const w = evaluator.evaluate(c.request);
  const n = JSON.parse(engine.isAuthorized(JSON.stringify(c.request)));
  const o = JSON.parse(engine.isAuthorizedObject(c.request));
  // Drop-in mode: the service's JS slice of the loaded entities is sent, loaded ones ignored (like cedar-wasm).
  const s = JSON.parse(
    engine.isAuthorized(JSON.stringify({ ...c.request, entities: bundle.slicer.slice(c.request), staticEntities: false })),
  );
  const kw = key(w),
    kn = key(n),
    ko = key(o),
    ks = key(s);
  const same = kw === kn && kn === ko && ko === ks;
  if (!same) mismatches++;
  let exp = '';
  if (c.expect) {
    const ok = !('rejected' in w) && w.decision === c.expect && (!c.reasons || sorted(c.reasons).join() === sorted(w.reasons).join());
    if (!ok) expectFail++;
    exp = ok ? 'expected✓' : 'EXPECTED✗';
  }
  console.log(
    `${same ? 'same ' : 'DIFF '} ${exp.padEnd(9)} ${c.name}\n      wasm:   ${kw}${'rejected' in w ? ' ' + JSON.stringify(w.rejected.details) : ''}\n      native: ${kn}${n.type === 'failure' ? ' ' + JSON.stringify(n.errors) : ''}${ko !== kn ? '\n      nativeObj: ' + ko : ''}${ks !== kn ? '\n      nativeSliced: ' + ks : ''}`,
  );
}
console.log(
  `\n${cases.length} suite cases + ${extras.length} extra requests; mismatches (decision, reasons set, error count, or rejected-vs-not): ${mismatches}; suite cases not matching their expectation (wasm): ${expectFail}`,
);
process.exitCode = mismatches ? 1 : 0;
