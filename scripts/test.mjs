// `npm test`: every project's tests in one node:test run, ending with one summary line
// for all projects together. Pass paths to narrow it: `npm test -- libs/cache`.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureChromium, ensureInstalled, ensureModernNode, ensureRedisServer, root } from './lib/bootstrap.mjs';

const args = process.argv.slice(2);
ensureInstalled();
ensureModernNode(fileURLToPath(import.meta.url), args);
ensureRedisServer();
ensureChromium();

const projects = args.length > 0 ? args : ['apps/*', 'libs/*', 'perf/bench', 'deploy', 'scripts'];
const patterns = projects.map((project) => `${project.replace(/\/$/, '')}/test/**/*.test.ts`);
const summaryDir = mkdtempSync(join(tmpdir(), 'portcullis-test-'));
const summaryFile = join(summaryDir, 'summary.json');

const result = spawnSync(
  process.execPath,
  [
    '--test',
    '--test-concurrency=2',
    '--test-timeout=180000',
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    `--test-reporter=${join(root, 'scripts', 'lib', 'summary-reporter.mjs')}`,
    `--test-reporter-destination=${summaryFile}`,
    ...patterns,
  ],
  { cwd: root, stdio: 'inherit', env: { ...process.env, NODE_ENV: 'test' } },
);

let summary = { passed: 0, failed: 1 };
try {
  summary = JSON.parse(readFileSync(summaryFile, 'utf8'));
} catch {
  console.error('the test run wrote no summary; counting it as a failure');
}
rmSync(summaryDir, { recursive: true, force: true });
const failed = summary.failed + (result.status !== 0 && summary.failed === 0 ? 1 : 0);
console.log(`${summary.passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
