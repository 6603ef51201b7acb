// Same-process, interleaved cost comparison: cedar-wasm statefulIsAuthorized as the service calls it
// (evaluator.ts `authorize`: entity slicing + statefulIsAuthorized on a preparsed slot, validateRequest)
// vs the native binding (static entities held in Rust; only the request's own entities are sent).
// Usage: node bench.mjs [N=20000] [ROUNDS=5]
import { compileBundle, preparse, authorize, loadSource, loadNative, cedarWasm, native } from './common.mjs';

const N = Number(process.argv[2] ?? 20000);
const ROUNDS = Number(process.argv[3] ?? 5);
const source = await loadSource();
const live = preparse(compileBundle(source), 'bench-slot');
const engine = loadNative(source);

// Representative requests: a delete with a full context (ip extension, mfa, risk) and no request
// entities; and a user "from the token" whose roles arrive as a request entity (the service's common shape).
const requests = {
  'ctx, no req entities': {
    principal: { type: 'User', id: 'dave' },
    action: { type: 'Action', id: 'delete' },
    resource: { type: 'Document', id: 'doc-3' },
    context: { riskScore: 12, mfa: true, sourceIp: { __extn: { fn: 'ip', arg: '192.168.1.5' } } },
    entities: [],
  },
  'token user (1 req entity)': {
    principal: { type: 'User', id: 'frank' },
    action: { type: 'Action', id: 'edit' },
    resource: { type: 'Document', id: 'doc-2' },
    context: { riskScore: 12 },
    entities: [{ uid: { type: 'User', id: 'frank' }, attrs: { department: 'sales' }, parents: [{ type: 'Role', id: 'editor' }] }],
  },
};

const variants = {
  // What the service runs per evaluation (minus metrics/caching): slice + statefulIsAuthorized; answer is a JS object already.
  'wasm authorize()': (req) => authorize(live, req),
  // A real caller starts from a JS object: stringify in, parse the answer back out.
  // Cedar call alone, entities pre-sliced once (no per-call JS slicing).
  'wasm stateful (pre-sliced)': null,
  'native JSON string': (req) => JSON.parse(engine.isAuthorized(JSON.stringify(req))),
  // JS object converted to serde_json::Value by napi; answer still parsed from JSON.
  'native JS object': (req) => JSON.parse(engine.isAuthorizedObject(req)),
  // Drop-in for today's design: JS slices the loaded entities per call (as the service does) and
  // native parses them per call like cedar-wasm, ignoring its loaded entities.
  'native JSON, JS-sliced ents': (req) =>
    JSON.parse(
      engine.isAuthorized(
        JSON.stringify({
          principal: req.principal,
          action: req.action,
          resource: req.resource,
          context: req.context,
          entities: live.bundle.slicer.slice(req),
          staticEntities: false,
        }),
      ),
    ),
  // Raw native call cost: request string prebuilt, answer not parsed (lower bound).
  'native raw (prebuilt str)': null,
};

function time(fn, arg, n) {
  let sink = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) sink ^= fn(arg) ? 1 : 0;
  const t1 = process.hrtime.bigint();
  if (sink === 42) console.log('');
  return Number(t1 - t0) / 1e3 / n; // µs per call
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

console.log(
  `node ${process.version}, cedar-wasm ${cedarWasm.getCedarVersion()}, native cedar-policy ${native.cedarVersion()}; N=${N} calls/round, ${ROUNDS} rounds, interleaved`,
);
const summary = {};
for (const [rname, req] of Object.entries(requests)) {
  const pre = JSON.stringify(req);
  const sliced = live.bundle.slicer.slice(req);
  const call = {
    principal: req.principal,
    action: req.action,
    resource: req.resource,
    context: req.context,
    entities: sliced,
    preparsedPolicySetId: live.slot,
    preparsedSchemaName: live.slot,
    validateRequest: true,
  };
  const fns = {
    ...variants,
    'wasm stateful (pre-sliced)': () => cedarWasm.statefulIsAuthorized(call),
    'native raw (prebuilt str)': () => engine.isAuthorized(pre),
  };
  // sanity: all agree
  const answers = Object.entries(fns).map(([k, f]) => {
    let a = f(req);
    if (typeof a === 'string') a = JSON.parse(a);
    return a.type === 'failure' ? 'REJECTED' : a.response ? a.response.decision : a.decision;
  });
  console.log(`\n== ${rname}: decisions ${JSON.stringify(answers)}`);
  for (const f of Object.values(fns)) time(f, req, 5000); // warm-up (WASM tier-up, JIT)
  const per = Object.fromEntries(Object.keys(fns).map((k) => [k, []]));
  const names = Object.keys(fns);
  for (let r = 0; r < ROUNDS; r++) {
    const order = names.map((_, i) => names[(i + r) % names.length]); // rotate order each round
    for (const k of order) per[k].push(time(fns[k], req, N));
  }
  const wasmMed = median(per['wasm authorize()']);
  for (const k of names) {
    const m = median(per[k]);
    console.log(
      `${k.padEnd(27)} median ${m.toFixed(2).padStart(7)} µs/call  (wasm/this = ${(wasmMed / m).toFixed(1)}x)  rounds: ${per[k].map((x) => x.toFixed(2)).join(', ')}`,
    );
  }
  summary[rname] = Object.fromEntries(names.map((k) => [k, median(per[k])]));
}
console.log('\nJSON ' + JSON.stringify(summary));
