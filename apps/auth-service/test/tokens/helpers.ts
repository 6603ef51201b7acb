// Keys and hand-built tokens for the token tests. Attack tokens are assembled by hand because
// jsonwebtoken (rightly) refuses to sign most of them.
import { createHmac, generateKeyPairSync, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export const ISS = 'https://auth.test';
export const AUD = 'portcullis';
export const SECRET = 'x'.repeat(16) + 'a-32-byte-or-longer-test-secret';
/** A fixed clock: tests move `clock.ms` instead of sleeping. */
export const T0 = 1_800_000_000_000;
export function fakeClock(): { ms: number; now: () => number } {
  const clock = { ms: T0, now: () => clock.ms };
  return clock;
}

export const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
export const rsa2 = generateKeyPairSync('rsa', { modulusLength: 2048 });
export const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
export const rsaPublicPem = rsa.publicKey.export({ format: 'pem', type: 'spki' }).toString();
export const ecPublicPem = ec.publicKey.export({ format: 'pem', type: 'spki' }).toString();

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Standard valid claims at the fake clock's T0. */
export function claims(extra: Record<string, unknown> = {}): Record<string, unknown> {
  const iat = Math.floor(T0 / 1000);
  return { iss: ISS, aud: AUD, sub: 'alice', iat, exp: iat + 300, jti: 'jti-1', roles: ['reader'], groups: ['staff'], ...extra };
}

/** Signs header.payload with whatever we say, bypassing every library check. */
export function rawToken(header: Record<string, unknown>, payload: Record<string, unknown>, key?: KeyObject | Buffer | string): string {
  const input = `${b64(header)}.${b64(payload)}`;
  const alg = String(header['alg']);
  if (key === undefined || alg === 'none') return `${input}.`;
  let sig: Buffer;
  if (alg.startsWith('HS'))
    sig = createHmac(`sha${alg.slice(2)}`, key as Buffer | string)
      .update(input)
      .digest();
  else if (alg.startsWith('ES'))
    sig = cryptoSign(`sha${alg.slice(2)}`, Buffer.from(input), { key: key as KeyObject, dsaEncoding: 'ieee-p1363' });
  else sig = cryptoSign(`sha${alg.slice(2)}`, Buffer.from(input), key as KeyObject);
  return `${input}.${sig.toString('base64url')}`;
}

/** A real JWKS server on port 0 that counts its requests; `keys` and `fail` can change mid-test. */
export interface JwksServer {
  url: string;
  requests: number;
  keys: Array<Record<string, unknown>>;
  fail: boolean;
  close(): Promise<void>;
}

export async function startJwksServer(keys: Array<Record<string, unknown>>): Promise<JwksServer> {
  const state = { requests: 0, keys, fail: false } as JwksServer;
  const server: Server = createServer((_req, res) => {
    state.requests++;
    if (state.fail) {
      res.writeHead(503).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: state.keys }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
  state.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return state;
}

export function publicJwk(key: KeyObject, kid: string, alg: string): Record<string, unknown> {
  return { ...(key.export({ format: 'jwk' }) as Record<string, unknown>), kid, alg, use: 'sig' };
}
