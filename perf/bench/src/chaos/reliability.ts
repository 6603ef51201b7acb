// The chaos run's table, docs/RELIABILITY.md and RESULT line, from what each step saw.
import type { Step } from './steps.ts';
import type { Answer } from './traffic.ts';

/** What one step saw. */
export interface StepFigures {
  step: Step;
  answers: Answer[];
  /** Seconds from the fault to the first `/ready` 503 on an instance; undefined when it never showed. */
  shownS: number | undefined;
  /** Seconds from the recovery action to `/ready` 200 and a new decision on every instance. */
  recoveryS: number;
  note: string;
  allowedWithoutDecision: number;
  /** Decisions it answered that never reached the audit consumer. */
  lost: number;
  /** Decisions it answered that the audit consumers applied more than once. */
  duplicates: number;
}

const count = (answers: Answer[], holds: (a: Answer) => boolean): number => answers.filter(holds).length;

function row(f: StepFigures): string[] {
  const a = f.answers;
  return [
    f.step.name,
    String(a.length),
    String(count(a, (x) => x.code === 200)),
    String(count(a, (x) => x.code === 503)),
    String(count(a, (x) => x.code >= 500 && x.code !== 503)),
    String(count(a, (x) => x.code === 0)),
    String(f.allowedWithoutDecision),
    String(f.lost),
    String(f.duplicates),
    String(count(a, (x) => x.code === 200 && x.body?.cache === 'stale')),
    f.shownS === undefined ? '—' : f.shownS.toFixed(2),
    Number.isFinite(f.recoveryS) ? f.recoveryS.toFixed(2) : 'never',
  ];
}

const HEAD = [
  'step',
  'asked',
  '200',
  '503',
  'other 5xx',
  'no answer',
  'allowed without decision',
  'audit lost',
  'applied twice',
  'stale served',
  '/ready showed it (s)',
  'full service back (s)',
];

/** The table, the document, the RESULT line and whether the run failed. */
export function renderReliability(run: {
  figures: StepFigures[];
  rate: number;
  capacity: number;
  short: boolean;
  lost: string[];
  /** Where the lost events were found (dead-lettered, pending, …), when any were lost. */
  lostWhere?: string;
  duplicates: number;
  decided: number;
  /** Allows answered (each replayed by the oracle). */
  allows: number;
  redis: string;
  /** Ran on a Redis Cluster of 3 masters and 3 replicas. */
  cluster: boolean;
}): { table: string; document: string; result: string; failed: boolean } {
  const rows = run.figures.map(row);
  const table = [`| ${HEAD.join(' | ')} |`, `|${HEAD.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
  const allowed = run.figures.reduce((sum, f) => sum + f.allowedWithoutDecision, 0);
  const errors = run.figures.reduce((sum, f) => sum + count(f.answers, (x) => x.code >= 500 && x.code !== 503), 0);
  const worst = Math.max(0, ...run.figures.map((f) => f.recoveryS));
  const result = `RESULT chaos lost=${run.lost.length} duplicates_applied=${run.duplicates} allowed_without_decision=${allowed} server_errors_5xx=${errors} worst_recovery_s=${Number.isFinite(worst) ? worst.toFixed(2) : 'never'}`;
  const failed = allowed > 0 || errors > 0 || run.lost.length > 0 || run.duplicates > 0 || !Number.isFinite(worst);
  const document = [
    '# Reliability under faults',
    '',
    'Written by `npm run chaos` (perf/bench/src/chaos). The whole stack runs as real processes on one',
    `machine: ${run.cluster ? 'a Redis Cluster of 3 masters and 3 replicas (node timeout 2 s)' : 'Redis'}, one policy-service`,
    '(which also consumes the `auth.decision` audit events), a second audit consumer (a policy-service no',
    'auth-service calls), two auth-services.',
    run.cluster
      ? 'The policy-service runs on loopback: a network namespace could not reach the cluster, so the network steps run on a single Redis only (RELIABILITY.md).'
      : "The policy-service runs in a network namespace of the run's: the auth-services reach it across a veth pair, through a relay that can delay it (the kernel has no netem), and nftables in the namespace can drop its packets (without root or nftables the network steps are left out).",
    `Steady open-loop load from vegeta at ${run.rate} requests/s, about half of the`,
    `${run.capacity.toFixed(0)} answers/s the stack gave 32 in-flight requests at the start of the run;`,
    '20 % of the requests are new decisions, 5 % come from principals with 32 roles, and every',
    'instance is also asked `/ready` and one new decision every 100 ms. One fault at a time; each is',
    'followed by recovery.',
    '',
    table,
    '',
    ...run.figures.filter((f) => f.note !== '').map((f) => `- **${f.step.name}**: ${f.note}`),
    '',
    '## What the columns mean',
    '',
    ...run.figures.map((f) => `- \`${f.step.name}\`: ${f.step.fault}.`),
    '- **503** is the right answer while no decision can be made (fail closed); **other 5xx** would be a bug.',
    '- **no answer**: connection refused or no answer within 10 s, e.g. requests sent to a killed instance (a load balancer would route them elsewhere).',
    '- **allowed without decision**: an allow that the policy set named in the answer (replayed by a reference',
    `  policy-service that was never faulted) does not allow, or that names a version nobody put live; ${run.allows} allows were replayed.`,
    '- **audit lost**: decisions answered 200 that never reached the audit record (`portcullis:{audit}:recent`).',
    '- **applied twice**: decisions answered 200 that the audit record holds more than once.',
    '- **stale served**: answered from an expired cached decision inside its grace period, because no fresh one could be had.',
    '- **/ready showed it**: from the fault to the first `/ready` 503 on an instance (— when it never did: the instance kept serving).',
    '- **full service back**: from the recovery (process restarted and ready, or signal sent) to `/ready` 200 and a new decision answered on every instance.',
    '',
    '## Audit events',
    '',
    `${run.decided} decisions were answered; ${run.decided - run.lost.length} of them were recorded by the audit consumers,`,
    `${run.lost.length} were lost${run.lostWhere === undefined ? '' : ` (${run.lostWhere})`} and ${run.duplicates} recorded twice. The bus delivers at least once (a consumer`,
    'killed between its handler and its ack, an ack Redis refused, a journal resent: each delivers a message again);',
    'a consumer records a message and its message id in one Redis script, and logs and counts only what that',
    'recorded, so the record holds each decision once. Its log lines are a copy: a consumer killed between',
    `recording and logging misses that batch's lines. Redis runs with \`${run.redis}\`: a killed`,
    'redis-server loses nothing the kernel has (it writes the AOF before answering); a machine crash could lose',
    'the last second. The auth-service writes each audit event to a local journal (one synchronous append,',
    'no fsync) before its answer leaves and publishes in batches every 50 ms; a restarted instance sends what',
    'the journal still holds under the same message ids, and the consumer drops those it had applied. A',
    'killed process loses nothing; a lost machine could lose what the page cache had not written.',
    '',
    result,
    '',
  ].join('\n');
  return { table, document, result, failed };
}
