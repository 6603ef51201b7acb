import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { EvaluateRequest } from '@portcullis/contracts';
import { Registry, portcullisMetrics } from '@portcullis/observability';
import { Evaluator } from '../src/engine/evaluator.ts';
import { readPolicyDir } from '../src/engine/loader.ts';
import { cedarReference } from './reference.ts';

const SAMPLE = fileURLToPath(new URL('../policies', import.meta.url));

function ours(evaluator: Evaluator, request: EvaluateRequest) {
  const result = evaluator.evaluate(request);
  if ('rejected' in result) return { rejected: result.rejected.details };
  return { decision: result.decision, reasons: [...result.reasons].sort(), errors: result.errors };
}

describe('the sample domain: sliced, preparsed evaluation equals Cedar on the full input', async () => {
  const evaluator = new Evaluator({ metrics: portcullisMetrics(new Registry()), decisionCacheSize: 0 });
  const bundle = evaluator.swap(await readPolicyDir(SAMPLE));
  const users = ['alice', 'bob', 'carol', 'dave', 'erin', 'stranger'];
  const actions = ['view', 'edit', 'delete', 'share'];
  const resources = [
    { type: 'Document', id: 'doc-1' },
    { type: 'Document', id: 'doc-4' },
    { type: 'Document', id: 'doc-8' },
    { type: 'Photo', id: 'photo-5.jpg' },
    { type: 'Photo', id: 'photo-6.jpg' },
    { type: 'Album', id: 'album-2' },
  ];
  const contexts = [{}, { riskScore: 95 }, { mfa: true }, { sourceIp: '10.2.3.4' }, { sourceIp: '192.168.1.1', riskScore: 20 }];

  test('every combination of user, action, resource and context agrees', () => {
    let allows = 0;
    let compared = 0;
    for (const user of users)
      for (const action of actions)
        for (const resource of resources)
          for (const context of contexts) {
            const request = EvaluateRequest.parse({
              principal: { type: 'User', id: user },
              action: { type: 'Action', id: action },
              resource,
              context,
            });
            const expected = cedarReference(bundle, request);
            assert.deepEqual(ours(evaluator, request), expected, JSON.stringify(request));
            if ('decision' in expected && expected.decision === 'allow') allows += 1;
            compared += 1;
          }
    assert.equal(compared, 720);
    // The grid must exercise both answers, or agreement proves little.
    assert.ok(allows > 50 && allows < compared - 50, `allows=${allows}`);
  });

  test('a principal sent with the request (roles from a token) replaces nothing it should not', () => {
    const request = EvaluateRequest.parse({
      principal: { type: 'User', id: 'token-user' },
      action: { type: 'Action', id: 'delete' },
      resource: { type: 'Document', id: 'doc-2' },
      context: { mfa: true },
      entities: [{ uid: { type: 'User', id: 'token-user' }, attrs: {}, parents: [{ type: 'Role', id: 'admin' }] }],
    });
    assert.deepEqual(ours(evaluator, request), cedarReference(bundle, request));
    assert.equal(ours(evaluator, request).decision, 'allow');
  });

  test('requests Cedar rejects are rejected with the same messages', () => {
    const bad = [
      { principal: { type: 'Nope', id: 'x' }, action: { type: 'Action', id: 'view' }, resource: { type: 'Document', id: 'doc-1' } },
      { principal: { type: 'User', id: 'bob' }, action: { type: 'Action', id: 'fly' }, resource: { type: 'Document', id: 'doc-1' } },
      {
        principal: { type: 'User', id: 'bob' },
        action: { type: 'Action', id: 'view' },
        resource: { type: 'Document', id: 'doc-1' },
        context: { riskScore: 'high' },
      },
      {
        principal: { type: 'User', id: 'bob' },
        action: { type: 'Action', id: 'view' },
        resource: { type: 'Document', id: 'doc-1' },
        context: { sourceIp: 'not-an-ip' },
      },
      {
        principal: { type: 'User', id: 'x' },
        action: { type: 'Action', id: 'view' },
        resource: { type: 'Document', id: 'doc-1' },
        entities: [{ uid: { type: 'User', id: 'x' }, attrs: { department: 7 }, parents: [] }],
      },
      {
        principal: { type: 'User', id: 'x' },
        action: { type: 'Action', id: 'view' },
        resource: { type: 'Document', id: 'doc-1' },
        entities: [
          { uid: { type: 'User', id: 'x' }, attrs: {}, parents: [] },
          { uid: { type: 'User', id: 'x' }, attrs: { department: 'legal' }, parents: [] },
        ],
      },
    ];
    for (const item of bad) {
      const request = EvaluateRequest.parse(item);
      const expected = cedarReference(bundle, request);
      assert.ok('rejected' in expected, `Cedar should reject ${JSON.stringify(item)}`);
      assert.deepEqual(ours(evaluator, request), expected);
    }
  });

  test('a request Cedar cannot even read (a lone surrogate built in code) is rejected, not thrown', () => {
    // Bodies cannot carry one (parseJson refuses them); a request built in code, or
    // replayed from the audit record, can.
    for (const request of [
      { principal: { type: 'User', id: '\ud800' }, action: { type: 'Action', id: 'view' }, resource: { type: 'Document', id: 'doc-1' } },
      {
        principal: { type: 'User', id: 'bob' },
        action: { type: 'Action', id: 'view' },
        resource: { type: 'Document', id: 'doc-1' },
        context: { '\udc00': 1 },
      },
    ]) {
      const result = evaluator.evaluate(EvaluateRequest.parse(request));
      assert.ok('rejected' in result, JSON.stringify(request));
      assert.equal(result.rejected.code, 'E_REQUEST_REJECTED');
      assert.match(result.rejected.message, /Cedar could not read the request/);
    }
    const good = EvaluateRequest.parse({
      principal: { type: 'User', id: 'alice' },
      action: { type: 'Action', id: 'edit' },
      resource: { type: 'Document', id: 'doc-1' },
    });
    assert.equal(ours(evaluator, good).decision, 'allow');
  });
});
