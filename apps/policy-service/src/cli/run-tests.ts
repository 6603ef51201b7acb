import { join } from 'node:path';
import { Registry, portcullisMetrics } from '@portcullis/observability';
import { PolicyInvalidError } from '../engine/errors.ts';
import { Evaluator, type Decision } from '../engine/evaluator.ts';
import { readPolicyDir } from '../engine/loader.ts';
import { formatFinding, plural, shown } from './findings.ts';
import { listTestFiles, readTestFile, type TestCase } from './test-file.ts';

/** Options of `policy test`. */
export interface TestOptions {
  /** Fail when some policy is not covered (see {@link runPolicyTests}). */
  requireCoverage: boolean;
  /** Where `log` lines go (one line each). */
  log: (line: string) => void;
}

/**
 * `policy test [dir]`: runs every case of `dir/tests/*.{yaml,yml,json}` against the
 * policy set in `dir`, loaded by the service's loader and decided by the service's
 * {@link Evaluator} (entities.json plus the case's entities, requests validated against
 * the schema), so a case passes exactly when the service would answer the same.
 *
 * A policy is covered when some case names it in `reasons` and it determined some
 * decision of the suite; the others are listed, and fail the run with `requireCoverage`.
 * Returns the exit code: 0 when everything passed, 1 otherwise.
 */
export async function runPolicyTests(dir: string, options: TestOptions): Promise<number> {
  const { log } = options;
  const evaluator = new Evaluator({ metrics: portcullisMetrics(new Registry()), decisionCacheSize: 0 });
  let bundle;
  try {
    bundle = evaluator.swap(await readPolicyDir(dir));
  } catch (error) {
    if (!(error instanceof PolicyInvalidError)) throw error;
    for (const message of error.details.messages) log(`${shown(dir)}: ${error.details.stage}: ${message}`);
    log(`the policy set in ${shown(dir)} does not load (npm run policy -- validate ${shown(dir)} shows where)`);
    return 1;
  }

  const files = await listTestFiles(join(dir, 'tests'));
  if (files.length === 0) {
    log(`${shown(join(dir, 'tests'))}: no test files (*.yaml, *.yml or *.json)`);
    return 1;
  }
  const cases: TestCase[] = [];
  let badFiles = 0;
  for (const file of files) {
    const read = await readTestFile(file);
    for (const finding of read.findings) log(formatFinding(finding));
    if (read.findings.length > 0) badFiles += 1;
    cases.push(...read.cases);
  }

  const named = new Set<string>();
  const determined = new Set<string>();
  let failed = 0;
  for (const testCase of cases) {
    for (const id of testCase.reasons ?? []) named.add(id);
    const result = evaluator.evaluate(testCase.request);
    const where = `${shown(testCase.file)}:${testCase.line} › ${testCase.name}`;
    if ('rejected' in result) {
      failed += 1;
      log(`✗ ${where}: the service would refuse this request (${result.rejected.code}): ${result.rejected.message}`);
      continue;
    }
    for (const id of result.reasons) determined.add(id);
    const problem = mismatch(testCase, result, bundle.policyIds);
    if (problem !== undefined) {
      failed += 1;
      log(`✗ ${where}: ${problem}`);
    } else if (result.errors.length > 0) {
      log(`! ${where}: passed, but Cedar reported errors: ${describeErrors(result)}`);
    }
  }

  const uncovered = bundle.policyIds.filter((id) => !named.has(id) || !determined.has(id));
  for (const id of uncovered) {
    const why = [!named.has(id) && 'no case names it in reasons', !determined.has(id) && 'it never determined a decision'];
    log(`${options.requireCoverage ? '✗' : '!'} policy ${id} is not covered: ${why.filter(Boolean).join('; ')}`);
  }
  const covered = bundle.policyIds.length - uncovered.length;
  const failing = failed > 0 || badFiles > 0 || (options.requireCoverage && uncovered.length > 0);
  log(
    [
      `${failing ? 'FAIL' : 'ok'} ${shown(dir)}: ${plural(cases.length, 'case')} in ${plural(files.length, 'file')}`,
      `${cases.length - failed} passed`,
      `${failed} failed`,
      ...(badFiles > 0 ? [`${plural(badFiles, 'invalid file')}`] : []),
      `coverage ${covered}/${bundle.policyIds.length} policies`,
    ].join(', '),
  );
  return failing ? 1 : 0;
}

/** Why the decision is not the one expected, or undefined when it is. */
function mismatch(testCase: TestCase, result: Decision, policyIds: readonly string[]): string | undefined {
  const got = `got ${result.decision} (${describeReasons(result.reasons)})${result.errors.length > 0 ? `; errors: ${describeErrors(result)}` : ''}`;
  if (result.decision !== testCase.expect) return `expected ${testCase.expect}, ${got}`;
  if (testCase.reasons === undefined) return undefined;
  const expected = [...new Set(testCase.reasons)].sort();
  const actual = [...new Set(result.reasons)].sort();
  if (expected.join('\n') === actual.join('\n')) return undefined;
  const unknown = expected.filter((id) => !policyIds.includes(id));
  const hint = unknown.length > 0 ? `; no policy has the id ${unknown.join(', ')}` : '';
  return `expected ${testCase.expect} (${describeReasons(expected)}), ${got}${hint}`;
}

const describeReasons = (reasons: readonly string[]): string =>
  reasons.length === 0 ? 'no policy determined it' : `determined by ${reasons.join(', ')}`;

const describeErrors = (result: Decision): string => result.errors.map((error) => `${error.policyId}: ${error.error.message}`).join('; ');
