// node deploy/checks/main.ts <rendered.yaml>... (or - for stdin)
// Runs the checks of checks.ts on rendered manifests; prints each problem as
// `<Kind>/<name>: <message>` and exits 1 if there is any, 0 (with a one-line summary on
// stderr) if there is none, 2 on a usage or parse error.
import { readFileSync } from 'node:fs';
import { CHECKS, format, parseManifests, runChecks } from './checks.ts';

const files = process.argv.slice(2);
if (files.length === 0 || files.includes('-h') || files.includes('--help')) {
  console.error('usage: node deploy/checks/main.ts <rendered.yaml>... (- for stdin)');
  process.exit(2);
}
const text = files.map((file) => readFileSync(file === '-' ? 0 : file, 'utf8')).join('\n---\n');
const { manifests, errors } = parseManifests(text);
for (const error of errors) console.error(`parse error: ${error}`);
if (errors.length > 0) process.exit(2);
const problems = runChecks(manifests);
for (const problem of problems) console.log(format(problem));
if (problems.length > 0) {
  console.error(`checks: ${problems.length} problem(s) in ${manifests.length} objects`);
  process.exit(1);
}
console.error(`checks: ${manifests.length} objects pass ${Object.keys(CHECKS).join(', ')}`);
