import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
/** The shipped sample domain and its suite. */
export const SAMPLE_DIR = fileURLToPath(new URL('../../policies', import.meta.url));

/** What one run of the CLI printed and its exit code. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `npm run policy -- <args>` as a real process, with this Node (24), in `cwd` (the
 * CLI prints paths relative to it).
 */
export function runCli(args: string[], cwd = tmpdir()): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { cwd, timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

/** A small domain: readers may view, and nothing is deleted without MFA. */
export const SCHEMA = `entity Role;
entity User in [Role];
entity Doc;
action view, delete appliesTo { principal: [User], resource: [Doc], context: { mfa?: Bool } };
`;
export const POLICIES = `@id("readers-view")
permit (principal in Role::"reader", action == Action::"view", resource);

@id("delete-needs-mfa")
forbid (principal, action == Action::"delete", resource)
unless { context has mfa && context.mfa };
`;
export const ENTITIES = JSON.stringify([
  { uid: { type: 'Role', id: 'reader' } },
  { uid: { type: 'User', id: 'ann' }, parents: [{ type: 'Role', id: 'reader' }] },
  { uid: { type: 'Doc', id: 'd1' } },
]);
export const PASSING_SUITE = `cases:
  - name: a reader may view
    principal: User::"ann"
    action: view
    resource: Doc::"d1"
    expect: allow
    reasons: [readers-view]
  - name: no delete without MFA
    principal: User::"ann"
    action: delete
    resource: Doc::"d1"
    expect: deny
    reasons: [delete-needs-mfa]
`;

/** A temporary policy dir holding `files` (paths relative to it); `cleanup` removes it. */
export async function policyDir(files: Record<string, string>): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'policy-cli-'));
  for (const [name, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, name)), { recursive: true });
    await writeFile(join(dir, name), text);
  }
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** The small domain with `extra` files added or replaced. */
export const smallDomain = (extra: Record<string, string> = {}) =>
  policyDir({ 'schema.cedarschema': SCHEMA, 'policies.cedar': POLICIES, 'entities.json': ENTITIES, ...extra });
