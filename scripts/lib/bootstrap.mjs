// Runs on whatever Node started `npm start` / `npm test` (possibly an old system Node),
// so this file uses plain JavaScript that Node 18+ understands.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Installs dependencies when node_modules is missing or older than the lockfile. */
export function ensureInstalled() {
  const marker = join(root, 'node_modules', '.package-lock.json');
  const lock = join(root, 'package-lock.json');
  const stale = !existsSync(marker) || (existsSync(lock) && statSync(lock).mtimeMs > statSync(marker).mtimeMs + 1000);
  if (!stale) return;
  console.log('[portcullis] installing dependencies (npm ci)...');
  const result = spawnSync('npm', [existsSync(lock) ? 'ci' : 'install', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    console.error('[portcullis] npm install failed; see the output above.');
    process.exit(result.status ?? 1);
  }
}

/**
 * Re-runs this script on Node 24 from the `node` npm package when the current Node is
 * older than 22 (the services use type stripping and other Node 22+ features).
 */
export function ensureModernNode(script, args) {
  const major = Number(process.versions.node.split('.')[0]);
  if (major >= 22) return;
  const modern = join(root, 'node_modules', '.bin', 'node');
  if (!existsSync(modern)) {
    console.error(`[portcullis] Node ${process.versions.node} is too old and node_modules/.bin/node is missing; run npm install.`);
    process.exit(1);
  }
  const result = spawnSync(modern, [script, ...args], { stdio: 'inherit' });
  process.exit(result.status ?? 1);
}

/**
 * Makes sure `command` is on PATH, installing Debian's `pkg` with apt-get when we are root;
 * otherwise exits 1 with `hint` (how to install it by hand).
 */
function ensureDebianTool(command, pkg, hint) {
  if (spawnSync(command, ['--version']).status === 0) return;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const hasApt = spawnSync('apt-get', ['--version']).status === 0;
  if (isRoot && hasApt) {
    console.log(`[portcullis] ${command} is missing; installing ${pkg} with apt-get...`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const update = spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    const install = update.status === 0 && spawnSync('apt-get', ['install', '-y', '-qq', pkg], { stdio: 'inherit', env });
    if (install && install.status === 0) return;
  }
  console.error(`[portcullis] ${command} is not installed.\n${hint}`);
  process.exit(1);
}

/** Makes sure `redis-server` is on PATH, installing Debian's package when we are root. */
export function ensureRedisServer() {
  ensureDebianTool(
    'redis-server',
    'redis-server',
    '  Debian/Ubuntu: sudo apt-get install -y redis-server\n  macOS:         brew install redis\n  or set REDIS_URL to a Redis 7 you already run.',
  );
}

/** Makes sure headless Chromium is there for the perf report's browser test (Debian's `chromium`; never a downloaded browser). */
export function ensureChromium() {
  if (process.env.CHROMIUM_PATH) return;
  ensureDebianTool(
    'chromium',
    'chromium',
    '  Debian/Ubuntu: sudo apt-get install -y chromium\n  or set CHROMIUM_PATH to a Chromium or Chrome binary.',
  );
}
