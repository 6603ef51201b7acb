/**
 * JSON with exact integers. Cedar's `Long` is a signed 64-bit integer, but `JSON.parse`
 * turns every number into a double, so 9007199254740993 silently becomes
 * 9007199254740992 and a policy comparing it can decide wrongly. Here every integer a
 * double cannot hold exactly is kept as its source text, wrapped in `JSON.rawJSON`, which
 * `JSON.stringify` writes back verbatim: on to Cedar (whose WASM glue stringifies its
 * input), to the policy-service, into cache keys. An integer outside the 64-bit range,
 * or an integer-valued number written so that a double cannot hold it (`1e20`,
 * `9007199254740993.0`), becomes an {@link UnrepresentableNumber}, which validation
 * refuses with the path of the field (`CedarValue` in cedar.ts).
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

// Every integer past 2^53 has at least 16 digits, unless it is written with an exponent:
// text without either is parsed by plain JSON.parse, at full speed.
const MAY_BE_INEXACT = /\d{16}|\d[eE]/;
const INTEGER = /^-?(?:0|[1-9]\d*)$/;
const LONG_MIN = -(2n ** 63n);
const LONG_MAX = 2n ** 63n - 1n;

function keepExact(_key: string, value: unknown, context?: { source?: string }): unknown {
  if (typeof value !== 'number' || Number.isSafeInteger(value) || context?.source === undefined) return value;
  const source = context.source;
  if (INTEGER.test(source)) {
    const exact = BigInt(source);
    return exact >= LONG_MIN && exact <= LONG_MAX ? JSON_WITH_SOURCE.rawJSON(source) : new UnrepresentableNumber(source);
  }
  // A fraction is no Cedar value either, but Cedar says so itself; only rounding to a
  // different integer is refused here.
  return Number.isInteger(value) ? new UnrepresentableNumber(source) : value;
}

/** `JSON.parse`, keeping integers exact as described above. Throws SyntaxError like it. */
export function parseJson(text: string): unknown {
  if (!MAY_BE_INEXACT.test(text)) return JSON.parse(text);
  try {
    return JSON.parse(text, keepExact as (key: string, value: unknown) => unknown);
  } catch (error) {
    // V8 revives recursively: a few thousand levels of nesting exhaust the stack. No
    // Cedar value is nested that deep; say so instead of leaking a RangeError.
    if (error instanceof RangeError) throw new SyntaxError('JSON is nested too deeply', { cause: error });
    throw error;
  }
}
