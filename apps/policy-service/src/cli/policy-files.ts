import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** A policy file and its text. */
export interface PolicyFile {
  path: string;
  text: string;
}

/**
 * The `*.cedar` files of `dir` in name order, as `readPolicyDir` reads them (the
 * service joins them with a newline, and Cedar numbers policies without `@id` in that
 * order).
 */
export async function readCedarFiles(dir: string): Promise<PolicyFile[]> {
  const names = (await readdir(dir)).filter((name) => name.endsWith('.cedar')).sort();
  return Promise.all(names.map(async (name) => ({ path: join(dir, name), text: await readFile(join(dir, name), 'utf8') })));
}
