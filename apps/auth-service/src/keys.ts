import { readFile } from 'node:fs/promises';
import type { AuthServiceConfig } from './config.ts';
import {
  AttemptLimiter,
  ClientRegistry,
  createTokenIssuer,
  createVerifier,
  type RevocationList,
  type TokenIssuer,
  type TokenVerifier,
} from './tokens/index.ts';

interface ClientFileEntry {
  client_id: string;
  client_secret: string;
  roles?: string[];
}

/**
 * Builds the issuer (for `/token`) and the verifier (for every other request) from the
 * configuration: HS256 with a shared secret, RS256/ES256 with a private key (whose public
 * key verifies and is published as JWKS), or an external issuer's JWKS for verification.
 */
export async function buildTokenLayer(
  config: AuthServiceConfig,
  revocations: RevocationList,
): Promise<{ issuer: TokenIssuer; verifier: TokenVerifier; clients: ClientRegistry }> {
  const attempts = new AttemptLimiter({
    maxFailures: config.AUTH_CLIENT_MAX_FAILURES,
    windowMs: config.AUTH_CLIENT_FAILURE_WINDOW_MS,
    lockoutMs: config.AUTH_CLIENT_LOCKOUT_MS,
    maxLockoutMs: config.AUTH_CLIENT_MAX_LOCKOUT_MS,
  });
  const clients = new ClientRegistry({ attempts });
  if (config.AUTH_CLIENTS_FILE !== undefined) {
    const parsed = JSON.parse(await readFile(config.AUTH_CLIENTS_FILE, 'utf8')) as ClientFileEntry | ClientFileEntry[];
    for (const entry of Array.isArray(parsed) ? parsed : [parsed]) {
      await clients.register({ clientId: entry.client_id, clientSecret: entry.client_secret, roles: entry.roles ?? [] });
    }
  }
  const common = { issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE };
  let issuer: TokenIssuer;
  if (config.JWT_ALGORITHM === 'HS256') {
    if (config.JWT_SECRET === undefined) throw new RangeError('JWT_SECRET is required when JWT_ALGORITHM is HS256');
    issuer = createTokenIssuer({
      ...common,
      ttlSec: config.TOKEN_TTL_SEC,
      clients,
      signingKey: { alg: 'HS256', secret: config.JWT_SECRET },
    });
  } else {
    if (config.JWT_PRIVATE_KEY_FILE === undefined)
      throw new RangeError(`JWT_PRIVATE_KEY_FILE is required when JWT_ALGORITHM is ${config.JWT_ALGORITHM}`);
    const privateKey = await readFile(config.JWT_PRIVATE_KEY_FILE, 'utf8');
    issuer = createTokenIssuer({
      ...common,
      ttlSec: config.TOKEN_TTL_SEC,
      clients,
      signingKey: { alg: config.JWT_ALGORITHM, privateKey, kid: config.JWT_KEY_ID },
    });
  }
  const keys =
    config.JWT_JWKS_URL !== undefined
      ? { jwksUrl: config.JWT_JWKS_URL }
      : config.JWT_ALGORITHM === 'HS256'
        ? { hs256Secret: config.JWT_SECRET! }
        : { publicKeys: issuer.publicKeys() };
  const verifier = createVerifier({
    ...common,
    algorithms: [config.JWT_ALGORITHM],
    clockToleranceSec: config.JWT_CLOCK_TOLERANCE_SEC,
    revocations,
    ...keys,
  });
  return { issuer, verifier, clients };
}
