import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { AttemptLimiter } from './attempt-limiter.ts';
import { HashingGate } from './hashing-gate.ts';
import { ClientAuthError, ClientLockedError } from './errors.ts';

/** scrypt cost parameters; the defaults are Node's (N=2^14, r=8, p=1): ~16 MiB and tens of ms. */
export interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

const DEFAULT_PARAMS: ScryptParams = { N: 16_384, r: 8, p: 1 };
const KEY_LENGTH = 32;
const MAX_SECRET = 1024;
const MAX_CLIENT_ID = 256;
/** Longer sources are cut; an address (IPv6 with a zone included) is shorter. */
const MAX_SOURCE = 64;
const HASH_FORMAT = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9_-]{16,})\$([A-Za-z0-9_-]{40,})$/;

function derive(secret: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  const options: ScryptOptions = { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r };
  return new Promise((resolve, reject) => {
    scrypt(secret, salt, KEY_LENGTH, options, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

/**
 * Hashes a client secret for storage: `scrypt$N$r$p$salt$hash` (base64url), with a fresh
 * 16-byte salt. Safe to keep in configuration; the secret cannot be read back from it.
 */
export async function hashClientSecret(secret: string, params: ScryptParams = DEFAULT_PARAMS): Promise<string> {
  if (typeof secret !== 'string' || secret.length < 16 || secret.length > MAX_SECRET) {
    throw new RangeError(`clientSecret must be 16 to ${MAX_SECRET} characters, received ${String(secret?.length)}`);
  }
  const salt = randomBytes(16);
  const hash = await derive(secret, salt, params);
  return `scrypt$${params.N}$${params.r}$${params.p}$${salt.toString('base64url')}$${hash.toString('base64url')}`;
}

interface StoredHash {
  params: ScryptParams;
  salt: Buffer;
  hash: Buffer;
}

function parseHash(encoded: string, clientId: string): StoredHash {
  const m = HASH_FORMAT.exec(encoded);
  if (m === null) throw new RangeError(`secretHash of client ${JSON.stringify(clientId)} is not an scrypt$N$r$p$salt$hash string`);
  const [, n, r, p, salt, hash] = m as unknown as [string, string, string, string, string, string];
  const params = { N: Number(n), r: Number(r), p: Number(p) };
  if (params.N < 2 || (params.N & (params.N - 1)) !== 0 || params.r < 1 || params.p < 1) {
    throw new RangeError(`secretHash of client ${JSON.stringify(clientId)} has invalid scrypt parameters`);
  }
  return { params, salt: Buffer.from(salt, 'base64url'), hash: Buffer.from(hash, 'base64url') };
}

/**
 * The {@link AttemptLimiter} key of attempts on `clientId` from `source`. No registered id is
 * longer than `MAX_CLIENT_ID`, so cutting keeps every key small without merging real ids;
 * JSON keeps any two (id, source) pairs apart, whatever characters they hold.
 */
export const lockoutKey = (clientId: string, source: string): string =>
  JSON.stringify([clientId.slice(0, MAX_CLIENT_ID + 1), source.slice(0, MAX_SOURCE)]);

/** A registered client as the issuer sees it once authenticated. */
export interface ClientRecord {
  clientId: string;
  roles: string[];
  groups: string[];
}

/** A client whose secret is already hashed (from configuration). */
export interface ClientRegistration {
  clientId: string;
  secretHash: string;
  roles?: readonly string[];
  groups?: readonly string[];
}

/**
 * Registered OAuth clients. Only scrypt hashes of the secrets are held; authentication derives
 * the presented secret with the client's own salt and compares in constant time. An unknown
 * client id costs the same derivation against a dummy hash, so timing does not tell which ids exist.
 *
 * Guessing is limited per presented client id and source, known or not (see
 * {@link AttemptLimiter}: per instance, bounded memory): after too many wrong secrets from one
 * source the id is refused there with a `ClientLockedError` before any hashing, so a
 * locked-out id costs no scrypt work. Per source, because a lockout per id alone lets anyone
 * who knows an id lock its owner out; with secrets of at least 16 characters, guessing from
 * many sources gains nothing that matters.
 */
export class ClientRegistry {
  readonly #clients = new Map<string, { record: ClientRecord; stored: StoredHash }>();
  readonly #params: ScryptParams;
  readonly #attempts: AttemptLimiter;
  readonly #gate: HashingGate;
  #dummy: Promise<StoredHash> | undefined;

  /**
   * `params` apply to secrets hashed by {@link register} (tests lower the cost); `attempts`
   * limits wrong secrets per client id and source (default: 5 in 60 s lock it for 60 s, doubling);
   * `gate` bounds the derivations under way at once (default: 2 running, 64 waiting).
   */
  constructor(options: { params?: ScryptParams; attempts?: AttemptLimiter; gate?: HashingGate } = {}) {
    this.#params = options.params ?? DEFAULT_PARAMS;
    this.#attempts = options.attempts ?? new AttemptLimiter();
    this.#gate = options.gate ?? new HashingGate();
  }

  /** Adds a client whose secret is already hashed with {@link hashClientSecret}. */
  add(registration: ClientRegistration): void {
    const { clientId } = registration;
    if (typeof clientId !== 'string' || clientId === '' || clientId.length > MAX_CLIENT_ID) {
      throw new RangeError(`clientId must be 1 to ${MAX_CLIENT_ID} characters, received ${JSON.stringify(clientId)}`);
    }
    const stored = parseHash(registration.secretHash, clientId);
    const record = { clientId, roles: [...(registration.roles ?? [])], groups: [...(registration.groups ?? [])] };
    this.#clients.set(clientId, { record, stored });
  }

  /** Hashes `clientSecret` and adds the client; the plain secret is not kept. */
  async register(client: { clientId: string; clientSecret: string; roles?: readonly string[]; groups?: readonly string[] }): Promise<void> {
    const secretHash = await hashClientSecret(client.clientSecret, this.#params);
    const registration: ClientRegistration = { clientId: client.clientId, secretHash };
    if (client.roles !== undefined) registration.roles = client.roles;
    if (client.groups !== undefined) registration.groups = client.groups;
    this.add(registration);
  }

  /** Whether a client id is registered. */
  has(clientId: string): boolean {
    return this.#clients.has(clientId);
  }

  /**
   * The client's record when the secret matches; a `ClientLockedError` while the id is locked
   * out from `source` (even with the right secret); a `ClientAuthBusyError` when too many are
   * under way; a `ClientAuthError` otherwise, whatever was wrong. `source` names where the
   * attempt came from (the client's address); attempts without one share a single source.
   */
  async authenticate(clientId: unknown, clientSecret: unknown, source = ''): Promise<ClientRecord> {
    const id = typeof clientId === 'string' ? clientId : '';
    const key = lockoutKey(id, source);
    const waitMs = this.#attempts.retryAfterMs(key);
    if (waitMs > 0) throw new ClientLockedError(waitMs);
    const secret = typeof clientSecret === 'string' && clientSecret.length <= MAX_SECRET ? clientSecret : '';
    const entry = this.#clients.get(id);
    const stored = entry?.stored ?? (await this.#dummyHash());
    // A derivation that fails is a refusal like any other; a full gate rejects before it starts.
    const presented = await this.#gate.run(() =>
      derive(secret, stored.salt, stored.params).catch(() => {
        throw new ClientAuthError();
      }),
    );
    // Attempts sent together all pass the first check; those that finish after the id got
    // locked learn nothing (429 whatever the secret), so a burst gains no more guesses.
    const lockedMs = this.#attempts.retryAfterMs(key);
    if (lockedMs > 0) throw new ClientLockedError(lockedMs);
    const match = presented.length === stored.hash.length && timingSafeEqual(presented, stored.hash);
    if (entry === undefined || !match || secret === '') {
      this.#attempts.recordFailure(key);
      throw new ClientAuthError();
    }
    this.#attempts.recordSuccess(key);
    return { clientId: entry.record.clientId, roles: [...entry.record.roles], groups: [...entry.record.groups] };
  }

  #dummyHash(): Promise<StoredHash> {
    this.#dummy ??= hashClientSecret(randomBytes(24).toString('base64url'), this.#params).then((h) => parseHash(h, 'dummy'));
    return this.#dummy;
  }
}
