import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PASSING_SUITE, SAMPLE_DIR, runCli, smallDomain } from './cli.ts';

test('the shipped sample suite passes and covers every policy', async () => {
  const run = await runCli(['test', SAMPLE_DIR, '--require-coverage']);
  assert.equal(run.code, 0, run.stdout + run.stderr);
  assert.match(run.stdout, /^ok .*: \d+ cases in \d+ files, \d+ passed, 0 failed, coverage 8\/8 policies$/m);
});

test('a passing suite: one summary line, exit 0', async () => {
  const { dir, cleanup } = await smallDomain({ 'tests/basics.yaml': PASSING_SUITE });
  try {
    const run = await runCli(['test', '.', '--require-coverage'], dir);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.deepEqual(run.stdout.trim().split('\n'), ['ok .: 2 cases in 1 file, 2 passed, 0 failed, coverage 2/2 policies']);
  } finally {
    await cleanup();
  }
});

test('JSON test files, entities and context from the case, and {type, id} references', async () => {
  const suite = {
    cases: [
      {
        name: 'a user from the token, with MFA, deletes nothing (no permit)',
        principal: { type: 'User', id: 'new' },
        action: 'Action::"delete"',
        resource: 'Doc::"d1"',
        context: { mfa: true },
        entities: [{ uid: { type: 'User', id: 'new' }, parents: [{ type: 'Role', id: 'reader' }] }],
        expect: 'deny',
        reasons: [],
      },
    ],
  };
  const { dir, cleanup } = await smallDomain({ 'tests/a.yaml': PASSING_SUITE, 'tests/b.json': JSON.stringify(suite) });
  try {
    const run = await runCli(['test', '.'], dir);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /3 cases in 2 files, 3 passed, 0 failed/);
  } finally {
    await cleanup();
  }
});

test('a failing case is named, with where it is and what Cedar decided; exit 1', async () => {
  const wrong = PASSING_SUITE.replace('expect: deny', 'expect: allow');
  const { dir, cleanup } = await smallDomain({ 'tests/basics.yaml': wrong });
  try {
    const run = await runCli(['test', '.'], dir);
    assert.equal(run.code, 1);
    const lines = run.stdout.trim().split('\n');
    assert.equal(lines.length, 2, run.stdout);
    assert.equal(lines[0], '✗ tests/basics.yaml:8 › no delete without MFA: expected allow, got deny (determined by delete-needs-mfa)');
    assert.match(lines[1]!, /^FAIL .*: 2 cases in 1 file, 1 passed, 1 failed, coverage 2\/2 policies$/);
  } finally {
    await cleanup();
  }
});

test('wrong determining policies fail a case whose decision is right', async () => {
  const wrong = PASSING_SUITE.replace('reasons: [readers-view]', 'reasons: [readers-view, delete-needs-mfa]');
  const { dir, cleanup } = await smallDomain({ 'tests/basics.yaml': wrong });
  try {
    const run = await runCli(['test', '.'], dir);
    assert.equal(run.code, 1);
    assert.match(
      run.stdout,
      /› a reader may view: expected allow \(determined by delete-needs-mfa, readers-view\), got allow \(determined by readers-view\)/,
    );
  } finally {
    await cleanup();
  }
});

test('a malformed test file: file, line, column, case and field; exit 1', async () => {
  const bad = `cases:
  - name: typo
    principal: User::"ann"
    action: view
    resource: Doc::"d1"
    expect: alow
  - principal: ann
    action: view
    resource: Doc::"d1"
    expect: allow
`;
  const { dir, cleanup } = await smallDomain({ 'tests/bad.yaml': bad, 'tests/broken.yaml': 'cases: [\n' });
  try {
    const run = await runCli(['test', '.'], dir);
    assert.equal(run.code, 1);
    assert.match(run.stdout, /^tests\/bad\.yaml:6:13: case 1 "typo": expect: Invalid option: expected one of "allow"\|"deny"$/m);
    assert.match(run.stdout, /^tests\/bad\.yaml:7:5: case 2: name: required$/m);
    assert.match(run.stdout, /^tests\/bad\.yaml:7:16: case 2: principal: expected Type::"id" or \{type, id\}; got "ann"$/m);
    assert.match(run.stdout, /^tests\/broken\.yaml:\d+:\d+: /m);
    assert.match(run.stdout, /2 invalid files/);
  } finally {
    await cleanup();
  }
});

test('coverage: an uncovered policy is listed; --require-coverage fails the run', async () => {
  const onlyView = PASSING_SUITE.slice(0, PASSING_SUITE.indexOf('  - name: no delete'));
  const { dir, cleanup } = await smallDomain({ 'tests/basics.yaml': onlyView });
  try {
    const lenient = await runCli(['test', '.'], dir);
    assert.equal(lenient.code, 0, lenient.stdout);
    assert.match(
      lenient.stdout,
      /^! policy delete-needs-mfa is not covered: no case names it in reasons; it never determined a decision$/m,
    );
    const strict = await runCli(['test', '.', '--require-coverage'], dir);
    assert.equal(strict.code, 1);
    assert.match(strict.stdout, /^✗ policy delete-needs-mfa is not covered/m);
    assert.match(strict.stdout, /^FAIL .*coverage 1\/2 policies$/m);
  } finally {
    await cleanup();
  }
});

test('a request the service would refuse (not in the schema) fails its case', async () => {
  const suite = `cases:
  - name: photos are not in the schema
    principal: User::"ann"
    action: view
    resource: Photo::"p"
    expect: deny
`;
  const { dir, cleanup } = await smallDomain({ 'tests/t.yaml': suite });
  try {
    const run = await runCli(['test', '.'], dir);
    assert.equal(run.code, 1);
    assert.match(run.stdout, /› photos are not in the schema: the service would refuse this request \(E_REQUEST_REJECTED\)/);
  } finally {
    await cleanup();
  }
});

test('hostile test files are findings, never a crash: an alias bomb, a number a double would round, a lone surrogate', async () => {
  // Seven levels of nine aliases each: 9^7 strings if expanded.
  const bomb = [
    'a: &a [x, x, x, x, x, x, x, x, x]',
    ...[...'bcdefg'].map((k, i) => `${k}: &${k} [${Array(9).fill(`*${'abcdef'[i]}`).join(', ')}]`),
  ];
  const withContext = (context: string) =>
    PASSING_SUITE.replace('resource: Doc::"d1"\n    expect: allow', `resource: Doc::"d1"\n    context: ${context}\n    expect: allow`);
  const { dir, cleanup } = await smallDomain({
    'tests/bomb.yaml': bomb.join('\n'),
    // 80 to a double, so it would have been decided as 80.
    'tests/rounded.yaml': withContext('{ mfa: 80.000000000000001 }'),
    'tests/lone.yaml': PASSING_SUITE.replace('principal: User::"ann"', 'principal: User::"\\ud800"'),
  });
  try {
    const run = await runCli(['test', '.'], dir);
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.equal(run.stderr, '');
    assert.match(run.stdout, /^tests\/bomb\.yaml: Excessive alias count/m);
    assert.match(
      run.stdout,
      /^tests\/rounded\.yaml:\d+:\d+: case 1 "a reader may view": context\.mfa: 80\.000000000000001 is not exactly a 64-bit integer/m,
    );
    assert.match(run.stdout, /^✗ tests\/lone\.yaml:2 › a reader may view: the service would refuse this request \(E_REQUEST_REJECTED\)/m);
  } finally {
    await cleanup();
  }
});

test('no test files, and command-line mistakes (exit 2)', async () => {
  const { dir, cleanup } = await smallDomain();
  try {
    const none = await runCli(['test', '.'], dir);
    assert.equal(none.code, 1);
    assert.match(none.stdout, /tests: no test files/);
    assert.equal((await runCli(['tset', dir])).code, 2);
    assert.equal((await runCli(['test', dir, '--nope'])).code, 2);
    assert.equal((await runCli(['test', `${dir}/missing`])).code, 2);
    assert.equal((await runCli([])).code, 2);
    // A mistyped impact window is refused here, before any service is asked.
    for (const window of [['--last', 'abc'], ['--last', '1.5'], ['--minutes', 'soon'], ['--minutes=-1']]) {
      const run = await runCli(['impact', dir, '--url', 'http://127.0.0.1:9', ...window]);
      assert.equal(run.code, 2, window.join(' '));
      assert.match(run.stderr, /takes a positive/, window.join(' '));
    }
  } finally {
    await cleanup();
  }
});
