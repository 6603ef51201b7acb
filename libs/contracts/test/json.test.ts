import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AuthenticateRequest, EvaluateRequest, UnrepresentableNumber, findUnrepresentable, isRawJson, parseJson } from '../src/index.ts';

const TWO_53 = '9007199254740992';
const TWO_53_PLUS_1 = '9007199254740993';
const LONG_MAX = '9223372036854775807';
const LONG_MIN = '-9223372036854775808';
const TWO_63 = '9223372036854775808';

describe('parseJson: integers stay exact', () => {
  test('integers a double cannot hold are kept as their text and written back verbatim', () => {
    for (const text of [TWO_53, TWO_53_PLUS_1, LONG_MAX, LONG_MIN, '-9007199254740993']) {
      const parsed = parseJson(`{"n":${text},"list":[${text}]}`) as { n: unknown; list: unknown[] };
      assert.ok(isRawJson(parsed.n), text);
      assert.equal(JSON.stringify(parsed), `{"n":${text},"list":[${text}]}`);
    }
    // JSON.parse itself would have rounded the one past 2^53.
    assert.equal(JSON.stringify(JSON.parse(`[${TWO_53_PLUS_1}]`)), `[${TWO_53}]`);
  });

  test('numbers a double holds exactly stay plain numbers', () => {
    const parsed = parseJson(
      `{"small":42,"max":9007199254740991,"neg":-9007199254740991,"fraction":1.5,"e":1e3,"long":"${TWO_53_PLUS_1}"}`,
    );
    assert.deepEqual(parsed, { small: 42, max: 9007199254740991, neg: -9007199254740991, fraction: 1.5, e: 1000, long: TWO_53_PLUS_1 });
  });

  test('an integer written with a fraction or an exponent is the integer it denotes, exactly', () => {
    const parsed = parseJson(`[80.0, 8e1, 100e-2, 1.5e1, -0.0, ${TWO_53_PLUS_1}.0, 9.2e18, -9.2e18, 0.5]`) as unknown[];
    assert.equal(JSON.stringify(parsed), `[80,80,1,15,0,${TWO_53_PLUS_1},9200000000000000000,-9200000000000000000,0.5]`);
    assert.ok(isRawJson(parsed[5]) && isRawJson(parsed[6]));
  });

  test('past the 64-bit range, or a fraction a double would make an integer or no number, is marked, never rounded', () => {
    const marked = [TWO_63, '-9223372036854775809', '1e20', '123456789012345678901234567890', '1e400', '-1e999999999'];
    // JSON.parse reads each of these as 80, 95, 0 or 0: a policy comparing them would decide on a number nobody sent.
    const rounded = ['80.00000000000000001', '80.000000000000001', '94.99999999999999999', '1e-400', '1e-999999999'];
    for (const text of [...marked, ...rounded]) {
      const parsed = parseJson(`{"context":{"deep":[0,{"n":${text}}]}}`);
      const found = findUnrepresentable(parsed);
      assert.ok(found !== undefined, text);
      assert.deepEqual(found.path, ['context', 'deep', 1, 'n']);
      assert.equal(found.number.source, text);
      assert.throws(() => JSON.stringify(parsed), /unrepresentable number/);
    }
  });

  test('a lone surrogate, escaped or not, is refused as a syntax error; a pair is text', () => {
    for (const text of ['{"id":"\\ud800"}', '{"\\udc00":1}', '["x\\uDBFF", 80.5]', '{"n":1e400,"k":"\\uDFFFx"}', '"\ud800"']) {
      assert.throws(() => parseJson(text), { name: 'SyntaxError', message: /lone UTF-16 surrogate/ }, text);
    }
    assert.deepEqual(parseJson('{"id":"\\ud83d\\ude00"}'), { id: '\u{1F600}' });
  });

  test('a __proto__ key, written plainly or escaped, is refused: a copy would make it a prototype', () => {
    for (const text of ['{"__proto__":{"riskScore":99}}', '{"context":{"__proto__":1}}', '{"\\u005f_proto__":{}}']) {
      assert.throws(() => parseJson(text), { name: 'SyntaxError', message: /__proto__/ }, text);
    }
    assert.deepEqual(parseJson('{"proto":"__proto__"}'), { proto: '__proto__' });
  });

  test("syntax errors are JSON.parse's own; hostile nesting does not overflow the search", () => {
    assert.throws(() => parseJson(`{"n":${TWO_53_PLUS_1}`), SyntaxError);
    const deep = (depth: number) => `${'['.repeat(depth)}${TWO_63}${']'.repeat(depth)}`;
    assert.throws(() => parseJson(deep(100_000)), { name: 'SyntaxError', message: /nested too deeply/ });
    const nested = parseJson(deep(1_000));
    assert.equal(findUnrepresentable(nested)?.path.length, 1_000);
    assert.ok(findUnrepresentable(nested)?.number instanceof UnrepresentableNumber);
    // The search itself is iterative: a value built in code, far deeper, is no problem.
    let built: unknown = new UnrepresentableNumber(TWO_63);
    for (let i = 0; i < 200_000; i++) built = [built];
    assert.equal(findUnrepresentable(built)?.path.length, 200_000);
  });
});

describe('validation names the field', () => {
  const evaluate = (n: string) =>
    parseJson(
      `{"principal":{"type":"User","id":"a"},"action":{"type":"Action","id":"v"},"resource":{"type":"R","id":"r"},"context":{"n":${n}},"entities":[{"uid":{"type":"R","id":"r"},"attrs":{"size":${n}},"parents":[]}]}`,
    );

  test('exact integers pass through the schemas untouched', () => {
    for (const n of [TWO_53, TWO_53_PLUS_1, LONG_MAX, LONG_MIN]) {
      const parsed = EvaluateRequest.parse(evaluate(n));
      assert.ok(isRawJson(parsed.context['n']));
      assert.equal(JSON.stringify(parsed.context), `{"n":${n}}`);
      assert.equal(JSON.stringify(parsed.entities[0]?.attrs), `{"size":${n}}`);
      const auth = AuthenticateRequest.parse(parseJson(`{"action":"view","resource":{"type":"R","id":"r"},"context":{"n":${n}}}`));
      assert.equal(JSON.stringify(auth.context), `{"n":${n}}`);
    }
  });

  test('one that no 64-bit integer equals fails with its path', () => {
    const result = EvaluateRequest.safeParse(evaluate(TWO_63));
    assert.equal(result.success, false);
    const paths = result.error?.issues.map((issue) => issue.path.join('.'));
    assert.deepEqual(paths, ['context.n', 'entities.0.attrs.size']);
    assert.match(result.error?.issues[0]?.message ?? '', /9223372036854775808 is not exactly a 64-bit integer/);
  });
});
