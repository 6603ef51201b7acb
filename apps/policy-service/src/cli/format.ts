import { writeFile } from 'node:fs/promises';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { cedarFindings, formatFinding, plural, shown } from './findings.ts';
import { readCedarFiles } from './policy-files.ts';

/** Options of `policy format`. */
export interface FormatOptions {
  /** List the files the formatter would change instead of rewriting them. */
  check: boolean;
  log: (line: string) => void;
}

/**
 * `policy format [dir] [--check]`: Cedar's own formatter (`formatPolicies`, its default
 * 80 columns and 2 spaces, comments kept) on each `*.cedar` file of `dir`. Returns the
 * exit code: 1 when a file does not parse, or with `check` when one would change.
 */
export async function formatPolicyDir(dir: string, options: FormatOptions): Promise<number> {
  const { log } = options;
  const files = await readCedarFiles(dir);
  let unparsable = 0;
  const changed: string[] = [];
  for (const file of files) {
    const answer = cedar.formatPolicies({ policyText: file.text });
    if (answer.type === 'failure') {
      unparsable += 1;
      for (const finding of cedarFindings(file.path, file.text, answer.errors)) log(formatFinding(finding));
      continue;
    }
    if (answer.formatted_policy === file.text) continue;
    changed.push(file.path);
    if (options.check) log(`would reformat ${shown(file.path)}`);
    else {
      await writeFile(file.path, answer.formatted_policy);
      log(`reformatted ${shown(file.path)}`);
    }
  }
  const verb = options.check ? 'would be reformatted' : 'reformatted';
  const failed = unparsable > 0 || (options.check && changed.length > 0);
  log(
    `${failed ? 'FAIL' : 'ok'} ${shown(dir)}: ${plural(files.length, 'file')}, ${changed.length} ${verb}` +
      (unparsable > 0 ? `, ${unparsable} could not be parsed` : '') +
      (options.check && changed.length > 0 ? ` (npm run policy -- format ${shown(dir)} rewrites them)` : ''),
  );
  return failed ? 1 : 0;
}
