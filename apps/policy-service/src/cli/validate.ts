import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { compileBundle } from '../engine/bundle.ts';
import { PolicyInvalidError } from '../engine/errors.ts';
import { readPolicyDir } from '../engine/loader.ts';
import { cedarFindings, formatFinding, plural, positionOfCharOffset, shown, type Finding } from './findings.ts';
import { readCedarFiles, type PolicyFile } from './policy-files.ts';
import { checkEntitiesFile } from './validate-entities.ts';

/** Options of `policy validate`. */
export interface ValidateOptions {
  log: (line: string) => void;
}

const SCHEMA_FILE = 'schema.cedarschema';
const ENTITIES_FILE = 'entities.json';

/**
 * `policy validate [dir]`: each `*.cedar` file parsed and validated against the schema
 * on its own, so Cedar's source offsets point into that file; then what only the whole
 * set shows (a policy id given twice); the schema; `entities.json` against the schema.
 * Last, the service's own `compileBundle`, so a set that passes here is one the service
 * loads. Problems print as `file:line:column: message`; returns the exit code (0 or 1).
 */
export async function validatePolicyDir(dir: string, options: ValidateOptions): Promise<number> {
  const names = await readdir(dir);
  const findings: Finding[] = [];

  let schema: string | null = null;
  if (names.includes(SCHEMA_FILE)) {
    const path = join(dir, SCHEMA_FILE);
    const text = await readFile(path, 'utf8');
    const parsed = cedar.checkParseSchema(text);
    if (parsed.type === 'failure') findings.push(...cedarFindings(path, text, parsed.errors));
    else if (text.trim()) schema = text;
  }

  const files = await readCedarFiles(dir);
  if (files.length === 0) findings.push({ file: dir, message: 'no *.cedar files' });
  const seen = new Map<string, string>();
  let numbered = 0;
  for (const file of files) {
    const ids = policyIds(file, numbered, findings);
    if (ids === undefined) continue;
    numbered += ids.length;
    for (const id of ids) {
      const first = seen.get(id);
      if (first === undefined) seen.set(id, file.path);
      else
        findings.push({ file: file.path, ...idPosition(file.text, id), message: `duplicate policy id "${id}" (also in ${shown(first)})` });
    }
    if (schema !== null) findings.push(...validateFile(file, schema, ids));
  }

  let entities = 0;
  if (names.includes(ENTITIES_FILE)) {
    const checked = await checkEntitiesFile(join(dir, ENTITIES_FILE), schema);
    findings.push(...checked.findings);
    entities = checked.count;
  }

  const errors = (): number => findings.filter((finding) => finding.severity !== 'warning').length;
  if (errors() === 0) {
    try {
      compileBundle(await readPolicyDir(dir));
    } catch (error) {
      if (!(error instanceof PolicyInvalidError)) throw error;
      findings.push(...error.details.messages.map((message) => ({ file: dir, message: `${error.details.stage}: ${message}` })));
    }
  }

  const order = (finding: Finding) => [finding.file, finding.line ?? 0, finding.column ?? 0] as const;
  findings.sort((a, b) => {
    const [fileA, lineA, columnA] = order(a);
    const [fileB, lineB, columnB] = order(b);
    return fileA.localeCompare(fileB) || lineA - lineB || columnA - columnB;
  });
  for (const finding of findings) options.log(formatFinding(finding));
  const count = errors();
  const summary = [
    plural(files.length, 'policy file'),
    plural(numbered, 'policy', 'policies'),
    schema !== null ? 'schema' : 'no schema',
    plural(entities, 'entity', 'entities'),
  ].join(', ');
  options.log(count === 0 ? `ok ${shown(dir)}: ${summary}` : `FAIL ${shown(dir)}: ${plural(count, 'error')} (${summary})`);
  return count === 0 ? 0 : 1;
}

/**
 * The ids the service gives the policies of one file (the `@id` annotation, else Cedar's
 * `policy<N>` counted over the whole set), or undefined, with findings, when the file
 * does not parse or holds templates.
 */
function policyIds(file: PolicyFile, numbered: number, findings: Finding[]): string[] | undefined {
  const parsed = cedar.checkParsePolicySet({ staticPolicies: file.text });
  if (parsed.type === 'failure') {
    findings.push(...cedarFindings(file.path, file.text, parsed.errors));
    return undefined;
  }
  const parts = cedar.policySetTextToParts(file.text);
  if (parts.type === 'failure') {
    findings.push(...cedarFindings(file.path, file.text, parts.errors));
    return undefined;
  }
  if (parts.policy_templates.length > 0) {
    findings.push({ file: file.path, message: 'templates are not supported; write static policies' });
    return undefined;
  }
  return parts.policies.map((text, index) => {
    const json = cedar.policyToJson(text);
    return (json.type === 'success' ? json.json.annotations?.id : undefined) ?? `policy${numbered + index}`;
  });
}

/**
 * Cedar's validator on one file's text: its source offsets are then offsets into the
 * file. Cedar names the policies `policy0…` within that text; messages get the ids
 * the service uses instead.
 */
function validateFile(file: PolicyFile, schema: string, ids: readonly string[]): Finding[] {
  const answer = cedar.validate({ schema, policies: { staticPolicies: file.text } });
  if (answer.type === 'failure') return cedarFindings(file.path, file.text, answer.errors);
  const renamed = (list: cedar.ValidationError[]) =>
    list.map(({ policyId, error }) => {
      const id = ids[Number(policyId.replace(/^policy/, ''))] ?? policyId;
      return { ...error, message: error.message.replaceAll(`\`${policyId}\``, `\`${id}\``) };
    });
  return [
    ...cedarFindings(file.path, file.text, renamed(answer.validationErrors)),
    ...cedarFindings(file.path, file.text, renamed(answer.validationWarnings), 'warning'),
    ...cedarFindings(file.path, file.text, answer.otherWarnings, 'warning'),
  ];
}

/** Where `@id("…")` names `id` in `text` (the last occurrence: the one that repeats an earlier file's or its own). */
function idPosition(text: string, id: string): { line?: number; column?: number } {
  const matches = [...text.matchAll(/@id\s*\(\s*("(?:[^"\\]|\\.)*")\s*\)/g)].filter((match) => {
    try {
      return JSON.parse(match[1] ?? 'null') === id;
    } catch {
      return false;
    }
  });
  const last = matches.at(-1);
  return last?.index !== undefined ? positionOfCharOffset(text, last.index) : {};
}
