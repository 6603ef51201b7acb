import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CedarContext, Entity, EntityRef, EvaluateRequest, LIMITS, exactNumber } from '@portcullis/contracts';
import { parseDocument, visit, type Document } from 'yaml';
import { z } from 'zod';
import { nodeOffset, positionOfCharOffset, type Finding } from './findings.ts';

/** One case of a policy test file, ready to evaluate. */
export interface TestCase {
  file: string;
  line: number;
  name: string;
  request: EvaluateRequest;
  expect: 'allow' | 'deny';
  /** The determining policy ids, when the case names them (compared as a set). */
  reasons?: string[];
}

const TEST_FILE = /\.(ya?ml|json)$/;
/** `Type::"id"`, the type possibly namespaced (`Ns::Type`), the id a quoted string. */
const UID_TEXT = /^((?:[A-Za-z_]\w*::)*[A-Za-z_]\w*)::("(?:[^"\\]|\\.)*")$/s;

/** An entity written as Cedar prints it (`User::"alice"`) or as `{type, id}`. */
function uid(defaultType?: string) {
  return z.unknown().transform((value, context): EntityRef => {
    if (typeof value === 'string') {
      if (defaultType !== undefined && !value.includes('::')) return { type: defaultType, id: value };
      const [, type, quoted] = UID_TEXT.exec(value) ?? [];
      const id = quoted === undefined ? undefined : parseQuoted(quoted);
      if (type !== undefined && id !== undefined) return { type, id };
    } else {
      const parsed = EntityRef.safeParse(value);
      if (parsed.success) return parsed.data;
    }
    const bare = defaultType !== undefined ? `, a bare ${defaultType} id` : '';
    context.addIssue({ code: 'custom', message: `expected Type::"id"${bare} or {type, id}; got ${JSON.stringify(value)}` });
    return z.NEVER;
  });
}

function parseQuoted(quoted: string): string | undefined {
  try {
    return JSON.parse(quoted) as string;
  } catch {
    return undefined;
  }
}

const Case = z.strictObject({
  name: z.string().min(1),
  principal: uid(),
  action: uid('Action'),
  resource: uid(),
  context: CedarContext.optional(),
  entities: z.array(Entity).max(LIMITS.entitiesPerRequest).optional(),
  expect: z.enum(['allow', 'deny']),
  reasons: z.array(z.string()).optional(),
});

const TestFile = z.strictObject({
  description: z.string().optional(),
  cases: z.array(Case).min(1),
});

/** The test files of `testsDir` (`*.yaml`, `*.yml`, `*.json`) in name order; none when it does not exist. */
export async function listTestFiles(testsDir: string): Promise<string[]> {
  try {
    return (await readdir(testsDir))
      .filter((file) => TEST_FILE.test(file))
      .sort()
      .map((file) => join(testsDir, file));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

/**
 * Reads one test file: YAML, or JSON (which is YAML too), so both get line and column
 * in their messages. Numbers are read from their text exactly as `parseJson` reads them
 * for the service, so a case decides what the same request would.
 */
export async function readTestFile(file: string): Promise<{ cases: TestCase[]; findings: Finding[] }> {
  const text = await readFile(file, 'utf8');
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false, keepSourceTokens: true });
  const at = (offset: number) => positionOfCharOffset(text, offset);
  if (doc.errors.length > 0) {
    return { cases: [], findings: doc.errors.map((error) => ({ file, ...at(error.pos[0]), message: error.message })) };
  }
  if (doc.contents === null)
    return { cases: [], findings: [{ file, message: 'the file is empty; it needs a list of cases under `cases:`' }] };
  visit(doc, {
    Scalar(_key, node) {
      const token = node.srcToken;
      if (typeof node.value === 'number' && token !== undefined && 'source' in token) node.value = exactNumber(node.value, token.source);
    },
  });
  let parsed: ReturnType<typeof TestFile.safeParse>;
  try {
    // "required" rather than zod's "expected string, received undefined" for a missing field.
    parsed = TestFile.safeParse(doc.toJS(), { error: (issue) => (issue.input === undefined ? 'required' : undefined) });
  } catch (error) {
    // yaml refuses aliases that expand past its limit (a "billion laughs"): a finding, not a crash.
    return { cases: [], findings: [{ file, message: (error as Error).message }] };
  }
  if (!parsed.success) {
    return { cases: [], findings: parsed.error.issues.map((issue) => issueFinding(file, doc, at, issue)) };
  }
  const cases: TestCase[] = [];
  const findings: Finding[] = [];
  parsed.data.cases.forEach((item, index) => {
    const line = at(nodeOffset(doc, ['cases', index])).line;
    // The service's own contract, so a case is refused exactly where a request would be.
    const request = EvaluateRequest.safeParse({
      principal: item.principal,
      action: item.action,
      resource: item.resource,
      context: item.context ?? {},
      entities: item.entities ?? [],
    });
    if (request.success) {
      cases.push({ file, line, name: item.name, request: request.data, expect: item.expect, reasons: item.reasons });
    } else {
      const issue = request.error.issues[0];
      const message = `${issue?.path.join('.') || 'request'}: ${issue?.message ?? 'invalid'}`;
      findings.push({ file, line, column: 1, message: `case ${index + 1} "${item.name}": ${message}` });
    }
  });
  return { cases, findings };
}

/** A zod issue as a finding at the node it is about, naming the case (number and name) it is in. */
function issueFinding(
  file: string,
  doc: Document,
  at: (offset: number) => { line: number; column: number },
  issue: z.core.$ZodIssue,
): Finding {
  const path = [...issue.path] as (string | number)[];
  if (issue.code === 'unrecognized_keys' && issue.keys[0] !== undefined) path.push(issue.keys[0]);
  let label = '';
  if (path[0] === 'cases' && typeof path[1] === 'number') {
    const name = doc.getIn(['cases', path[1], 'name']);
    label = `case ${path[1] + 1}${typeof name === 'string' ? ` "${name}"` : ''}: `;
  }
  const field = (path[0] === 'cases' && typeof path[1] === 'number' ? path.slice(2) : path).join('.');
  return { file, ...at(nodeOffset(doc, path)), message: `${label}${field ? `${field}: ` : ''}${issue.message}` };
}
