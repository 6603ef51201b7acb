import type { IncomingHttpHeaders } from 'node:http';
import proxyAddr from 'proxy-addr';

/** Decides whether the proxy at `address`, `hop` steps from this server (0: the peer), is trusted. */
export type TrustProxy = (address: string, hop: number) => boolean;

/** The longest client address kept: an IPv6 address with a zone fits; anything longer is cut. */
const MAX_ADDRESS = 64;

/**
 * Compiles a trust-proxy setting, with express's meaning (its `trust proxy`, through the same
 * `proxy-addr` package): `''` or `'0'` trusts no proxy (the client is the peer); a whole
 * number N trusts the N nearest hops; otherwise a comma list of addresses, CIDR subnets or
 * the names `loopback`, `linklocal` and `uniquelocal`. Throws a `TypeError` on anything else.
 */
export function compileTrustProxy(setting: string): TrustProxy {
  const value = setting.trim();
  if (value === '' || value === '0') return () => false;
  if (/^[0-9]+$/.test(value)) {
    const hops = Number(value);
    return (_address, hop) => hop < hops;
  }
  return proxyAddr.compile(value.split(',').map((part) => part.trim()));
}

/**
 * The address of the client that sent a request: its peer's address, or, when the peer is a
 * trusted proxy, the nearest `X-Forwarded-For` entry that `trust` does not vouch for. An
 * untrusted caller cannot choose the answer: its own `X-Forwarded-For` entries are read only
 * past hops that are trusted. `undefined` when the peer's address is unknown (a closed socket).
 */
export function clientAddress(headers: IncomingHttpHeaders, peerAddress: string | undefined, trust: TrustProxy): string | undefined {
  if (peerAddress === undefined) return undefined;
  const address = proxyAddr({ headers, socket: { remoteAddress: peerAddress } } as unknown as Parameters<typeof proxyAddr>[0], trust);
  return address.slice(0, MAX_ADDRESS);
}
