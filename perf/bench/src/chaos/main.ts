// `npm run chaos [-- --short] [<step>…]`: the whole stack as real processes (Redis with
// AOF, one policy-service that also consumes the audit events, two auth-services), steady
// open-loop load from vegeta at about half of what the stack answered at the start of the
// run, and one fault at a time (steps.ts), each followed by recovery. Every answer is
// matched to its request: allows are replayed against the policy set in force
// (oracle.ts), answered decisions are looked up in the audit record. Prints a table, writes
// docs/RELIABILITY.md (docs/RELIABILITY-CLUSTER.md with --cluster: Redis Cluster of 3 masters
// and 3 replicas, the Redis steps hitting one master), ends with the RESULT line, exits 1 when a decision was allowed
// without the policy-service, an audit event was lost or applied twice, or a 5xx other
// than 503 was answered.
import { mkdirSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { TOPICS } from '@portcullis/contracts';
import { streamKey } from '@portcullis/message-bus';
import { closeRedis, openRedis } from '@portcullis/redis';
import { freePort, startRedisCluster, type ProcessHandle } from '@portcullis/testing';
import { livePolicies } from '../_calls.ts';
import { BENCH_CLIENT, MANY_ROLE_CLIENTS, startBenchStack, startPolicyProcess } from '../_stack.ts';
import { canMakeNetwork, createPolicyNetwork } from './network.ts';
import { clusterFaults, serverFaults } from './redis-faults.ts';
import { attack, findVegeta } from '../_vegeta.ts';
import { allowedWithoutDecision } from './oracle.ts';
import { describeLost, requestIds, streamEntries, whereLost } from './lost.ts';
import { renderReliability, type StepFigures } from './reliability.ts';
import { chaosSteps, type ChaosContext } from './steps.ts';
import { Watcher, chaosTargets, parseBody, type Answer, type Asked, type Principal } from './traffic.ts';

const REDIS_DURABILITY = ['--appendonly', 'yes', '--appendfsync', 'everysec'];
// A master that lost its replica's acknowledgements for 2 s refuses writes: a frozen master
// that wakes after its replica was promoted cannot take writes the cluster then discards.
const CLUSTER_DURABILITY = [...REDIS_DURABILITY, '--min-replicas-to-write', '1', '--min-replicas-max-lag', '2'];

function parseArgs(argv: string[]): { short: boolean; cluster: boolean; names: string[] } {
  const names = argv.filter((arg) => !arg.startsWith('--'));
  const unknown = argv.filter((arg) => arg.startsWith('--') && arg !== '--short' && arg !== '--cluster');
  if (unknown.length > 0) throw new Error(`unknown option ${unknown.join(', ')}`);
  return { short: argv.includes('--short'), cluster: argv.includes('--cluster'), names };
}

/**
 * The audit record: the stream every audit consumer records each `auth.decision` message
 * into once (README, POLICY_AUDIT_RECENT_MAX). Its log lines are a copy that a consumer
 * killed between recording and logging can miss, so the run counts the record.
 */
const AUDIT_RECORD_KEY = 'portcullis:{audit}:recent';
/**
 * On the cluster every write that must survive a failover waits for its replica
 * (REDIS_WAIT_REPLICAS): the auth-services' publishes, which their journals let go of only
 * then, and the consumers' records. When master-killed kills the master of the
 * {auth.decision} or {audit} slot, what it had not replicated is otherwise lost with it
 * (938 and 544 in two runs before each side waited).
 */
const waitEnv = (onCluster: boolean): Record<string, string> => (onCluster ? { REDIS_WAIT_REPLICAS: '1' } : {});

/**
 * The audit consumers' settings. Recorded decisions kept: more than any run answers, so
 * the stream is never trimmed during one.
 */
const auditEnv = (onCluster: boolean): Record<string, string> => ({
  LOG_LEVEL: 'info',
  POLICY_AUDIT_RECENT_MAX: '20000000',
  ...waitEnv(onCluster),
});

/** Counts the audit record's request ids, each as often as it was recorded, reading only what is new each call. */
function auditRecord(redisUrl: string): { counts(): Promise<Map<string, number>>; close(): Promise<void> } {
  const redis = openRedis(redisUrl);
  const counts = new Map<string, number>();
  let after = '-';
  return {
    async counts() {
      for await (const [entryId, fields] of streamEntries(redis, AUDIT_RECORD_KEY, after)) {
        after = `(${entryId}`;
        for (const id of requestIds(fields)) counts.set(id, (counts.get(id) ?? 0) + 1);
      }
      return counts;
    },
    close: () => closeRedis(redis),
  };
}

/** A second audit consumer: a policy-service on the bus that no auth-service calls. */
async function startConsumer(
  redisUrl: string,
  env: Record<string, string>,
): Promise<{ handle: ProcessHandle; restart(): Promise<ProcessHandle> }> {
  const port = await freePort();
  const start = (): Promise<ProcessHandle> => startPolicyProcess(port, { REDIS_URL: redisUrl, ...env });
  return { handle: await start(), restart: start };
}

export async function main(argv: string[]): Promise<number> {
  const { short, cluster: onCluster, names } = parseArgs(argv);
  // A policy-service in its own namespace cannot reach a cluster that announces loopback addresses.
  const network = !onCluster && canMakeNetwork() ? createPolicyNetwork() : undefined;
  if (network === undefined)
    console.log(
      onCluster
        ? 'on a Redis Cluster: the network steps are left out'
        : 'not root, or no iproute2/nftables: the network steps are left out',
    );
  const known = chaosSteps(onCluster);
  const steps = known.filter(
    (step) => (names.length === 0 || names.includes(step.name)) && (network !== undefined || step.needsNetwork !== true),
  );
  if (steps.length === 0) throw new Error(`no such step; known: ${known.map((s) => s.name).join(', ')}`);
  const vegeta = findVegeta();
  const cluster = onCluster ? await startRedisCluster(3, { replicas: 1, args: CLUSTER_DURABILITY }) : undefined;
  const audit = auditEnv(onCluster);
  const stack = await startBenchStack({
    policyOnBus: true,
    redisArgs: REDIS_DURABILITY,
    policyEnv: audit,
    policyNetwork: network,
    cluster,
  }).catch(async (error: unknown) => {
    await network?.close();
    await cluster?.close();
    throw error;
  });
  const policyHandles: ProcessHandle[] = [stack.policy];
  const asked = new Map<string, Asked>();
  const answers: Answer[] = [];
  const figures: StepFigures[] = [];
  let watcher: Watcher | undefined;
  try {
    // The auth-services call the policy-service across the veth pair, through the relay.
    const policyUrl = new URL(stack.policyUrl);
    const authEnv = {
      ...waitEnv(onCluster),
      ...(network && { POLICY_URL: await network.relay({ host: policyUrl.hostname, port: Number(policyUrl.port) }) }),
    };
    const instances = [await stack.startAuth(authEnv), await stack.startAuth(authEnv)];
    const consumer = await startConsumer(stack.redisUrl, audit);
    policyHandles.push(consumer.handle);
    const urls = instances.map((i) => i.url);
    const main: Principal = { token: await stack.token(urls[0] as string), sub: BENCH_CLIENT.client_id, roles: BENCH_CLIENT.roles };
    const heavyTokens = await stack.manyRoleTokens(urls[0] as string);
    const heavy = MANY_ROLE_CLIENTS.map((client, k) => ({ token: heavyTokens[k] as string, sub: client.client_id, roles: client.roles }));
    const live = await livePolicies(stack.policyUrl);
    const context: ChaosContext = {
      stack,
      instances,
      policyTexts: new Map([[live.version, live.policies]]),
      redis: cluster
        ? clusterFaults(cluster, { kill: AUDIT_RECORD_KEY, freeze: streamKey(TOPICS.authDecision.topic, TOPICS.authDecision.priority) })
        : serverFaults(stack),
      network,
      consumer,
    };

    // Capacity: the same traffic, closed loop, 32 in flight, 3 s; the steady rate is half.
    const probe = await attack(vegeta, chaosTargets(urls, { main, heavy }, 60_000, 'capacity', new Map(), 1), { seconds: 3, workers: 32 });
    const capacity = probe.filter((h) => h.code === 200).length / 3;
    const rate = Math.max(20, Math.round(capacity / 2));
    console.log(
      `capacity ${capacity.toFixed(0)} answers/s with 32 in flight; steady load ${rate}/s, 20 % new decisions, on both instances`,
    );

    watcher = new Watcher(urls, main, asked);
    let seed = 2;
    for (const step of steps) {
      const faultMs = step.faultMs[short ? 1 : 0];
      const [preS, postS] = short ? [1, 6] : [3, 10];
      const seconds = preS + Math.ceil(faultMs / 1000) + postS;
      const begin = Date.now();
      const load = attack(vegeta, chaosTargets(urls, { main, heavy }, rate * seconds + 1, step.name, asked, seed++), {
        seconds,
        rate,
        keepBodies: true,
      });
      await sleep(preS * 1000);
      const injectedAt = Date.now();
      await step.inject(context);
      const during = step.during?.(context);
      const burst =
        step.extraLoad === undefined
          ? undefined
          : attack(
              vegeta,
              chaosTargets(urls, { main, heavy }, Math.ceil((rate * step.extraLoad * faultMs) / 1000) + 1, `${step.name}-x`, asked, seed++),
              {
                seconds: Math.ceil(faultMs / 1000),
                rate: rate * step.extraLoad,
                keepBodies: true,
              },
            );
      await sleep(faultMs);
      await step.recover(context);
      const recoveredAt = Date.now();
      for (const handle of [stack.policy, consumer.handle]) if (!policyHandles.includes(handle)) policyHandles.push(handle);
      const hits = [...(await load), ...((await burst) ?? [])];
      const note = (await during) ?? '';
      // Full service: /ready 200 and a new decision answered on every instance.
      let backAt = watcher.firstAll(recoveredAt, (s) => s.ready && s.decided, urls.length);
      for (let waited = 0; backAt === undefined && waited < 60_000; waited += 250) {
        await sleep(250);
        backAt = watcher.firstAll(recoveredAt, (s) => s.ready && s.decided, urls.length);
      }
      if (backAt === undefined) {
        // Never back: show what the services said, so the run explains itself.
        for (const [name, handle] of [
          ['policy-service', stack.policy] as const,
          ...context.instances.map((i, k) => [`auth-service ${k}`, i.handle] as const),
        ])
          console.log(
            `--- ${name}, last lines ---\n${handle
              .output()
              .split('\n')
              .filter((l) => !l.includes('"msg":"auth decision"'))
              .slice(-15)
              .join('\n')}`,
          );
        for (const instance of context.instances) {
          const health = await fetch(`${instance.url}/health`, { signal: AbortSignal.timeout(2000) }).then(
            (r) => r.text(),
            (error: Error) => error.message,
          );
          console.log(`--- ${instance.url}/health ---\n${health}`);
        }
      }
      const shownAt = watcher.firstAny(injectedAt, (s) => !s.ready);
      const stepAnswers: Answer[] = hits.map((hit) => {
        const body = parseBody(hit.body);
        return { id: body?.requestId ?? '', sentAt: hit.sentAt, latencyMs: hit.latencyMs, code: hit.code, body };
      });
      stepAnswers.push(...watcher.answers.filter((a) => a.sentAt >= begin && a.sentAt < Date.now()));
      answers.push(...stepAnswers);
      figures.push({
        step,
        answers: stepAnswers,
        shownS: shownAt === undefined || shownAt > recoveredAt ? undefined : (shownAt - injectedAt) / 1000,
        recoveryS: backAt === undefined ? Number.POSITIVE_INFINITY : Math.max(0, backAt - recoveredAt) / 1000,
        note,
        allowedWithoutDecision: 0,
        lost: 0,
        duplicates: 0,
      });
      console.log(
        `${step.name}: ${stepAnswers.length} answers, back ${figures.at(-1)?.recoveryS.toFixed(2)} s after recovery${note ? `; ${note}` : ''}`,
      );
    }
    await watcher.stop();

    // Allowed without a decision: replay every allow against the policy set it named.
    const wrong = await allowedWithoutDecision(answers, asked, context.policyTexts);
    for (const step of figures) step.allowedWithoutDecision = step.answers.filter((a) => wrong.has(a.id)).length;

    // Audit: every decision answered must be applied once by the consumer. Entries a killed
    // consumer had read are reclaimed once idle for the bus's reclaimIdleMs (30 s, looked for
    // every 7.5 s): wait that long for the last of them before calling any lost.
    const decided = new Set(answers.filter((a) => a.code === 200 && a.id !== '').map((a) => a.id));
    const record = auditRecord(stack.redisUrl);
    let counts: Map<string, number>;
    try {
      counts = await record.counts();
      const drainUntil = Date.now() + 45_000;
      while ([...decided].some((id) => !counts.has(id)) && Date.now() < drainUntil) {
        await sleep(500);
        counts = await record.counts();
      }
    } finally {
      await record.close();
    }
    const lost = [...decided].filter((id) => !counts.has(id));
    const lostIds = new Set(lost);
    for (const step of figures) {
      step.lost = step.answers.filter((a) => lostIds.has(a.id)).length;
      step.duplicates = step.answers.filter((a) => a.code === 200 && (counts.get(a.id) ?? 0) > 1).length;
    }
    const duplicates = [...counts.values()].filter((n) => n > 1).length;
    const lostWhere = lost.length === 0 ? undefined : describeLost(await whereLost(stack.redisUrl, lostIds));
    if (lostWhere !== undefined) console.log(`audit lost ${lost.length}: ${lostWhere}`);
    const text = renderReliability({
      figures,
      rate,
      capacity,
      short,
      lost,
      lostWhere,
      duplicates,
      decided: decided.size,
      allows: answers.filter((a) => a.code === 200 && a.body?.allowed === true).length,
      redis: (cluster ? CLUSTER_DURABILITY : REDIS_DURABILITY).join(' '),
      cluster: cluster !== undefined,
    });
    console.log(text.table);
    if (!short && names.length === 0) {
      const docs = fileURLToPath(new URL('../../../../docs/', import.meta.url));
      mkdirSync(docs, { recursive: true });
      writeFileSync(`${docs}${cluster ? 'RELIABILITY-CLUSTER.md' : 'RELIABILITY.md'}`, text.document);
    }
    console.log(text.result);
    return text.failed ? 1 : 0;
  } finally {
    await watcher?.stop();
    await Promise.all(policyHandles.map((handle) => handle.stop('SIGKILL')));
    await stack.stop();
    await network?.close();
    await cluster?.close();
  }
}

process.exitCode = await main(process.argv.slice(2));
