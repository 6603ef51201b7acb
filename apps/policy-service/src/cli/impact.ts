// `npm run policy -- impact <dir>`: POSTs the candidate set in dir to a running
// policy-service's `POST /policies/impact` and prints what would flip. Nothing goes live.
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PolicyInvalidError } from '../engine/errors.ts';
import { readPolicyDir } from '../engine/loader.ts';
import type { ImpactReport } from '../impact/schema.ts';

/** `.data/admin-token` of `npm start`, at the workspace root. */
const DEV_TOKEN_FILE = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', '.data', 'admin-token');

/** Options of {@link runImpact}. */
export interface ImpactCommandOptions {
  url: string;
  token: string | undefined;
  last: number | undefined;
  minutes: number | undefined;
  failOnFlip: boolean;
  log: (line: string) => void;
}

/** Exit code 0, or 1 when the service refused or (with `failOnFlip`) anything flips. */
export async function runImpact(dir: string, options: ImpactCommandOptions): Promise<number> {
  const token =
    options.token ?? process.env['POLICY_ADMIN_TOKEN'] ?? (await readFile(DEV_TOKEN_FILE, 'utf8').catch(() => undefined))?.trim();
  if (!token) {
    options.log('policy impact: no admin token (--token, POLICY_ADMIN_TOKEN or .data/admin-token)');
    return 1;
  }
  let source;
  try {
    source = await readPolicyDir(dir);
  } catch (error) {
    options.log(`policy impact: ${error instanceof PolicyInvalidError ? error.details.messages.join('; ') : (error as Error).message}`);
    return 1;
  }
  const body = {
    // What the directory lacks, the candidate lacks: said explicitly, since a body that
    // leaves schema or entities out keeps the live ones.
    policies: source.policies,
    schema: source.schema ?? null,
    entities: source.entities ?? [],
    ...(options.last === undefined ? {} : { last: options.last }),
    ...(options.minutes === undefined ? {} : { minutes: options.minutes }),
  };
  let res: Response;
  try {
    res = await fetch(new URL('/policies/impact', options.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
    });
  } catch (error) {
    options.log(
      `policy impact: ${options.url} is unreachable: ${(error as Error).cause instanceof Error ? ((error as Error).cause as Error).message : (error as Error).message}`,
    );
    return 1;
  }
  const answer = (await res.json().catch(() => ({}))) as ImpactReport & { error?: { code: string; message: string; details?: unknown } };
  if (res.status !== 200) {
    options.log(`policy impact: ${res.status} ${answer.error?.code ?? ''} ${answer.error?.message ?? ''}`.trimEnd());
    const messages = (answer.error?.details as { messages?: string[] } | undefined)?.messages ?? [];
    for (const message of messages) options.log(`  ${message}`);
    return 1;
  }
  for (const line of formatReport(answer)) options.log(line);
  return options.failOnFlip && answer.allowToDeny + answer.allowToRejected + answer.denyToAllow > 0 ? 1 : 0;
}

/** The report as tables: totals, flips by action and resource type, by deciding policy, then examples. */
export function formatReport(report: ImpactReport): string[] {
  const window =
    report.window.minutes === null ? `last ${report.window.last}` : `last ${report.window.minutes} min, at most ${report.window.last}`;
  const lines = [
    `candidate ${report.candidateVersion} against live ${report.liveVersion ?? '(none)'}: ${report.covered} decisions replayed (${window}) in ${report.elapsedMs} ms${report.complete ? '' : ', STOPPED AT THE TIME LIMIT'}`,
    '',
    ...table(
      ['allow→deny', 'deny→allow', 'unchanged', 'rejected', 'skipped'],
      [
        [
          String(report.allowToDeny),
          String(report.denyToAllow),
          String(report.unchanged),
          report.allowToRejected > 0 ? `${report.rejected} (${report.allowToRejected} allowed before)` : String(report.rejected),
          String(report.skipped),
        ],
      ],
    ),
  ];
  if (report.byTarget.length > 0) {
    lines.push(
      '',
      ...table(
        ['action', 'resource type', 'allow→deny', 'deny→allow'],
        report.byTarget.map((g) => [g.action, g.resourceType, String(g.allowToDeny), String(g.denyToAllow)]),
      ),
      '',
      ...table(
        ['deciding policy', 'allow→deny', 'deny→allow'],
        report.byPolicy.map((g) => [g.policy ?? '(none: default deny)', String(g.allowToDeny), String(g.denyToAllow)]),
      ),
      '',
      'examples:',
    );
    for (const group of report.byTarget) {
      for (const flip of group.examples) {
        lines.push(
          `  ${flip.before}→${flip.after}  ${flip.principal} ${flip.action} ${flip.resource}  by [${flip.reasons.join(', ')}]  (${flip.at})`,
        );
      }
    }
  }
  return lines;
}

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i]?.length ?? 0)));
  const line = (cells: string[]): string =>
    cells
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
}
