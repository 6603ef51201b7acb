import { watch, type FSWatcher } from 'node:fs';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Entity, parseJson } from '@portcullis/contracts';
import { z } from 'zod';
import type { BundleSource } from './bundle.ts';
import { PolicyInvalidError } from './errors.ts';

const SCHEMA_FILE = 'schema.cedarschema';
const ENTITIES_FILE = 'entities.json';

/**
 * Reads POLICY_DIR: every `*.cedar` file in name order (so ids numbered by Cedar are
 * stable), the optional `schema.cedarschema` and the optional `entities.json`.
 */
export async function readPolicyDir(dir: string): Promise<BundleSource> {
  const files = (await readdir(dir)).sort();
  const cedarFiles = files.filter((file) => file.endsWith('.cedar'));
  const texts = await Promise.all(cedarFiles.map((file) => readFile(join(dir, file), 'utf8')));
  const schema = files.includes(SCHEMA_FILE) ? await readFile(join(dir, SCHEMA_FILE), 'utf8') : undefined;
  let entities: Entity[] | undefined;
  if (files.includes(ENTITIES_FILE)) {
    let raw: unknown;
    try {
      raw = parseJson(await readFile(join(dir, ENTITIES_FILE), 'utf8'));
    } catch (error) {
      throw new PolicyInvalidError('entities', [`${ENTITIES_FILE} is not valid JSON: ${(error as Error).message}`]);
    }
    const parsed = z.array(Entity).safeParse(raw);
    if (!parsed.success)
      throw new PolicyInvalidError(
        'entities',
        parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`),
      );
    entities = parsed.data;
  }
  return { policies: texts.join('\n'), schema, entities };
}

/**
 * When POLICY_DIR last changed (ms since the epoch): the newest modification time of the
 * directory and of what it holds, symlinks followed. On Kubernetes a ConfigMap volume is
 * written when the pod starts and again on each update, so a replica rolled out with new
 * files reads a later time than one that kept older files: how the live set shared in
 * Redis tells newer files from older ones (see `live-set/sync.ts`).
 */
export async function lastChangeOf(dir: string): Promise<number> {
  const names = await readdir(dir);
  const times = await Promise.all(
    [dir, ...names.map((name) => join(dir, name))].map((path) =>
      // An entry removed between the listing and its stat changed the directory anyway.
      stat(path).then(
        (stats) => stats.mtimeMs,
        () => 0,
      ),
    ),
  );
  return Math.max(...times);
}

/**
 * Calls `onChange` once the directory has been quiet for `quietMs` after a change:
 * editors write files in several steps, and reloading mid-save would log a spurious
 * parse error.
 */
export function watchPolicyDir(dir: string, onChange: () => void, quietMs = 150): FSWatcher {
  let timer: NodeJS.Timeout | undefined;
  const watcher = watch(dir, () => {
    clearTimeout(timer);
    timer = setTimeout(onChange, quietMs);
  });
  watcher.unref();
  return watcher;
}
