/**
 * The one way libraries check their options (fastify's single validator, cockatiel's
 * messages): a bad value is a RangeError that names the option and the value received,
 * always worded the same, `option <name> must be <what>, received <value>`.
 */

/** Throws the RangeError every option check uses. */
export function optionError(name: string, expected: string, received: unknown): RangeError {
  const shown = typeof received === 'string' ? JSON.stringify(received) : String(received);
  return new RangeError(`option ${name} must be ${expected}, received ${shown.slice(0, 200)}`);
}

/** An integer in `min..max`; `undefined` takes `fallback`. */
export function optionInt(name: string, value: number | undefined, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const v = value ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw optionError(name, max === Number.MAX_SAFE_INTEGER ? `an integer ≥ ${min}` : `an integer in ${min}..${max}`, value);
  }
  return v;
}

/** A finite number ≥ `min`; `undefined` takes `fallback`. */
export function optionNumber(name: string, value: number | undefined, fallback: number, min: number): number {
  const v = value ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min) throw optionError(name, `a finite number ≥ ${min}`, value);
  return v;
}

/** One of `allowed`; `undefined` takes `fallback`. */
export function optionOneOf<T extends string>(name: string, value: T | undefined, allowed: readonly T[], fallback: T): T {
  const v = value ?? fallback;
  if (!allowed.includes(v)) throw optionError(name, `one of ${allowed.join(', ')}`, value);
  return v;
}
