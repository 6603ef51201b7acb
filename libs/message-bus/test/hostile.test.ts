// Property-based hostile stream entries against a real redis-server (issue 13): entries
// XADDed straight into a topic's streams with a raw client, bypassing publish. Whatever
// they hold, each one is either handled (a valid envelope) or dead-lettered with a
// reason; the consumer is never poisoned, nothing stays pending, the process never
// sees an unhandled rejection and Object.prototype is never touched.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { Registry, validTraceparent, type Logger } from '@portcullis/observability';
import { uniqueId, useRedisServer } from '@portcullis/testing';
import { Redis } from 'ioredis';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../src/envelope.ts';
import { MessageBus, PRIORITIES, streamKey, type Message, type Priority } from '../src/index.ts';
import { count, outcomes, testBus } from './helpers.ts';

/** The size limit the property's bus runs with: small, so oversized entries stay cheap. */
const LIMIT = 64 * 1024;
const TOPIC = uniqueId('hostile');
const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const RUNS = { numRuns: 40 };

type Expect = 'handled' | 'E_MALFORMED_ENTRY' | 'E_INVALID_PAYLOAD' | 'E_MAX_ATTEMPTS';
type Field = string | Uint8Array;

/** One generated entry: its fields (the envelope as JSON members, so hostile keys survive) and what must become of it. */
interface Spec {
  what: string;
  stream: Priority;
  /** `m`'s value; members are rendered as `{"k":v,...}` with the (deduplicated) id. */
  m: { members: [string, string][]; id: string | undefined } | Field | undefined;
  noise: [Field, Field][];
  /** For a valid envelope whose payload makes the (single-message) handler throw. */
  expect: Expect | 'fails';
}

const json = (value: unknown): string => JSON.stringify(value);
const deep = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);
const POLLUTION: [string, string][] = [
  ['__proto__', '{"polluted":"yes","ok":true}'],
  ['constructor', '{"prototype":{"polluted":"yes"}}'],
  ['prototype', '{"polluted":"yes"}'],
];

/** Field names and values beside `m`: prototype keys, near-misses of `m`, text and raw bytes. */
const noiseName = fc
  .oneof(
    fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'M', ' m', 'm ', '', 'reason'),
    fc.string({ maxLength: 16, unit: 'binary' }),
    fc.uint8Array({ maxLength: 16 }),
  )
  .filter((name) => Buffer.compare(Buffer.from(name), Buffer.from('m')) !== 0);
const noise = fc.array(fc.tuple(noiseName, fc.oneof(fc.string({ maxLength: 40, unit: 'binary' }), fc.uint8Array({ maxLength: 40 }))), {
  maxLength: 3,
});

/** Payload JSON text: accepted by the parse hook (`ok: true`), rejected by it, or failing the handler. */
const acceptedPayload = fc
  .tuple(fc.jsonValue({ maxDepth: 2 }), fc.string({ maxLength: 30, unit: 'binary' }), fc.subarray(POLLUTION))
  .map(
    ([value, text, pollution]) =>
      `{"ok":true,"n":${json(value)},"s":${json(text)}${pollution.map(([k, v]) => `,${json(k)}:${v}`).join('')}}`,
  );
const rejectedPayload = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }).map(json),
  fc.constantFrom('{"ok":"true"}', '{"__proto__":{"ok":true}}', '{"constructor":{"prototype":{"ok":true}}}', 'null', '[]'),
  // Too deep for JSON.stringify: the dead-letter step must not re-serialize it.
  fc.integer({ min: 5000, max: 12_000 }).map(deep),
);
const failingPayload = fc.integer({ min: 1, max: 12_000 }).map((depth) => `{"ok":true,"fail":true,"deep":${deep(depth)}}`);

/** A valid envelope's members, type first; the payload decides the expected outcome. */
const validEnvelope = fc
  .record({
    id: fc.oneof(
      fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', 'ключ-😀', 'a:b.c-1', 'x'.repeat(200)),
      fc.string({ minLength: 1, maxLength: 40 }).filter((id) => !/[{}\s]/.test(id)),
    ),
    priority: fc.constantFrom(...PRIORITIES),
    occurredAt: fc.date({ min: new Date(0), max: new Date(4_102_444_800_000), noInvalidDate: true }).map((date) => date.toISOString()),
    source: fc.string({ maxLength: 40, unit: 'binary' }),
    attempt: fc.constantFrom('1', '3', '1e300', String(Number.MAX_SAFE_INTEGER)),
    traceparent: fc.option(fc.constantFrom(TRACEPARENT, '00-abc-def-01\r\nevil', '', 'x'.repeat(55), TRACEPARENT.toUpperCase()), {
      nil: undefined,
    }),
    extra: fc.subarray(POLLUTION),
    payload: fc.oneof(
      acceptedPayload.map((text) => ({ text, expect: 'handled' as const })),
      rejectedPayload.map((text) => ({ text, expect: 'E_INVALID_PAYLOAD' as const })),
      failingPayload.map((text) => ({ text, expect: 'fails' as const })),
    ),
  })
  .map((e) => {
    const members: [string, string][] = [
      ['type', json(TOPIC)],
      ['id', json(e.id)],
      ['priority', json(e.priority)],
      ['occurredAt', json(e.occurredAt)],
      ['source', json(e.source)],
      ['attempt', e.attempt],
      ['payload', e.payload.text],
      ...e.extra,
    ];
    if (e.traceparent !== undefined) members.push(['traceparent', json(e.traceparent)]);
    return { members, id: e.id, expect: e.payload.expect };
  });

/** Values no decoder may accept for each envelope member. */
const BAD: Record<string, string[]> = {
  id: ['5', 'null', '[]', '{}', '""', '"a b"', '"{x}"', json('x'.repeat(201)), '"tab\\there"'],
  type: ['5', 'null', '""', '"policy.updated"', '"__proto__"', json(`${TOPIC}.other`)],
  priority: ['"urgent"', '"CRITICAL"', '""', '0', 'null', '"__proto__"', '"constructor"', '"toString"'],
  occurredAt: ['"not a date"', '""', '0', 'null', '"2024-13-45T99:99:99Z"'],
  source: ['0', 'null', '[]', '{}'],
  attempt: ['0', '-1', '-9007199254740991', '1.5', '"3"', 'null', '1e400', '"NaN"', 'true', '[]'],
  traceparent: ['0', 'null', '{}', '[]', 'true'],
};
const REQUIRED = ['type', 'id', 'priority', 'occurredAt', 'source', 'attempt', 'payload'];

/** A valid envelope broken in one or more ways: a member dropped, replaced, or overridden by a later duplicate key. */
const brokenEnvelope = fc
  .tuple(
    validEnvelope,
    fc.array(
      fc.oneof(
        fc.constantFrom(...REQUIRED).map((key) => ({ key, drop: true as const })),
        fc
          .constantFrom(...Object.keys(BAD))
          .chain((key) => fc.record({ key: fc.constant(key), value: fc.constantFrom(...(BAD[key] ?? [])), duplicate: fc.boolean() })),
      ),
      { minLength: 1, maxLength: 3 },
    ),
  )
  .map(([envelope, breaks]) => {
    let members = [...envelope.members];
    for (const change of breaks) {
      if ('drop' in change) members = members.filter(([key]) => key !== change.key);
      else if (change.duplicate || !members.some(([key]) => key === change.key)) members.push([change.key, change.value]);
      else members = members.map(([key, value]) => [key, key === change.key ? change.value : value]);
    }
    return { members, id: undefined };
  });

const anyStream = fc.constantFrom(...PRIORITIES);
const spec = fc.oneof(
  fc
    .record({ what: fc.constant('valid envelope'), stream: anyStream, noise, env: validEnvelope })
    .map(({ env, ...rest }): Spec => ({ ...rest, m: { members: env.members, id: env.id }, expect: env.expect })),
  fc
    .record({ what: fc.constant('broken envelope'), stream: anyStream, noise, env: brokenEnvelope })
    .map(({ env, ...rest }): Spec => ({ ...rest, m: env, expect: 'E_MALFORMED_ENTRY' })),
  // An otherwise valid envelope of another (or an unknown) topic, written into this one's stream.
  fc
    .record({
      what: fc.constant('foreign type'),
      stream: anyStream,
      noise,
      env: validEnvelope,
      type: fc.oneof(
        fc.constantFrom('policy.updated', 'token.revoked', `${TOPIC}.other`, TOPIC.toUpperCase(), ` ${TOPIC}`, '', '__proto__'),
        fc.string({ maxLength: 30 }),
      ),
    })
    .map(({ env, type, ...rest }): Spec => ({
      ...rest,
      m: { members: env.members.map(([key, value]) => [key, key === 'type' ? json(type) : value]), id: undefined },
      expect: 'E_MALFORMED_ENTRY',
    })),
  fc
    .record({
      what: fc.constant('not an envelope'),
      stream: anyStream,
      noise,
      m: fc.oneof(
        fc.string({ maxLength: 200, unit: 'binary' }),
        fc.uint8Array({ maxLength: 200 }),
        fc.jsonValue({ maxDepth: 2 }).map(json),
        fc.constantFrom('', 'null', '[]', '"str"', '1', 'true', '{', '{"m":'),
        validEnvelope.map((env) => `[{${env.members.map(([k, v]) => `${json(k)}:${v}`).join(',')}}]`),
        // A valid envelope cut short is never valid JSON.
        fc.tuple(validEnvelope, fc.double({ min: 0, max: 1, noNaN: true })).map(([env, at]) => {
          const text = `{${env.members.map(([k, v]) => `${json(k)}:${v}`).join(',')}}`;
          return text.slice(0, Math.floor(at * (text.length - 1)));
        }),
      ),
    })
    .map((rest): Spec => ({ ...rest, expect: 'E_MALFORMED_ENTRY' })),
  fc
    .record({ what: fc.constant('no m field'), stream: anyStream, noise: noise.filter((pairs) => pairs.length > 0) })
    .map((rest): Spec => ({ ...rest, m: undefined, expect: 'E_MALFORMED_ENTRY' })),
  fc
    .record({ what: fc.constant('oversized'), stream: anyStream, noise, over: fc.integer({ min: 1, max: 4096 }), env: validEnvelope })
    .map(({ over, env, ...rest }): Spec => {
      const members = env.members.map(([key, value]): [string, string] =>
        key === 'payload' ? [key, `{"ok":true,"pad":"${'x'.repeat(LIMIT + over)}"}`] : [key, value],
      );
      return { ...rest, m: { members, id: env.id }, expect: 'E_MALFORMED_ENTRY' };
    }),
);

const run = fc.record({
  specs: fc.array(spec, { minLength: 1, maxLength: 12 }),
  batch: fc.option(fc.integer({ min: 1, max: 8 }), { nil: undefined }),
  concurrency: fc.integer({ min: 1, max: 8 }),
});

const byteLength = (fields: Field[]): number => fields.reduce((sum, field) => sum + Buffer.byteLength(field), 0);

/** The entry's fields and its expected outcome; ids of valid envelopes are made unique within the run. */
function render(item: Spec, index: number, ids: Set<string>, batch: boolean): { fields: Field[]; expect: Expect; id: string | undefined } {
  const fields: Field[] = item.noise.flat();
  let expect: Expect = item.expect === 'fails' ? (batch ? 'handled' : 'E_MAX_ATTEMPTS') : item.expect;
  let id: string | undefined;
  if (item.m !== undefined) {
    let value: Field;
    if (typeof item.m === 'string' || item.m instanceof Uint8Array) value = item.m;
    else {
      let members = item.m.members;
      if (item.m.id !== undefined) {
        id = ids.has(item.m.id) ? `dup-${index}` : item.m.id;
        ids.add(id);
        members = members.map(([key, text]) => [key, key === 'id' ? json(id) : text]);
      }
      value = `{${members.map(([key, text]) => `${json(key)}:${text}`).join(',')}}`;
    }
    fields.push('m', value);
  }
  // Entries are far from the limit either way, so the expectation does not hang on how
  // invalid UTF-8 is counted once decoded (never smaller than the raw bytes).
  const size = byteLength(fields);
  if (size > LIMIT) expect = 'E_MALFORMED_ENTRY';
  else assert.ok(size < LIMIT / 2, `generator made a ${size}-byte entry near the limit`);
  return { fields, expect, id };
}

/**
 * A dead letter keeps the entry as written (as Redis hands it back, UTF-8 decoded): a
 * valid envelope's `m` text; for a malformed entry, the `m` text when that is all there
 * was, else every field by name (`__proto__` included), cut short only when oversized.
 */
function assertKeptAsWritten(kept: string, fields: Field[], reason: Expect): void {
  const decoded = fields.map((field) => Buffer.from(field).toString());
  const names = decoded.filter((_, index) => index % 2 === 0);
  if (reason !== 'E_MALFORMED_ENTRY') {
    // A valid envelope: its `m` text exactly, for replay.
    assert.equal(kept, decoded[names.lastIndexOf('m') * 2 + 1]);
  } else if (decoded.length === 2 && names[0] === 'm') {
    assert.ok(decoded[1]?.startsWith(kept) && (kept.length === decoded[1].length || kept.length >= 60_000));
  } else if (kept.length < 60_000) {
    assert.deepEqual(Object.keys(JSON.parse(kept) as object).sort(), [...new Set(names)].sort());
  }
}

const toArg = (field: Field): string | Buffer => (typeof field === 'string' ? field : Buffer.from(field));

/** The hostile run's subscriber: handler calls, bus warnings, and the outcome events of its group. */
async function subscriber(redisUrl: string, group: string, batch: number | undefined, concurrency: number) {
  const warnings: string[] = [];
  let warn: () => void = () => undefined;
  /** Resolves at the first bus warning (an outcome it could not store): no waiting out a timeout for it. */
  const warned = new Promise<void>((resolve) => {
    warn = resolve;
  });
  const logger = {
    warn: (_: unknown, message: string) => {
      warnings.push(message);
      warn();
    },
    info: () => undefined,
  } as unknown as Logger;
  const bus = new MessageBus({ redis: redisUrl, registry: new Registry(), statsIntervalMs: 200, logger, maxMessageBytes: LIMIT });
  const handled: Message<Payload>[] = [];
  const options = { mode: 'work' as const, group, concurrency, maxAttempts: 1, startFrom: 'latest' as const, parse };
  if (batch === undefined)
    await bus.subscribe<Payload>(
      TOPIC,
      (message) => {
        handled.push(message);
        if (message.payload.fail === true) throw new Error('handler refused it');
      },
      options,
    );
  else await bus.subscribeBatch<Payload>(TOPIC, (messages) => void handled.push(...messages), { ...options, batchSize: batch });
  return { bus, handled, warnings, warned };
}

interface Payload {
  ok: true;
  fail?: true;
  sentinel?: true;
}

/** The subscription's parse hook: only `{"ok": true, ...}` gets to the handler. */
function parse(payload: unknown): Payload {
  if (typeof payload !== 'object' || payload === null || (payload as { ok?: unknown }).ok !== true)
    throw new TypeError('payload.ok must be true');
  return payload as Payload;
}

const keyOf = (message: { priority: string; entryId: string }): string => `${message.priority}/${message.entryId}`;

describe('hostile stream entries, property-based (real redis-server)', () => {
  const redis = useRedisServer();
  let raw: Redis;
  const crashes: unknown[] = [];
  const crashed = (error: unknown): void => {
    crashes.push(error);
  };
  before(async () => {
    await redis.started;
    raw = new Redis(redis.url);
    process.on('unhandledRejection', crashed);
    process.on('uncaughtException', crashed);
  });
  after(() => {
    process.off('unhandledRejection', crashed);
    process.off('uncaughtException', crashed);
    raw.disconnect();
  });

  test('every entry is handled (a valid envelope) or dead-lettered with its reason; the consumer is never poisoned', async () => {
    let round = 0;
    await fc.assert(
      fc.asyncProperty(run, async ({ specs, batch, concurrency }) => {
        round += 1;
        const group = `g${round}`;
        const seen = outcomes(TOPIC);
        const { bus, handled, warnings, warned } = await subscriber(redis.url, group, batch, concurrency);
        try {
          const ids = new Set<string>();
          const expected = new Map<string, ReturnType<typeof render>>();
          for (const [index, item] of specs.entries()) {
            const entry = render(item, index, ids, batch !== undefined);
            const entryId = (await raw.call('XADD', streamKey(TOPIC, item.stream), '*', ...entry.fields.map(toArg))) as string;
            expected.set(`${item.stream}/${entryId}`, entry);
          }
          // Not poisoned: a message published after the hostile ones is still handled.
          await bus.publish(TOPIC, { ok: true, sentinel: true }, { id: `sentinel-${round}`, priority: 'background' });
          // Settled: one outcome per entry, or a warning.
          await Promise.race([warned, seen.until((events) => events.filter((event) => event.group === group).length === specs.length + 1)]);
          assert.deepEqual(warnings, []);
          assert.deepEqual(crashes, []);

          const mine = seen.events.filter((event) => event.group === group);
          const ofOutcome = (...outcomes: Expect[]): string[] =>
            [...expected].filter(([, entry]) => outcomes.includes(entry.expect)).map(([key]) => key);
          assert.equal(count(mine, 'success'), ofOutcome('handled').length + 1);
          assert.equal(count(mine, 'dead_letter'), specs.length - ofOutcome('handled').length);
          // The handler saw exactly the valid envelopes (those it threw on too) and the sentinel, each once.
          const sentinel = handled.find((message) => message.payload.sentinel === true);
          assert.ok(sentinel, 'the message published after the hostile ones was handled');
          assert.deepEqual(handled.map(keyOf).sort(), [...ofOutcome('handled', 'E_MAX_ATTEMPTS'), keyOf(sentinel)].sort());
          for (const message of handled) {
            assert.equal(message.payload.ok, true);
            assert.equal(message.attempt, 1);
            assert.equal(message.topic, TOPIC);
            if (message.traceparent !== undefined) assert.equal(validTraceparent(message.traceparent), message.traceparent);
            if (message !== sentinel) assert.equal(message.id, expected.get(keyOf(message))?.id);
          }
          // Every other entry is in the dead-letter stream with the reason it was refused.
          const letters = (await bus.deadLetters.list(TOPIC, { count: 100_000 })).filter((letter) => letter.group === group);
          assert.deepEqual(
            letters.map((letter) => `${keyOf(letter)} ${letter.reason}`).sort(),
            [...expected]
              .filter(([, entry]) => entry.expect !== 'handled')
              .map(([key, entry]) => `${key} ${entry.expect}`)
              .sort(),
          );
          for (const letter of letters) {
            assert.ok(letter.error.length > 0, 'a dead letter says why');
            const entry = expected.get(keyOf(letter));
            assert.ok(entry);
            assertKeptAsWritten(letter.message, entry.fields, entry.expect);
          }
          // Nothing left pending in the group.
          for (const priority of PRIORITIES) {
            const pending = (await raw.call('XPENDING', streamKey(TOPIC, priority), group)) as [number];
            assert.equal(Number(pending[0]), 0, `pending on ${priority}`);
          }
          assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
        } finally {
          seen.stop();
          await bus.close();
        }
      }),
      RUNS,
    );
  });

  test('regression: a payload nested too deep for JSON.stringify is dead-lettered, not an unhandled rejection', async () => {
    // JSON.parse takes 10 000 nested arrays; the dead-letter step used to re-serialize the
    // envelope and threw RangeError out of the consumer, leaving the entry pending forever.
    const group = 'deep';
    const seen = outcomes(TOPIC);
    const { bus, handled, warnings, warned } = await subscriber(redis.url, group, undefined, 1);
    try {
      const envelope = `{"type":${json(TOPIC)},"id":"deep-1","priority":"normal","occurredAt":"2024-01-01T00:00:00.000Z","source":"x","attempt":1,"payload":${deep(10_000)}}`;
      await raw.call('XADD', streamKey(TOPIC, 'normal'), '*', 'm', envelope);
      await Promise.race([warned, seen.until((events) => events.some((event) => event.group === group))]);
      assert.deepEqual([warnings, crashes, handled], [[], [], []]);
      const [letter] = (await bus.deadLetters.list(TOPIC, { count: 100_000 })).filter((item) => item.group === group);
      assert.equal(letter?.reason, 'E_INVALID_PAYLOAD');
      assert.equal(letter?.message, envelope);
    } finally {
      seen.stop();
      await bus.close();
    }
  });

  test('the default size limit: publish refuses a bigger message, a consumer dead-letters a bigger entry unparsed', async () => {
    const topic = uniqueId('huge');
    const bus = testBus(redis.url);
    const seen = outcomes(topic);
    try {
      await bus.subscribe(topic, () => assert.fail('an oversized entry reached the handler'), { mode: 'work', group: 'g' });
      const pad = 'x'.repeat(DEFAULT_MAX_MESSAGE_BYTES);
      await assert.rejects(bus.publish(topic, { pad }), /maxMessageBytes/);
      await raw.call('XADD', streamKey(topic, 'normal'), '*', 'm', `{"type":${json(topic)},"payload":"${pad}"}`);
      await seen.until((events) => events.length === 1);
      const [letter] = await bus.deadLetters.list(topic);
      assert.equal(letter?.reason, 'E_MALFORMED_ENTRY');
      assert.match(letter?.error ?? '', new RegExp(`larger than ${DEFAULT_MAX_MESSAGE_BYTES} bytes`));
      assert.ok((letter?.message.length ?? 0) <= 64 * 1024, 'the dead letter keeps only the start of it');
    } finally {
      seen.stop();
      await bus.close();
    }
  });
});
