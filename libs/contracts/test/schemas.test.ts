import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorBody, EvaluateRequest, LIMITS, PolicyUpdatedEvent, PutPoliciesRequest } from '../src/index.ts';

const base = { principal: { type: 'User', id: 'a' }, action: { type: 'Action', id: 'view' }, resource: { type: 'Photo', id: 'p' } };

test('an evaluate request gets empty context and entities by default', () => {
  assert.deepEqual(EvaluateRequest.parse(base), { ...base, context: {}, entities: [] });
});

test('hostile evaluate requests are refused at the edge', () => {
  const refused = [
    { ...base, extra: true },
    { ...base, principal: { type: '', id: 'a' } },
    { ...base, principal: { type: 'User', id: 'x'.repeat(LIMITS.entityId + 1) } },
    { ...base, resource: { type: 'Photo' } },
    { ...base, entities: Array.from({ length: LIMITS.entitiesPerRequest + 1 }, () => ({ uid: base.principal })) },
    { ...base, entities: [{ uid: base.principal, parents: 'Role::"admin"' }] },
    { ...base, context: ['not', 'a', 'record'] },
  ];
  for (const body of refused) assert.equal(EvaluateRequest.safeParse(body).success, false, JSON.stringify(body).slice(0, 120));
});

test("entity references may use either of Cedar's JSON forms", () => {
  const parsed = EvaluateRequest.parse({
    ...base,
    entities: [{ uid: { __entity: { type: 'User', id: 'a' } }, parents: [{ type: 'Role', id: 'r' }] }],
  });
  assert.deepEqual(parsed.entities[0]?.attrs, {});
});

test('policy text is bounded and error bodies carry E_ codes', () => {
  assert.equal(PutPoliciesRequest.safeParse({ policies: 'x'.repeat(LIMITS.policyTextBytes + 1) }).success, false);
  assert.equal(ErrorBody.safeParse({ error: { code: 'bad', message: 'm', requestId: 'r' } }).success, false);
  assert.equal(ErrorBody.safeParse({ error: { code: 'E_OK', message: 'm', requestId: 'r' } }).success, true);
  assert.equal(PolicyUpdatedEvent.safeParse({ version: 'v', previousVersion: null, policyCount: -1 }).success, false);
});
