/**
 * JSON with exact integers. Cedar's `Long` is a signed 64-bit integer, but `JSON.parse`
 * turns every number into a double, so 9007199254740993 silently becomes
 * 9007199254740992 and a policy comparing it can decide wrongly. Here every integer a
 * double cannot hold exactly is kept as its source text, wrapped in `JSON.rawJSON`, which
 * `JSON.stringify` writes back verbatim: on to Cedar (whose WASM glue stringifies its
 * input), to the policy-service, into cache keys; so is one written with a fraction or
 * exponent that denotes an integer exactly (`9007199254740993.0`, `9.2e18`). An integer
 * outside the 64-bit range (`1e20`), or a fraction a double would turn into an integer
 * (`80.000000000000001` is 80 to `JSON.parse`) or into no number (`1e400`), becomes an
 * {@link UnrepresentableNumber}, which validation refuses with the path of the field
 * (`CedarValue` in cedar.ts).
 */

/** What `JSON.rawJSON` makes: a frozen, prototype-less holder of JSON source text. */
export interface RawJson {
  readonly rawJSON: string;
}

// ES2024's lib has no declarations yet for JSON.rawJSON / JSON.isRawJSON (Node 21+ has them).
const JSON_WITH_SOURCE = JSON as JSON & { rawJSON(text: string): RawJson; isRawJSON(value: unknown): value is RawJson };

/** A number in the input that no 64-bit integer equals exactly; never sent anywhere. */
export class UnrepresentableNumber {
  readonly source: string;

  constructor(source: string) {
    this.source = source;
  }

  get message(): string {
    return `${this.source.slice(0, 40)} is not exactly a 64-bit integer (Cedar's Long: -9223372036854775808 to 9223372036854775807)`;
  }

  /** Serializing one is a bug (validation should have refused it): fail, never round. */
  toJSON(): never {
    throw new TypeError(`unrepresentable number ${this.source.slice(0, 40)} reached serialization`);
  }
}

/** True for a holder made by `JSON.rawJSON`. */
export const isRawJson = (value: unknown): value is RawJson => JSON_WITH_SOURCE.isRawJSON(value);

// Only a number with 16 digits in a run, a fraction or an exponent can be one a double
// does not hold exactly, and only a `\u` escape can make a lone surrogate or spell
// `__proto__`: text with none of them is parsed by plain JSON.parse, at full speed. A
// fraction or exponent is looked for where a number starts (after `:`, `,` or `[`), so an
// IP address in a string does not slow a body down.
const NEEDS_REVIVER = /\d{16}|(?:^|[:,[])\s*-?\d+[.eE]|\\u|__proto__/;
const INTEGER = /^-?(?:0|[1-9]\d*)$/;
// JSON's number syntax, plus YAML's leading `+` and `1.` forms.
const DECIMAL = /^([+-]?)(\d+)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;
const LONG_MIN = -(2n ** 63n);
const LONG_MAX = 2n ** 63n - 1n;
// 10^19 is past LONG_MAX: a number with more integer digits than this is out of range.
const LONG_DIGITS = 19;

/**
 * The integer a decimal number (`DECIMAL`'s match) denotes exactly, or undefined when it
 * denotes a fraction; `null` when it has more than 19 digits (outside every Long, and not
 * worth building: `1e999999999` would take a gigabyte).
 */
function exactInteger([, sign, whole = '', fraction = '', exponent = '0']: RegExpExecArray): bigint | null | undefined {
  const digits = `${whole}${fraction}`.replace(/^0+/, '');
  if (digits === '') return 0n;
  // `digits` × 10^shift; the denoted number is an integer when no nonzero digit is behind the point.
  const shift = Number(exponent) - fraction.length;
  const significant = digits.replace(/0+$/, '');
  const trailingZeros = digits.length - significant.length;
  if (shift + trailingZeros < 0) return undefined;
  if (significant.length + trailingZeros + shift > LONG_DIGITS) return null;
  return BigInt(`${sign}${significant}`) * 10n ** BigInt(shift + trailingZeros);
}

/**
 * What {@link parseJson} makes of a number written as `source` that a parser read as
 * `value`: `value` when a double holds it exactly, an exact integer's text
 * (`JSON.rawJSON`), or an {@link UnrepresentableNumber}. Also for YAML's numbers (the
 * policy test files): a form that is not decimal (`0x1F`, `.inf`) is judged by `value` alone.
 */
export function exactNumber(value: number, source: string): unknown {
  if (Number.isSafeInteger(value) && INTEGER.test(source)) return value;
  const decimal = DECIMAL.exec(source);
  if (decimal === null) {
    return Number.isFinite(value) && (!Number.isInteger(value) || Number.isSafeInteger(value)) ? value : new UnrepresentableNumber(source);
  }
  const exact = exactInteger(decimal);
  if (exact === undefined) {
    // A fraction is no Cedar value either, but Cedar says so itself; only a fraction a
    // double turns into an integer (`80.000000000000001` is 80) or into no number at all is refused here.
    return Number.isInteger(value) || !Number.isFinite(value) ? new UnrepresentableNumber(source) : value;
  }
  if (exact === null || exact < LONG_MIN || exact > LONG_MAX) return new UnrepresentableNumber(source);
  // Written as `80.0` or `8e1` it is still exactly 80.
  return Number.isSafeInteger(value) ? value : JSON_WITH_SOURCE.rawJSON(exact.toString());
}

function revive(key: string, value: unknown, context?: { source?: string }): unknown {
  if (!key.isWellFormed() || (typeof value === 'string' && !value.isWellFormed())) throw new LoneSurrogateError();
  // JSON.parse makes it an own key, but every copy by assignment (zod's records among
  // them) turns it into the copy's prototype: silently dropped, or read through.
  if (key === '__proto__') throw new SyntaxError('"__proto__" is not accepted as a key');
  if (typeof value === 'number' && context?.source !== undefined) return exactNumber(value, context.source);
  return value;
}

/**
 * A `\uD800`–`\uDFFF` escape without its pair. JSON allows it, but it is no Unicode text:
 * Cedar cannot read it, and it would make a key no other service can write.
 */
class LoneSurrogateError extends SyntaxError {
  constructor() {
    super('JSON holds a lone UTF-16 surrogate (a \\uD800-\\uDFFF escape without its pair); text must be well-formed Unicode');
  }
}

/**
 * `JSON.parse`, keeping integers exact as described above, and refusing text that holds
 * a lone surrogate or a `__proto__` key. Throws SyntaxError like it.
 */
export function parseJson(text: string): unknown {
  if (!text.isWellFormed()) throw new LoneSurrogateError();
  if (!NEEDS_REVIVER.test(text)) return JSON.parse(text);
  try {
    return JSON.parse(text, revive as (key: string, value: unknown) => unknown);
  } catch (error) {
    // V8 revives recursively: a few thousand levels of nesting exhaust the stack. No
    // Cedar value is nested that deep; say so instead of leaking a RangeError.
    if (error instanceof RangeError) throw new SyntaxError('JSON is nested too deeply', { cause: error });
    throw error;
  }
}
