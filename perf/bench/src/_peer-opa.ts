// The peer: an OPA server (Apache-2.0) given the same job as POST /authenticate, with the
// sample domain's policies in Rego (apps/policy-service/policies/peer/authz.rego) over the
// same entities (apps/policy-service/policies/entities.json, turned into OPA data here).
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, startProcess, type ProcessHandle } from '@portcullis/testing';
import { findGoTool } from './_go-tool.ts';

const OPA_MODULE = 'github.com/open-policy-agent/opa@v1.22.4';
const POLICIES = fileURLToPath(new URL('../../../apps/policy-service/policies/', import.meta.url));

interface CedarEntity {
  uid: { type: string; id: string };
  attrs: Record<string, unknown>;
  parents: { type: string; id: string }[];
}

const key = (ref: { type: string; id: string }): string => `${ref.type}::${ref.id}`;

/** The entities as OPA data: attributes by `Type::id` (entity references as `Type::id` strings) and the parent graph. */
export async function opaData(): Promise<{ entities: Record<string, Record<string, unknown>>; parents: Record<string, string[]> }> {
  const loaded = JSON.parse(await readFile(join(POLICIES, 'entities.json'), 'utf8')) as CedarEntity[];
  const entities: Record<string, Record<string, unknown>> = {};
  const parents: Record<string, string[]> = {};
  for (const entity of loaded) {
    entities[key(entity.uid)] = Object.fromEntries(
      Object.entries(entity.attrs).map(([name, value]) => {
        const ref = (value as { __entity?: { type: string; id: string } } | null)?.__entity;
        return [name, ref ? key(ref) : value];
      }),
    );
    parents[key(entity.uid)] = entity.parents.map(key);
  }
  return { entities, parents };
}

/** A running OPA server; `pid` for its CPU time. */
export interface OpaServer {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/** Starts `opa run --server` on a free loopback port with the Rego and the data, and waits until it answers. */
export async function startOpa(config: { secret: string; issuer: string; audience: string }): Promise<OpaServer> {
  const opa = findGoTool('opa', OPA_MODULE, 'OPA_BIN');
  const dir = await mkdtemp(join(tmpdir(), 'bench-opa-'));
  const dataFile = join(dir, 'data.json');
  await writeFile(dataFile, JSON.stringify({ config, ...(await opaData()) }));
  const port = await freePort();
  let handle: ProcessHandle;
  try {
    handle = await startProcess({
      command: opa,
      args: [
        'run',
        '--server',
        `--addr=127.0.0.1:${port}`,
        '--log-level=info',
        '--disable-telemetry',
        join(POLICIES, 'peer', 'authz.rego'),
        dataFile,
      ],
      readyWhen: /Initializing server|Server initialized/,
    });
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  const url = `http://127.0.0.1:${port}`;
  // The log line comes just before the listener is up: wait for /health.
  for (let i = 0; i < 100; i++) {
    const up = await fetch(`${url}/health`).then(
      (response) => response.ok,
      () => false,
    );
    if (up) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    url,
    pid: handle.child.pid ?? 0,
    async stop() {
      await handle.stop('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    },
  };
}
