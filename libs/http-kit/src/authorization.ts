import type { IncomingHttpHeaders } from 'node:http';

/**
 * The credentials of `Authorization: <scheme> <credentials>`, or undefined when the header
 * is absent, longer than `maxLength`, or of another scheme. The scheme is matched without
 * regard to case (RFC 9110 §11.1: `bearer` and `BASIC` are the same schemes); what the
 * credentials may hold is the caller's to check.
 */
export function authorizationCredentials(headers: IncomingHttpHeaders, scheme: string, maxLength = 16_384): string | undefined {
  const header = headers.authorization;
  if (header === undefined || header.length > maxLength) return undefined;
  const space = header.indexOf(' ');
  if (space !== scheme.length || header.slice(0, space).toLowerCase() !== scheme.toLowerCase()) return undefined;
  return header.slice(space + 1).replace(/^ +/, '');
}
