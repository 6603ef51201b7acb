import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { ENTITIES, POLICIES, SAMPLE_DIR, runCli, smallDomain } from './cli.ts';

test('validate: the shipped policies, schema and entities are valid', async () => {
  const run = await runCli(['validate', SAMPLE_DIR]);
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.match(run.stdout, /^ok .*: 3 policy files, 8 policies, schema, \d+ entities$/m);
});

test('validate: schema errors at file:line:column of the file they are in, with the service ids', async () => {
  // Non-ASCII before the errors: Cedar counts bytes, the columns count characters.
  const second = `// Zweite Datei — Prüfung
@id("readers-typo")
permit (principal, action == Action::"view", resource)
when { resource.titel == "x" };

permit (principal, action, resource) when { 1 + "a" };
`;
  const { dir, cleanup } = await smallDomain({ '20-more.cedar': second, '30-broken.cedar': 'permit (principal,\n  action resource);\n' });
  try {
    const run = await runCli(['validate', '.'], dir);
    assert.equal(run.code, 1);
    assert.deepEqual(run.stdout.trim().split('\n'), [
      '20-more.cedar:4:8: for policy `readers-typo`, attribute `titel` on entity type `Doc` not found',
      '20-more.cedar:6:45: for policy `policy1`, unexpected type: expected Bool but saw Long',
      '20-more.cedar:6:49: for policy `policy1`, unexpected type: expected Long but saw String (Cedar does not support string concatenation)',
      '30-broken.cedar:2:10: failed to parse policies from string: unexpected token `resource`: expected `!=`, `)`, `,`, `:`, `<`, `<=`, `==`, `>`, `>=`, `in`, or `is`',
      'FAIL .: 4 errors (3 policy files, 4 policies, schema, 3 entities)',
    ]);
  } finally {
    await cleanup();
  }
});

test('validate: a policy id given twice points at the second', async () => {
  const { dir, cleanup } = await smallDomain({ 'zz.cedar': '\n\n@id("readers-view")\nforbid (principal, action, resource);\n' });
  try {
    const run = await runCli(['validate', '.'], dir);
    assert.equal(run.code, 1);
    assert.match(run.stdout, /^zz\.cedar:3:1: duplicate policy id "readers-view" \(also in policies\.cedar\)$/m);
  } finally {
    await cleanup();
  }
});

test('validate: entities.json against the schema, at the entity', async () => {
  const entities = JSON.stringify(
    [...(JSON.parse(ENTITIES) as object[]), { uid: { type: 'Doc', id: 'd2' }, attrs: { owner: 'ann' } }],
    null,
    2,
  );
  const { dir, cleanup } = await smallDomain({ 'entities.json': entities });
  try {
    const run = await runCli(['validate', '.'], dir);
    assert.equal(run.code, 1);
    const line = entities.split('\n').findIndex((text) => text.includes('"d2"')) - 1;
    assert.match(run.stdout, new RegExp(`^entities\\.json:${line}:\\d+: .*attribute \`owner\``, 'm'));
  } finally {
    await cleanup();
  }
});

test('validate: entities.json that is not JSON', async () => {
  const { dir, cleanup } = await smallDomain({ 'entities.json': '[\n  {"uid": {"type": "Doc", "id": "d1"},}\n]' });
  try {
    const run = await runCli(['validate', '.'], dir);
    assert.equal(run.code, 1);
    assert.match(run.stdout, /^entities\.json:2:\d+: not valid JSON: /m);
  } finally {
    await cleanup();
  }
});

test('format --check: lists an unformatted file and exits 1 without changing it; format rewrites it', async () => {
  const unformatted = 'permit(principal in Role::"reader",action==Action::"view",resource);\n';
  const { dir, cleanup } = await smallDomain({ 'policies.cedar': unformatted });
  try {
    const check = await runCli(['format', '.', '--check'], dir);
    assert.equal(check.code, 1);
    assert.match(check.stdout, /^would reformat policies\.cedar$/m);
    assert.equal(await readFile(join(dir, 'policies.cedar'), 'utf8'), unformatted);

    const write = await runCli(['format', '.'], dir);
    assert.equal(write.code, 0, write.stdout);
    const formatted = await readFile(join(dir, 'policies.cedar'), 'utf8');
    assert.notEqual(formatted, unformatted);
    assert.match(formatted, /principal in Role::"reader",\n/);
    assert.equal((await runCli(['format', '.', '--check'], dir)).code, 0);
  } finally {
    await cleanup();
  }
});

test('format: comments are kept; a file that does not parse is reported at its line', async () => {
  const { dir, cleanup } = await smallDomain({ 'policies.cedar': `// keep me\n${POLICIES}`, 'x.cedar': 'permit (\n  principal,,\n);\n' });
  try {
    const run = await runCli(['format', '.'], dir);
    assert.equal(run.code, 1);
    assert.match(run.stdout, /^x\.cedar:2:13: /m);
    assert.match(await readFile(join(dir, 'policies.cedar'), 'utf8'), /^\/\/ keep me\n/);
  } finally {
    await cleanup();
  }
});

test('format --check: the shipped policies are formatted', async () => {
  const run = await runCli(['format', SAMPLE_DIR, '--check']);
  assert.equal(run.code, 0, run.stdout);
});
