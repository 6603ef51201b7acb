import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AuthenticateRequest, EvaluateRequest, LIMITS, inspectShape, parseJson } from '../src/index.ts';

const base = { principal: { type: 'User', id: 'a' }, action: { type: 'Action', id: 'view' }, resource: { type: 'Photo', id: 'p' } };
const authBase = { action: 'view', resource: { type: 'Photo', id: 'p' } };

/** A context whose record is `depth` levels deep: `{"k": {"k": … {"k": 1}}}`. */
function nested(depth: number): Record<string, unknown> {
  let value: unknown = 1;
  for (let level = 0; level < depth; level++) value = { k: value };
  return value as Record<string, unknown>;
}

/** The first issue of a refused parse, as `path: message`. */
function refusal(result: { success: boolean; error?: { issues: { path: PropertyKey[]; message: string }[] } }): string {
  assert.equal(result.success, false);
  const issue = result.error?.issues[0];
  return `${issue?.path.join('.')}: ${issue?.message}`;
}

describe('context depth and size are bounded, on /authenticate and /evaluate alike', () => {
  const schemas = [
    ['AuthenticateRequest', (context: unknown) => AuthenticateRequest.safeParse({ ...authBase, context })],
    ['EvaluateRequest', (context: unknown) => EvaluateRequest.safeParse({ ...base, context })],
  ] as const;

  for (const [name, parse] of schemas) {
    test(`${name}: a context ${LIMITS.contextDepth} levels deep passes, one level more is refused with its path`, () => {
      assert.equal(parse(nested(LIMITS.contextDepth)).success, true);
      const path = Array.from({ length: LIMITS.contextDepth }, () => 'k').join('.');
      assert.equal(refusal(parse(nested(LIMITS.contextDepth + 1))), `context.${path}: nested deeper than ${LIMITS.contextDepth} levels`);
    });

    test(`${name}: at most ${LIMITS.contextMembersPerContainer} keys per record or elements per set`, () => {
      const keys = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]));
      const set = (n: number) => Array.from({ length: n }, (_, i) => i);
      assert.equal(parse(keys(LIMITS.contextMembersPerContainer)).success, true);
      assert.equal(parse({ roles: set(LIMITS.contextMembersPerContainer) }).success, true);
      assert.match(refusal(parse(keys(LIMITS.contextMembersPerContainer + 1))), /^context: has 65 keys; at most 64/);
      assert.match(refusal(parse({ roles: set(LIMITS.contextMembersPerContainer + 1) })), /^context\.roles: has 65 elements/);
    });

    test(`${name}: at most ${LIMITS.contextMembers} keys and elements in the whole context`, () => {
      // 4 sets of 63 under 4 keys: 4 + 252 = 256 members; one more element crosses it.
      const context = (extra: number) =>
        Object.fromEntries(Array.from({ length: 4 }, (_, i) => [`s${i}`, Array.from({ length: 63 + (i === 0 ? extra : 0) }, () => 0)]));
      assert.equal(parse(context(0)).success, true);
      assert.match(refusal(parse(context(1))), new RegExp(`more than ${LIMITS.contextMembers} keys and elements in all`));
    });

    test(`${name}: 100 000 levels of nesting are refused at once, without overflowing the stack`, () => {
      const depth = 100_000;
      const started = performance.now();
      const body = parseJson(
        `{"action":"view","resource":{"type":"Photo","id":"p"},"context":{"deep":${'['.repeat(depth)}${']'.repeat(depth)}}}`,
      );
      const context = (body as { context: unknown }).context;
      assert.match(refusal(parse(context)), /^context(\.deep(\.0)*)?: nested deeper than 8 levels$/);
      // Generous: the walk stops at level 9, so this is milliseconds.
      assert.ok(performance.now() - started < 2_000);
    });
  }

  test('entity attributes and tags are bounded in depth too (LIMITS.valueDepth)', () => {
    const deep = (depth: number) => {
      let value: unknown = 0;
      for (let level = 0; level < depth; level++) value = [value];
      return value;
    };
    const withAttr = (value: unknown) => EvaluateRequest.safeParse({ ...base, entities: [{ uid: base.resource, attrs: { a: value } }] });
    assert.equal(withAttr(deep(LIMITS.valueDepth)).success, true);
    assert.match(refusal(withAttr(deep(LIMITS.valueDepth + 1))), /^entities\.0\.attrs\.a(\.0)+: nested deeper than 32 levels$/);
    assert.equal(withAttr(deep(100_000)).success, false);
  });
});

describe('inspectShape', () => {
  test('without limits it only looks for unrepresentable numbers; a raw exact integer is a leaf', () => {
    assert.equal(inspectShape(nested(10_000)), undefined);
    assert.equal(inspectShape(parseJson('{"n": 9223372036854775807}'), { depth: 1 }), undefined);
    assert.deepEqual(inspectShape(parseJson('{"a": [1e20]}'))?.path, ['a', 0]);
  });

  test('a scalar has no shape to bound', () => {
    assert.equal(inspectShape('x', { depth: 0, membersPerContainer: 0, members: 0 }), undefined);
    assert.deepEqual(inspectShape({}, { depth: 0 }), { path: [], message: 'nested deeper than 0 levels' });
  });
});
