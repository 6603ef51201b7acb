// `npm run bench -- <name>`: runs perf/bench/src/<name>.ts, whose last output line is
// `RESULT <name> <metric>=<value> ...`. Each benchmark is a module exporting `run()`.
import { readdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const available = (await readdir(here))
  .filter((file) => file.endsWith('.ts') && file !== 'run.ts' && !file.startsWith('_'))
  .map((file) => file.slice(0, -3));
const name = process.argv[2];
if (name === undefined || !available.includes(name)) {
  console.error(`usage: npm run bench -- <${available.join('|')}>`);
  process.exit(2);
}
const module = (await import(`./${name}.ts`)) as { run: (args: string[]) => Promise<void> };
await module.run(process.argv.slice(3));
