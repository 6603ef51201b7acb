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

/** Makes sure `redis-server` is on PATH, installing Debian's package when we are root. */
export function ensureRedisServer() {
  if (spawnSync('redis-server', ['--version']).status === 0) return;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const hasApt = spawnSync('apt-get', ['--version']).status === 0;
  if (isRoot && hasApt) {
    console.log('[portcullis] redis-server is missing; installing it with apt-get...');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const update = spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    const install = update.status === 0 && spawnSync('apt-get', ['install', '-y', '-qq', 'redis-server'], { stdio: 'inherit', env });
    if (install && install.status === 0) return;
  }
  console.error(
    '[portcullis] redis-server is not installed.\n' +
      '  Debian/Ubuntu: sudo apt-get install -y redis-server\n' +
      '  macOS:         brew install redis\n' +
      '  or set REDIS_URL to a Redis 7 you already run.',
  );
  process.exit(1);
}
