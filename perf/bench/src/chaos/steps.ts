// The faults of `npm run chaos`, one a step: each is injected under steady load, lasts a
// while, and is then recovered from. Two steps also act in the middle of their fault: a
// policy update while an auth-service instance is down, a revocation while Redis is frozen.
import { setTimeout as sleep } from 'node:timers/promises';
import type { ProcessHandle } from '@portcullis/testing';
import { authenticate, livePolicies, pollUntil, putPolicies } from '../_calls.ts';
import { BENCH_CLIENT, type BenchStack } from '../_stack.ts';
import type { PolicyNetwork } from './network.ts';
import type { RedisFaults } from './redis-faults.ts';

/** What the steps act on. */
export interface ChaosContext {
  stack: BenchStack;
  /** The auth-service instances; a restarted one's handle replaces the killed one's. */
  instances: { url: string; handle: ProcessHandle }[];
  /** Every policy text put live, by version (the oracle replays allows against them). */
  policyTexts: Map<string, string>;
  /** The stack's Redis, or one master of its cluster. */
  redis: RedisFaults;
  /** The policy-service's namespace and relay, when this machine could make them. */
  network: PolicyNetwork | undefined;
  /** A second audit consumer (a policy-service no auth-service calls), and how to start it again. */
  consumer: { handle: ProcessHandle; restart(): Promise<ProcessHandle> };
}

/** One fault. */
export interface Step {
  name: string;
  /** The fault, in words (the report's first column). */
  fault: string;
  /** How long it lasts before recovery, ms: [full run, short run]. */
  faultMs: [number, number];
  inject(context: ChaosContext): Promise<void>;
  recover(context: ChaosContext): Promise<void>;
  /** Done in the middle of the fault; resolves with what it saw, in words. */
  during?(context: ChaosContext): Promise<string>;
  /** Extra load during the fault, in multiples of the steady rate. */
  extraLoad?: number;
  /** Needs the policy-service's own network namespace (root, iproute2, nftables). */
  needsNetwork?: boolean;
}

const policyPort = (context: ChaosContext): number => Number(new URL(context.stack.policyUrl).port);

const signal = (pid: number | undefined, name: NodeJS.Signals): void => {
  if (pid === undefined) throw new Error(`no process to send ${name} to`);
  process.kill(pid, name);
};

/**
 * A forbid on viewing doc-12 (in the load's set) put live while one auth-service is down:
 * the live one must answer by it within its bound, the restarted one must start with it.
 */
async function policyUpdateDuring(context: ChaosContext): Promise<string> {
  const live = await livePolicies(context.stack.policyUrl);
  const policies = `${live.policies}\n@id("chaos-forbid-doc-12")\nforbid (principal, action == Action::"view", resource == Document::"doc-12");\n`;
  const sent = performance.now();
  const version = await putPolicies(context.stack.policyUrl, policies).catch((error: Error) => error);
  if (version instanceof Error) return `policy update refused: ${version.message}`;
  context.policyTexts.set(version, policies);
  const url = context.instances[0]?.url as string;
  const token = await context.stack.token(url);
  const probe = { action: 'view', resource: { type: 'Document', id: 'doc-12' } };
  const ms = await pollUntil(async () => {
    const answer = await authenticate(url, token, probe, `during-${Date.now()}`);
    return answer.body.decision === 'deny' && answer.body.policyVersion === version;
  }, sent);
  return `policy update ${version} during the fault: the live instance answered by it ${ms.toFixed(0)} ms after it was sent`;
}

/**
 * A token both instances hold verified is revoked while Redis is frozen: /revoke must not
 * claim success it cannot deliver (it answers 503 while it cannot store the revocation,
 * and the harness retries as RFC 7009 §2.2.1 asks of a client), and once it has answered
 * 200 every instance must refuse the token.
 */
async function revocationDuring(context: ChaosContext, token: string): Promise<string> {
  const [first, second] = context.instances;
  if (first === undefined || second === undefined) return 'revocation needs two instances';
  const sent = performance.now();
  let revoke: { status: number };
  let attempts = 0;
  do {
    if (attempts > 0) await sleep(1000); // the Retry-After of a 503
    attempts += 1;
    revoke = await fetch(`${first.url}/revoke`, {
      method: 'POST',
      body: new URLSearchParams({ token, client_id: BENCH_CLIENT.client_id, client_secret: BENCH_CLIENT.client_secret }),
      signal: AbortSignal.timeout(10_000),
    }).catch((error: Error) => ({ status: 0, statusText: error.name }));
  } while (revoke.status !== 200 && performance.now() - sent < 20_000);
  const answeredMs = performance.now() - sent;
  const probe = { action: 'view', resource: { type: 'Document', id: 'doc-1' } };
  const refused = await Promise.all(
    context.instances.map((instance) =>
      pollUntil(async () => (await authenticate(instance.url, token, probe, `during-${Date.now()}`)).status === 401),
    ),
  );
  return `revocation during the fault: /revoke answered ${revoke.status} after ${answeredMs.toFixed(0)} ms (${attempts} attempt${attempts === 1 ? '' : 's'}); every instance refused the token ${(Math.max(...refused) / 1000).toFixed(2)} s after /revoke answered`;
}

/** The steps, in the order they run; on a Redis Cluster the Redis steps hit one master. */
export function chaosSteps(cluster = false): Step[] {
  let revokedToken = '';
  return [
    {
      name: 'policy-killed',
      fault: 'policy-service (and the audit consumer in it) SIGKILLed mid-batch, restarted',
      faultMs: [8000, 3000],
      inject: (c) => c.stack.stopPolicy('SIGKILL'),
      recover: (c) => c.stack.restartPolicy(),
    },
    {
      name: 'policy-slow',
      fault: 'policy-service frozen (SIGSTOP): connected, every answer late past the deadline; then SIGCONT',
      faultMs: [10_000, 3000],
      inject: async (c) => signal(c.stack.policy.child.pid, 'SIGSTOP'),
      recover: async (c) => signal(c.stack.policy.child.pid, 'SIGCONT'),
    },
    {
      name: 'consumer-killed',
      fault: 'one of two audit consumers SIGKILLed mid-batch (its unacknowledged entries are reclaimed), restarted',
      faultMs: [5000, 2000],
      inject: (c) => c.consumer.handle.stop('SIGKILL').then(() => undefined),
      recover: async (c) => {
        c.consumer.handle = await c.consumer.restart();
      },
    },
    {
      name: 'network-latency',
      fault: '20 ms added each way between auth and policy (relay on the veth path; the kernel has no netem)',
      faultMs: [10_000, 3000],
      needsNetwork: true,
      inject: async (c) => c.network?.setDelay(20),
      recover: async (c) => c.network?.setDelay(0),
    },
    {
      name: 'network-loss',
      fault: '10 % of the packets between auth and policy dropped, both ways (nftables in the namespace)',
      faultMs: [10_000, 3000],
      needsNetwork: true,
      inject: async (c) => c.network?.setLoss(policyPort(c), 10),
      recover: async (c) => c.network?.setLoss(policyPort(c), 0),
    },
    {
      name: cluster ? 'master-killed' : 'redis-killed',
      fault: cluster
        ? 'the Redis Cluster master holding the audit record SIGKILLed (its replica is promoted), restarted with its data (AOF): it rejoins as a replica'
        : 'Redis SIGKILLed, restarted with its data (AOF)',
      faultMs: [5000, 2000],
      inject: (c) => c.redis.kill(),
      recover: (c) => c.redis.restart(),
    },
    {
      name: cluster ? 'master-frozen' : 'redis-frozen',
      fault: `${cluster ? 'the Redis Cluster master holding the auth.decision stream' : 'Redis'} frozen (SIGSTOP) 5 s, a token revoked meanwhile; then SIGCONT`,
      faultMs: [5000, 3000],
      inject: async (c) => {
        // A token both instances hold verified and whose decisions they cache.
        revokedToken = await c.stack.token(c.instances[0]?.url as string);
        for (const instance of c.instances)
          await authenticate(
            instance.url,
            revokedToken,
            { action: 'view', resource: { type: 'Document', id: 'doc-1' } },
            `during-${Date.now()}`,
          );
        await c.redis.freeze();
      },
      during: (c) => revocationDuring(c, revokedToken),
      recover: (c) => c.redis.thaw(),
    },
    {
      name: 'auth-killed',
      fault: 'one auth-service of two SIGKILLed, a policy update meanwhile; then restarted',
      faultMs: [6000, 3000],
      inject: async (c) => {
        await c.instances[1]?.handle.stop('SIGKILL');
      },
      during: policyUpdateDuring,
      recover: async (c) => {
        const instance = c.instances[1];
        if (instance !== undefined) instance.handle = await c.stack.restartAuth(instance.url);
      },
    },
    {
      name: 'burst',
      fault: 'a burst of 10× the steady rate',
      faultMs: [10_000, 3000],
      extraLoad: 9,
      inject: async () => undefined,
      recover: async () => undefined,
    },
  ];
}
