/** Error codes an answer may carry: the contracts' `E_…` codes, and RFC 6749's on the OAuth routes. */
export interface KnownCodes {
  codes: ReadonlySet<string>;
  oauthCodes?: ReadonlySet<string>;
}

/**
 * True when an answer is a client error a caller can act on: a 4xx whose body names a
 * known code (`{error: {code}}`, or `{error: "<oauth code>"}`). Property-based hostile
 * input tests assert every refusal is one of these: never a 5xx, never an unnamed 4xx.
 */
export function isCodedClientError(status: number, body: unknown, known: KnownCodes): boolean {
  if (status < 400 || status >= 500 || typeof body !== 'object' || body === null) return false;
  const error = (body as { error?: unknown }).error;
  if (typeof error === 'string') return known.oauthCodes?.has(error) ?? false;
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && known.codes.has(code);
}

/** One request with a 10 s limit (a hang fails the test); the body parsed when it is JSON, else its text. */
export async function sendRaw(url: string, init: RequestInit): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) as unknown };
  } catch {
    return { status: res.status, body: text };
  }
}

/** True when `value` can be sent as an HTTP header value (visible ASCII and tabs). */
export const sendableHeader = (value: string): boolean => /^[\t\x20-\x7e]*$/.test(value);
