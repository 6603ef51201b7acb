#!/usr/bin/env node
// portcullis-bus: operate a topic's dead-letter stream.
//   portcullis-bus list    <topic> [--count N] [--after ID]
//   portcullis-bus inspect <topic> <dead-letter id>
//   portcullis-bus replay  <topic> <dead-letter id | --all>
//   portcullis-bus purge   <topic> [dead-letter id]
// Redis comes from --redis or REDIS_URL (default redis://127.0.0.1:6379). Output is JSON.
import { parseArgs } from 'node:util';
import { Registry } from '@portcullis/observability';
import { MessageBus } from './bus.ts';

const USAGE = 'usage: portcullis-bus <list|inspect|replay|purge> <topic> [id] [--all] [--count N] [--after ID] [--redis URL]';

/** Runs one CLI command; returns the process exit code. Exported for tests. */
export async function main(argv: string[], out: (line: string) => void = console.log): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { redis: { type: 'string' }, count: { type: 'string' }, after: { type: 'string' }, all: { type: 'boolean' } },
  });
  const [command, topic, id] = positionals;
  if (command === undefined || topic === undefined || !['list', 'inspect', 'replay', 'purge'].includes(command)) {
    out(USAGE);
    return 2;
  }
  const bus = new MessageBus({
    redis: values.redis ?? process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379',
    registry: new Registry(),
    source: 'portcullis-bus-cli',
  });
  try {
    const letters = bus.deadLetters;
    if (command === 'list') {
      const count = values.count === undefined ? 100 : Number(values.count);
      if (!Number.isInteger(count) || count < 1) throw new RangeError(`--count must be a positive integer, received ${values.count}`);
      for (const letter of await letters.list(topic, { count, ...(values.after === undefined ? {} : { after: values.after }) }))
        out(JSON.stringify(letter));
    } else if (command === 'inspect') {
      if (id === undefined) throw new RangeError('inspect needs a dead-letter id');
      out(JSON.stringify(await letters.inspect(topic, id), null, 2));
    } else if (command === 'replay') {
      if (values.all === true) out(JSON.stringify({ replayed: await letters.replayAll(topic) }));
      else if (id === undefined) throw new RangeError('replay needs a dead-letter id or --all');
      else out(JSON.stringify({ replayed: 1, entryId: await letters.replay(topic, id) }));
    } else {
      out(JSON.stringify({ purged: await letters.purge(topic, id) }));
    }
    return 0;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    out(
      JSON.stringify({
        error: { code: typeof code === 'string' ? code : 'E_CLI', message: error instanceof Error ? error.message : String(error) },
      }),
    );
    return 1;
  } finally {
    await bus.close({ timeoutMs: 1000 }).catch(() => undefined);
  }
}

if (import.meta.main) process.exitCode = await main(process.argv.slice(2));
