// Shared setup: the service's own loader and evaluator (imported from the repo) and the native engine.
import { createRequire } from 'node:module';
import { readPolicyDir } from '../../../apps/policy-service/src/engine/loader.ts';
export { Evaluator, preparse, authorize } from '../../../apps/policy-service/src/engine/evaluator.ts';
export { compileBundle } from '../../../apps/policy-service/src/engine/bundle.ts';
export { readTestFile, listTestFiles } from '../../../apps/policy-service/src/cli/test-file.ts';
export { Registry, portcullisMetrics } from '../../../libs/observability/src/index.ts';

export const POLICY_DIR = new URL('../../../apps/policy-service/policies', import.meta.url).pathname;
const require = createRequire(import.meta.url);
export const native = require('./cedar_native.node');
export const cedarWasm = require('@cedar-policy/cedar-wasm/nodejs');

export async function loadSource() {
  return readPolicyDir(POLICY_DIR);
}

export function loadNative(source) {
  const engine = new native.CedarEngine();
  engine.load(source.policies, source.schema ?? null, JSON.stringify(source.entities ?? []));
  return engine;
}
