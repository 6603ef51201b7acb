// `npm run policy -- <command> [dir]`: policy authoring from the command line, deciding
// with the service's own loader and evaluator. Exit codes: 0 ok, 1 the policies or their
// tests have problems, 2 the command line is wrong.
import { stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const DEFAULT_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'policies');

const USAGE = `usage: npm run policy -- <command> [dir] [options]

  test [dir] [--require-coverage]   run dir/tests/*.yaml (or .yml, .json) against the policy set in dir
  validate [dir]                    parse the policies, schema and entities.json and validate them against the schema
  format [dir] [--check]            format the *.cedar files with Cedar's formatter (--check: list the files it would change)
  impact [dir] [--url URL] [--token T] [--last N] [--minutes T] [--fail-on-flip]
                                    replay recent decisions against the set in dir on a running policy-service
                                    (POST /policies/impact; nothing goes live); --fail-on-flip: exit 1 when any flips

dir defaults to apps/policy-service/policies. Exit codes: 0 ok, 1 problems found, 2 usage error.`;

const COMMANDS = {
  test: { options: { 'require-coverage': { type: 'boolean' } } },
  validate: { options: {} },
  format: { options: { check: { type: 'boolean' } } },
  impact: {
    options: {
      url: { type: 'string' },
      token: { type: 'string' },
      last: { type: 'string' },
      minutes: { type: 'string' },
      'fail-on-flip': { type: 'boolean' },
    },
  },
} as const;

type Command = keyof typeof COMMANDS;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    console.log(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (!(command in COMMANDS)) return usageError(`unknown command "${command}"`);
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: COMMANDS[command as Command].options, allowPositionals: true, strict: true });
  } catch (error) {
    return usageError((error as Error).message);
  }
  if (parsed.positionals.length > 1) return usageError(`one dir at most; got ${parsed.positionals.join(' ')}`);
  const dir = resolve(parsed.positionals[0] ?? DEFAULT_DIR);
  const isDir = await stat(dir).then(
    (stats) => stats.isDirectory(),
    () => false,
  );
  if (!isDir) return usageError(`${dir} is not a directory`);

  const log = (line: string): void => console.log(line);
  const values = parsed.values as { 'require-coverage'?: boolean; check?: boolean } & Record<string, string | boolean | undefined>;
  // Each command loads only what it uses: `format` needs Cedar alone, and starts faster.
  switch (command as Command) {
    case 'test': {
      const { runPolicyTests } = await import('./run-tests.ts');
      return runPolicyTests(dir, { requireCoverage: values['require-coverage'] === true, log });
    }
    case 'validate': {
      const { validatePolicyDir } = await import('./validate.ts');
      return validatePolicyDir(dir, { log });
    }
    case 'format': {
      const { formatPolicyDir } = await import('./format.ts');
      return formatPolicyDir(dir, { check: values.check === true, log });
    }
    case 'impact': {
      // A mistyped window is a usage error here, not a null the service refuses.
      const window: { last?: number; minutes?: number } = {};
      for (const name of ['last', 'minutes'] as const) {
        const text = values[name];
        if (typeof text !== 'string') continue;
        const value = Number(text);
        const whole = name === 'last';
        if (text.trim() === '' || !Number.isFinite(value) || value <= 0 || (whole && !Number.isInteger(value))) {
          return usageError(`--${name} takes a positive ${whole ? 'whole ' : ''}number; got "${text}"`);
        }
        window[name] = value;
      }
      const { runImpact } = await import('./impact.ts');
      const options = { url: String(values['url'] ?? 'http://127.0.0.1:8181'), token: values['token'] as string | undefined };
      return runImpact(dir, {
        ...options,
        last: window.last,
        minutes: window.minutes,
        failOnFlip: values['fail-on-flip'] === true,
        log,
      });
    }
  }
}

function usageError(message: string): number {
  console.error(`policy: ${message}\n\n${USAGE}`);
  return 2;
}

process.exitCode = await main(process.argv.slice(2));
