// Examples from Cedar's documentation (docs.cedarpolicy.com: "Basic policy", the
// ipaddr and decimal extension types, "forbid overrides permit", evaluation errors).
// Each checks the documented answer and that it equals Cedar's own on the full input.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EvaluateRequest } from '@portcullis/contracts';
import { Registry, portcullisMetrics } from '@portcullis/observability';
import { Evaluator } from '../src/engine/evaluator.ts';
import { cedarReference } from './reference.ts';

const ext = (fn: string, arg: string) => ({ __extn: { fn, arg } });

function check(policies: string, entities: unknown[], cases: [unknown, 'allow' | 'deny', number?][]): void {
  const evaluator = new Evaluator({ metrics: portcullisMetrics(new Registry()), decisionCacheSize: 100 });
  const bundle = evaluator.swap({ policies, entities: entities as never });
  for (const [input, decision, errorCount = 0] of cases) {
    const request = EvaluateRequest.parse(input);
    const result = evaluator.evaluate(request);
    assert.ok(!('rejected' in result), JSON.stringify(result));
    assert.equal(result.decision, decision, JSON.stringify(input));
    assert.equal(result.errors.length, errorCount);
    const reference = cedarReference(bundle, request);
    assert.deepEqual({ decision: result.decision, reasons: [...result.reasons].sort(), errors: result.errors }, reference);
  }
}

const uid = (type: string, id: string) => ({ type, id });

test('docs: alice may view a photo in jane_vacation through the album hierarchy', () => {
  check(
    'permit(principal == User::"alice", action == Action::"view", resource in Album::"jane_vacation");',
    [
      { uid: uid('Photo', 'VacationPhoto94.jpg'), attrs: {}, parents: [uid('Album', 'jane_vacation')] },
      { uid: uid('Album', 'jane_vacation'), attrs: {}, parents: [] },
    ],
    [
      [{ principal: uid('User', 'alice'), action: uid('Action', 'view'), resource: uid('Photo', 'VacationPhoto94.jpg') }, 'allow'],
      [{ principal: uid('User', 'bob'), action: uid('Action', 'view'), resource: uid('Photo', 'VacationPhoto94.jpg') }, 'deny'],
      [{ principal: uid('User', 'alice'), action: uid('Action', 'delete'), resource: uid('Photo', 'VacationPhoto94.jpg') }, 'deny'],
    ],
  );
});

test('docs: ipaddr isInRange and isLoopback', () => {
  check(
    'permit(principal, action, resource) when { context.src.isInRange(ip("192.168.0.0/16")) && !context.src.isLoopback() };',
    [],
    [
      [
        {
          principal: uid('User', 'a'),
          action: uid('Action', 'read'),
          resource: uid('File', 'f'),
          context: { src: ext('ip', '192.168.1.7') },
        },
        'allow',
      ],
      [
        { principal: uid('User', 'a'), action: uid('Action', 'read'), resource: uid('File', 'f'), context: { src: ext('ip', '10.0.0.1') } },
        'deny',
      ],
      [
        {
          principal: uid('User', 'a'),
          action: uid('Action', 'read'),
          resource: uid('File', 'f'),
          context: { src: ext('ip', '127.0.0.1') },
        },
        'deny',
      ],
    ],
  );
});

test('docs: decimal comparison', () => {
  check(
    'permit(principal, action, resource) when { context.confidence.greaterThan(decimal("0.75")) };',
    [],
    [
      [
        {
          principal: uid('User', 'a'),
          action: uid('Action', 'read'),
          resource: uid('File', 'f'),
          context: { confidence: ext('decimal', '0.9') },
        },
        'allow',
      ],
      [
        {
          principal: uid('User', 'a'),
          action: uid('Action', 'read'),
          resource: uid('File', 'f'),
          context: { confidence: ext('decimal', '0.75') },
        },
        'deny',
      ],
    ],
  );
});

test('docs: a forbid overrides any permit, and both are reported as reasons only when determining', () => {
  check(
    '@id("all") permit(principal, action, resource);\n@id("no-interns") forbid(principal in Group::"interns", action == Action::"delete", resource);',
    [
      { uid: uid('User', 'ivan'), attrs: {}, parents: [uid('Group', 'interns')] },
      { uid: uid('Group', 'interns'), attrs: {}, parents: [] },
    ],
    [
      [{ principal: uid('User', 'ivan'), action: uid('Action', 'delete'), resource: uid('File', 'f') }, 'deny'],
      [{ principal: uid('User', 'ivan'), action: uid('Action', 'read'), resource: uid('File', 'f') }, 'allow'],
    ],
  );
});

test('docs: an erroring policy is skipped and its error reported (default deny)', () => {
  check(
    'permit(principal, action, resource) when { resource.owner == principal };',
    [
      { uid: uid('File', 'no-owner'), attrs: {}, parents: [] },
      { uid: uid('File', 'owned'), attrs: { owner: { __entity: uid('User', 'a') } }, parents: [] },
    ],
    [
      [{ principal: uid('User', 'a'), action: uid('Action', 'read'), resource: uid('File', 'no-owner') }, 'deny', 1],
      [{ principal: uid('User', 'a'), action: uid('Action', 'read'), resource: uid('File', 'owned') }, 'allow'],
    ],
  );
});

test('a literal entity in a policy is reached even though the request never names it', () => {
  check(
    'permit(principal, action, resource) when { Config::"flags".open };',
    [{ uid: uid('Config', 'flags'), attrs: { open: true }, parents: [] }],
    [[{ principal: uid('User', 'a'), action: uid('Action', 'read'), resource: uid('File', 'f') }, 'allow']],
  );
});

test('an entity reached through an attribute is passed when a policy reads its data', () => {
  const entities = [
    { uid: uid('File', 'f'), attrs: { owner: { __entity: uid('User', 'o') } }, parents: [] },
    { uid: uid('User', 'o'), attrs: { department: 'eng' }, parents: [uid('Group', 'staff')] },
  ];
  const request = { principal: uid('User', 'p'), action: uid('Action', 'read'), resource: uid('File', 'f') };
  check('permit(principal, action, resource) when { resource.owner.department == "eng" };', entities, [[request, 'allow']]);
  check('permit(principal, action, resource) when { resource.owner in Group::"staff" };', entities, [[request, 'allow']]);
  check('permit(principal, action, resource) when { resource.owner == User::"o" && !(context has x) };', entities, [[request, 'allow']]);
});

test('role hierarchies: an ancestor that has parents of its own is passed, empty ones may be left out', () => {
  const entities = [
    { uid: uid('User', 'u'), attrs: {}, parents: [uid('Role', 'editor')] },
    { uid: uid('Role', 'editor'), attrs: {}, parents: [uid('Role', 'staff')] },
    { uid: uid('Role', 'staff'), attrs: {}, parents: [] },
  ];
  check('permit(principal in Role::"staff", action, resource);', entities, [
    [{ principal: uid('User', 'u'), action: uid('Action', 'read'), resource: uid('File', 'f') }, 'allow'],
    [{ principal: uid('User', 'other'), action: uid('Action', 'read'), resource: uid('File', 'f') }, 'deny'],
  ]);
});
