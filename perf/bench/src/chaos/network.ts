// The policy-service's own network for the chaos run: a network namespace joined to the
// host by a veth pair, so the auth-services reach it across an interface the run can
// degrade without touching loopback (Redis and the load stay on loopback).
// - Packet loss: nftables inside the namespace drops a share of the packets of the
//   policy-service's port, both ways (`numgen random`), so TCP retransmits for real.
// - Latency: the kernels of these machines have no netem (CONFIG_NET_SCH_NETEM is unset and
//   there are no modules to load), so a relay on the host side delays every chunk each way
//   by the set time, in order. The auth-services call the policy-service through it; with
//   no delay set it forwards at once.
import { execFileSync } from 'node:child_process';
import { createServer, connect, type Server, type Socket } from 'node:net';

const NAMESPACE = 'portcullis-chaos';
const HOST_IF = 'pc-chaos-h';
const NS_IF = 'pc-chaos-p';
const HOST_ADDRESS = '10.77.0.1';
const ADDRESS = '10.77.0.2';

const sh = (command: string, ...args: string[]): string => execFileSync(command, args, { encoding: 'utf8', stdio: 'pipe' });
const inNamespace = (...args: string[]): string => sh('ip', 'netns', 'exec', NAMESPACE, ...args);
/** The nftables expression that drops `percent` % of the packets it sees, at random. */
const dropShare = (percent: number): string[] => ['numgen', 'random', 'mod', '100', '<', String(percent), 'drop'];

/** Forwards bytes one way, each chunk held `delayMs()` from its arrival, order kept. */
function delayedPipe(from: Socket, to: Socket, delayMs: () => number): void {
  const queue: { due: number; chunk: Buffer }[] = [];
  let timer: NodeJS.Timeout | undefined;
  const drain = (): void => {
    timer = undefined;
    const now = performance.now();
    while (queue.length > 0 && (queue[0]?.due ?? 0) <= now) to.write((queue.shift() as { chunk: Buffer }).chunk);
    if (queue.length > 0) timer = setTimeout(drain, (queue[0]?.due ?? now) - now);
  };
  from.on('data', (chunk: Buffer) => {
    const delay = delayMs();
    if (delay === 0 && queue.length === 0) {
      to.write(chunk);
      return;
    }
    queue.push({ due: performance.now() + delay, chunk });
    timer ??= setTimeout(drain, delay);
  });
  from.on('close', () => {
    clearTimeout(timer);
    to.destroy();
  });
}

/** The namespace, its relay and the faults that can be put on the path. */
export interface PolicyNetwork {
  /** `ip netns exec <namespace>`: the prefix of a command that runs inside it. */
  readonly exec: string[];
  /** The host's address on the veth pair (bind Redis here too, for the policy-service). */
  readonly hostAddress: string;
  /** The policy-service's address inside the namespace. */
  readonly address: string;
  /** Starts the relay to `target` (`host:port`) and resolves with its URL for the auth-services. */
  relay(target: { host: string; port: number }): Promise<string>;
  /** Delay added each way to every chunk through the relay (ms); 0 forwards at once. */
  setDelay(ms: number): void;
  /** Drops `percent` % of the packets to and from `port` inside the namespace; 0 removes the rule. */
  setLoss(port: number, percent: number): void;
  close(): Promise<void>;
}

/** True when this machine can make the namespace (root, iproute2 and nftables present). */
export function canMakeNetwork(): boolean {
  try {
    sh('ip', '-V');
    sh('nft', '--version');
    return process.getuid?.() === 0;
  } catch {
    return false;
  }
}

/** Creates the namespace and the veth pair (removing any left by an earlier run). */
export function createPolicyNetwork(): PolicyNetwork {
  try {
    sh('ip', 'netns', 'del', NAMESPACE);
  } catch {
    // none left over
  }
  sh('ip', 'netns', 'add', NAMESPACE);
  sh('ip', 'link', 'add', HOST_IF, 'type', 'veth', 'peer', 'name', NS_IF, 'netns', NAMESPACE);
  sh('ip', 'addr', 'add', `${HOST_ADDRESS}/30`, 'dev', HOST_IF);
  sh('ip', 'link', 'set', HOST_IF, 'up');
  sh('ip', '-n', NAMESPACE, 'addr', 'add', `${ADDRESS}/30`, 'dev', NS_IF);
  sh('ip', '-n', NAMESPACE, 'link', 'set', NS_IF, 'up');
  sh('ip', '-n', NAMESPACE, 'link', 'set', 'lo', 'up');
  let delay = 0;
  let server: Server | undefined;
  const sockets = new Set<Socket>();
  return {
    exec: ['ip', 'netns', 'exec', NAMESPACE],
    hostAddress: HOST_ADDRESS,
    address: ADDRESS,
    async relay(target) {
      server = createServer((client) => {
        const upstream = connect(target.port, target.host);
        for (const socket of [client, upstream]) {
          sockets.add(socket);
          socket.setNoDelay(true);
          socket.on('error', () => socket.destroy());
          socket.once('close', () => sockets.delete(socket));
        }
        delayedPipe(client, upstream, () => delay);
        delayedPipe(upstream, client, () => delay);
      });
      await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
      const address = server.address();
      return `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
    },
    setDelay(ms) {
      delay = ms;
    },
    setLoss(port, percent) {
      try {
        inNamespace('nft', 'delete', 'table', 'inet', 'chaos');
      } catch {
        // no rules yet
      }
      if (percent === 0) return;
      inNamespace('nft', 'add', 'table', 'inet', 'chaos');
      inNamespace('nft', 'add', 'chain', 'inet', 'chaos', 'in', '{ type filter hook input priority 0; }');
      inNamespace('nft', 'add', 'chain', 'inet', 'chaos', 'out', '{ type filter hook output priority 0; }');
      // Inbound to the policy-service's port and outbound from it: both directions lose.
      for (const [chain, side] of [
        ['in', 'dport'],
        ['out', 'sport'],
      ] as const)
        inNamespace('nft', 'add', 'rule', 'inet', 'chaos', chain, 'tcp', side, String(port), ...dropShare(percent));
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
      try {
        sh('ip', 'netns', 'del', NAMESPACE); // takes the veth pair with it
      } catch {
        // already gone
      }
    },
  };
}
