// Native tools the benchmarks drive (vegeta, the load; OPA, the peer) are built from the Go
// module proxy into Go's bin directory, outside the repo, once per machine.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

function gopathBin(name: string): string | undefined {
  const result = spawnSync('go', ['env', 'GOPATH'], { encoding: 'utf8' });
  return result.status === 0 ? join(result.stdout.trim(), 'bin', name) : undefined;
}

/** `name` in a directory of PATH, if there is one. */
export function onPath(name: string): string | undefined {
  return (process.env.PATH ?? '')
    .split(':')
    .map((dir) => join(dir, name))
    .find((path) => existsSync(path));
}

/**
 * The binary `name`: `$<envVar>`, on PATH, or in Go's bin directory; built with
 * `go install <module>` (e.g. `github.com/tsenart/vegeta/v12@v12.13.0`) when missing.
 */
export function findGoTool(name: string, module: string, envVar: string): string {
  const candidates = [process.env[envVar], onPath(name), join(homedir(), 'go', 'bin', name), gopathBin(name)];
  const found = candidates.find((path) => path !== undefined && path !== '' && existsSync(path));
  if (found !== undefined) return found;
  console.log(`${name} not found; building ${module} with go install (once, outside the repo)`);
  const built = spawnSync('go', ['install', module], { stdio: 'inherit' });
  const path = gopathBin(name);
  if (built.status !== 0 || path === undefined || !existsSync(path)) {
    throw new Error(`${name} is needed for this benchmark: install Go and run \`go install ${module}\`, or set ${envVar}`);
  }
  return path;
}
