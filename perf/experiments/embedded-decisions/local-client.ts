// The auth-service's PolicyClient, replaced by the policy-service's own Evaluator running
// in the auth-service's process (ENGINE=native: the napi-rs binding of ../cedar-native).
// Everything else of the auth-service (HTTP, token, L1/L2 cache, audit over the bus) is
// the real code: this measures what the embedded design would cost, not a toy.
import { createRequire } from 'node:module';
import type { EvaluateRequest, EvaluateResponse } from '@portcullis/contracts';
import { portcullisMetrics, Registry, type HealthCheck } from '@portcullis/observability';
import { PolicyRejectedError } from '@portcullis/service-client';
import { readPolicyDir } from '../../../apps/policy-service/src/engine/loader.ts';
import { Evaluator } from '../../../apps/policy-service/src/engine/evaluator.ts';

export * from '@portcullis/service-client';

const POLICY_DIR = new URL('../../../apps/policy-service/policies', import.meta.url).pathname;
const source = await readPolicyDir(POLICY_DIR);
const evaluator = new Evaluator({ metrics: portcullisMetrics(new Registry()), decisionCacheSize: 0 });
const bundle = evaluator.swap(source);

interface NativeEngine {
  load(policies: unknown, schema: string | null, entities: string): void;
  isAuthorized(request: string): string;
}
let native: NativeEngine | undefined;
if (process.env.ENGINE === 'native') {
  const require = createRequire(import.meta.url);
  const binding = require(process.env.CEDAR_NATIVE ?? '../cedar-native/cedar_native.node') as { CedarEngine: new () => NativeEngine };
  native = new binding.CedarEngine();
  native.load(source.policies, source.schema ?? null, JSON.stringify(source.entities ?? []));
}

function decide(request: EvaluateRequest): EvaluateResponse {
  if (native !== undefined) {
    const answer = JSON.parse(native.isAuthorized(JSON.stringify(request))) as
      | { type: 'success'; decision: 'allow' | 'deny'; reasons: string[]; errors: { message: string }[] }
      | { type: 'failure'; errors: string[] };
    if (answer.type === 'failure') throw new PolicyRejectedError(answer.errors.join('; '));
    return { decision: answer.decision, reasons: answer.reasons, errors: answer.errors, policyVersion: bundle.version } as EvaluateResponse;
  }
  const result = evaluator.evaluate(request);
  if ('rejected' in result) throw new PolicyRejectedError(result.rejected.message);
  return { ...result, policyVersion: bundle.version };
}

const noop = (): void => undefined;

/** Same surface as the real PolicyClient, as far as the auth-service uses it. */
export class PolicyClient {
  evaluate(request: EvaluateRequest): Promise<EvaluateResponse> {
    try {
      return Promise.resolve(decide(request));
    } catch (error) {
      return Promise.reject(error);
    }
  }
  warmUp(request: (n: number) => EvaluateRequest): Promise<boolean> {
    // The warm-up's requests name a type the schema rejects, as over h2c: that still warms Cedar.
    for (let n = 0; n < 50; n++) {
      try {
        decide(request(n));
      } catch {
        // rejected, as expected
      }
    }
    return Promise.resolve(true);
  }
  // Nothing remote: no breaker to open, no session to lose.
  onBreakerStateChange(): () => void {
    return noop;
  }
  onConnectionChange(): () => void {
    return noop;
  }
  healthCheck(name = 'policy-service'): HealthCheck {
    return { name, critical: true, check: () => ({ status: 'up', detail: { embedded: native ? 'native' : 'wasm' } }) };
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}
