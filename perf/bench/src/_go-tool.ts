// Finds a load generator built with Go (vegeta), building it with `go install` into Go's
// own bin directory (outside the repo, cached across runs) when it is missing.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

function gopathBin(binary: string): string | undefined {
  const result = spawnSync('go', ['env', 'GOPATH'], { encoding: 'utf8' });
  return result.status === 0 ? join(result.stdout.trim(), 'bin', binary) : undefined;
}

/** `$<envVar>`, `<binary>` on PATH, or Go's bin directory; else `go install <module>` once. */
export function findGoTool(binary: string, module: string, envVar: string, minutes: string): string {
  const candidates = [
    process.env[envVar],
    ...(process.env.PATH ?? '').split(':').map((dir) => join(dir, binary)),
    join(homedir(), 'go', 'bin', binary),
    gopathBin(binary),
  ];
  const found = candidates.find((path) => path !== undefined && path !== '' && existsSync(path));
  if (found !== undefined) return found;
  console.log(`${binary} not found; building ${module} with go install (${minutes}, once)`);
  const built = spawnSync('go', ['install', module], { stdio: 'inherit' });
  const path = gopathBin(binary);
  if (built.status !== 0 || path === undefined || !existsSync(path)) {
    throw new Error(`${binary} is needed for this benchmark: install Go and run \`go install ${module}\`, or set ${envVar}`);
  }
  return path;
}
