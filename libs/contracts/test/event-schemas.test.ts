// Property-based checks of the bus event schemas (issue 13), the `parse` hooks of the
// consumers the apps register: policy-service's `auth.decision` audit, auth-service's
// `policy.updated`, `token.revoked` and `cache.invalidate`. A payload the schema accepts
// reaches the handler as sent; anything else is refused with issues naming the field,
// and the bus dead-letters it with the ZodError's message as the reason.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { z } from 'zod';
import {
  AuthDecisionEvent,
  CacheInvalidateEvent,
  MAX_DECISIONS_PER_MESSAGE,
  MAX_RECORDED_CONTEXT_CHARS,
  parseAuthDecisions,
  PolicyUpdatedEvent,
  TokenRevokedEvent,
} from '../src/index.ts';

const RUNS = { numRuns: 300 };
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/** Any string of at most `max` UTF-16 units (lone surrogates and all), the bound included. */
const text = (max: number, min = 0): fc.Arbitrary<string> =>
  fc.oneof(
    fc
      .string({ unit: 'binary', minLength: min, maxLength: max })
      .map((value) => value.slice(0, max))
      .filter((value) => value.length >= min),
    fc.constant('x'.repeat(max)),
  );
const deep = JSON.parse('['.repeat(10_000) + ']'.repeat(10_000)) as unknown;
/** Wrong types for any member: none of these is a string, an integer or an array of strings. */
const WRONG = [null, true, 1.5, -1, {}, [1], { length: 1 }, deep];

interface EventCase {
  name: string;
  schema: z.ZodType;
  valid: fc.Arbitrary<Record<string, unknown>>;
  /** What the schema fills in for members left out. */
  defaults?: Record<string, unknown>;
  /** Per member: values it must refuse (beside those of {@link WRONG} it does not take), and whether it is required. */
  members: Record<string, { bad: unknown[]; required: boolean; takes?: unknown[] }>;
}

const CASES: EventCase[] = [
  {
    name: 'policy.updated',
    schema: PolicyUpdatedEvent,
    valid: fc.record({
      version: text(128, 1),
      previousVersion: fc.option(text(128), { nil: null }),
      policyCount: fc.integer({ min: 0, max: MAX_SAFE }),
    }),
    members: {
      version: { bad: ['', 'x'.repeat(129), 7], required: true },
      previousVersion: { bad: ['x'.repeat(129), 7], required: true, takes: [null] },
      policyCount: { bad: ['3', 1e300, MAX_SAFE + 2], required: true },
    },
  },
  {
    name: 'token.revoked',
    schema: TokenRevokedEvent,
    valid: fc.record({ jti: text(256, 1), sub: text(1024), exp: fc.integer({ min: 1, max: MAX_SAFE }) }),
    members: {
      jti: { bad: ['', 'x'.repeat(257), 7], required: true },
      sub: { bad: ['x'.repeat(1025), 7], required: true },
      exp: { bad: [0, '1700000000', 1e300], required: true },
    },
  },
  {
    name: 'cache.invalidate',
    schema: CacheInvalidateEvent,
    valid: fc.record({ keys: fc.array(text(1024), { maxLength: 20 }), tags: fc.array(text(256), { maxLength: 20 }) }, { requiredKeys: [] }),
    defaults: { keys: [], tags: [] },
    members: {
      keys: { bad: [['x'.repeat(1025)], Array(1001).fill('k'), 'k', [7]], required: false },
      tags: { bad: [['x'.repeat(257)], Array(1001).fill('t'), 't', [7]], required: false },
    },
  },
  {
    name: 'auth.decision',
    schema: AuthDecisionEvent,
    valid: fc.record({
      principal: text(1024),
      action: text(256),
      resource: text(2048),
      decision: fc.constantFrom('allow', 'deny'),
      policyVersion: text(128),
      cache: fc.constantFrom('l1', 'l2', 'miss', 'stale'),
      requestId: text(128),
    }),
    members: {
      principal: { bad: ['x'.repeat(1025)], required: true },
      action: { bad: ['x'.repeat(257)], required: true },
      resource: { bad: ['x'.repeat(2049)], required: true },
      decision: { bad: ['ALLOW', 'permit', '', '__proto__'], required: true },
      policyVersion: { bad: ['x'.repeat(129)], required: true },
      cache: { bad: ['L1', 'hit', '', 'toString'], required: true },
      requestId: { bad: ['x'.repeat(129)], required: true },
    },
  },
];

const required = (members: EventCase['members']): string[] => Object.keys(members).filter((key) => members[key]?.required === true);

const show = (value: unknown): string => {
  try {
    return String(JSON.stringify(value)).slice(0, 200);
  } catch {
    return '(nested too deep to print)';
  }
};

/** As the bus hands it over: the payload after a JSON round trip. */
const overTheWire = (value: unknown): unknown => JSON.parse(JSON.stringify(value)) as unknown;

/** An own, enumerable member, even one named `__proto__` (as JSON.parse makes it). */
function withMember(object: Record<string, unknown>, key: string, value: unknown): Record<string, unknown> {
  const copy = overTheWire(object) as Record<string, unknown>;
  Object.defineProperty(copy, key, { value, enumerable: true, writable: true, configurable: true });
  return copy;
}

/** Refused with a reason: issues with messages, one naming `key`, and a ZodError the bus can record. */
function assertRefused(schema: z.ZodType, value: unknown, key?: string): void {
  const result = schema.safeParse(value);
  if (result.success) assert.fail(`accepted ${show(value)}`);
  for (const issue of result.error.issues) assert.ok(issue.message.length > 0);
  if (key !== undefined)
    assert.ok(
      result.error.issues.some((issue) => issue.path[0] === key || (issue.code === 'unrecognized_keys' && issue.keys.includes(key))),
      `no issue names ${key}: ${JSON.stringify(result.error.issues).slice(0, 300)}`,
    );
  assert.throws(
    () => schema.parse(value),
    (error: unknown) => error instanceof z.ZodError && error.message.length > 0,
  );
}

describe('bus event schemas, property-based', () => {
  for (const { name, schema, valid, defaults, members } of CASES) {
    test(`${name}: a valid payload is accepted as sent`, () => {
      fc.assert(
        fc.property(valid, (event) => {
          const result = schema.safeParse(overTheWire(event));
          assert.ok(result.success, JSON.stringify(result.error?.issues));
          assert.deepEqual(result.data, { ...defaults, ...event });
        }),
        RUNS,
      );
    });

    test(`${name}: a member missing, of the wrong type or out of bounds, or an unknown key, is refused naming it`, () => {
      const unknownKey = fc
        .oneof(fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', '', 'extra'), fc.string())
        .filter((key) => !Object.hasOwn(members, key));
      fc.assert(
        // Every known mutation on each generated event; the unknown key is generated too.
        fc.property(valid, unknownKey, fc.jsonValue({ maxDepth: 2 }), (event, key, value) => {
          for (const member of required(members)) {
            const copy = overTheWire(event) as Record<string, unknown>;
            delete copy[member];
            assertRefused(schema, copy, member);
          }
          for (const [member, { bad, takes = [] }] of Object.entries(members))
            for (const wrong of [...bad, ...WRONG.filter((candidate) => !takes.includes(candidate))])
              assertRefused(schema, withMember(event, member, wrong), member);
          assertRefused(schema, withMember(event, key, value), key);
        }),
        { numRuns: 50 },
      );
    });

    test(`${name}: any JSON value is accepted only if shaped like the event, else refused with a reason`, () => {
      const hostile = fc.oneof(
        fc.jsonValue(),
        fc.constantFrom(deep, '{"__proto__":{"polluted":true}}', '[]', ''),
        fc.string().map((key) => withMember({}, key, deep)),
        fc.constant(JSON.parse('{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}') as unknown),
      );
      fc.assert(
        fc.property(hostile, (value) => {
          const result = schema.safeParse(value);
          if (result.success) {
            // Only a plain object with the event's members can pass (`{}` is a valid cache.invalidate).
            const own = Object.keys(value as object);
            assert.ok(own.every((key) => Object.hasOwn(members, key)) && required(members).every((key) => own.includes(key)), show(value));
          } else assertRefused(schema, value);
          assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
        }),
        RUNS,
      );
    });
  }
});

describe('auth.decision payloads: a batch, or one decision from an older producer', () => {
  const one = (requestId: string) => ({
    principal: 'alice',
    action: 'view',
    resource: 'Document::d1',
    decision: 'allow',
    policyVersion: 'v1',
    cache: 'l1',
    requestId,
  });

  test('a batch gives its decisions in order; a single event gives itself', () => {
    assert.deepEqual(
      parseAuthDecisions(overTheWire({ decisions: [one('a'), one('b')] })).map((d) => d.requestId),
      ['a', 'b'],
    );
    assert.deepEqual(parseAuthDecisions(overTheWire(one('c'))), [one('c')]);
  });

  test('an empty or oversized batch, a bad decision inside one, or extra members are refused', () => {
    const refusals: unknown[] = [
      { decisions: [] },
      { decisions: Array.from({ length: MAX_DECISIONS_PER_MESSAGE + 1 }, (_, i) => one(String(i))) },
      { decisions: [one('a'), { ...one('b'), decision: 'permit' }] },
      { decisions: one('a') },
      { decisions: [one('a')], extra: 1 },
      { decisions: deep },
      { ...one('a'), decisions: undefined },
      // A context no /authenticate body could carry: only a forged message holds one.
      { decisions: [one('a'), { ...one('b'), context: { blob: 'x'.repeat(MAX_RECORDED_CONTEXT_CHARS) } }] },
      null,
      deep,
    ];
    assert.equal(
      parseAuthDecisions({ decisions: [{ ...one('a'), context: { blob: 'x'.repeat(MAX_RECORDED_CONTEXT_CHARS - 20) } }] }).length,
      1,
    );
    for (const payload of refusals) assert.throws(() => parseAuthDecisions(payload), z.ZodError, show(payload));
  });

  test('any JSON value parses only to decisions the single-event schema accepts', () => {
    const hostile = fc.oneof(
      fc.jsonValue(),
      fc.array(fc.jsonValue()).map((decisions) => ({ decisions })),
      fc.constant(JSON.parse('{"decisions":[{"__proto__":{"polluted":true}}]}') as unknown),
    );
    fc.assert(
      fc.property(hostile, (value) => {
        try {
          for (const decision of parseAuthDecisions(value)) assert.ok(AuthDecisionEvent.safeParse(decision).success);
        } catch (error) {
          assert.ok(error instanceof z.ZodError, show(value));
        }
        assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
      }),
      RUNS,
    );
  });
});
