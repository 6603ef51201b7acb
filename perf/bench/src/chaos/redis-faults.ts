// The Redis faults of the chaos run, on a single redis-server or on a Redis Cluster (where
// they hit one master, whose replica the cluster promotes).
import type { RedisClusterHandle } from '@portcullis/testing';
import type { BenchStack } from '../_stack.ts';

/** Kill and restart, freeze and thaw the stack's Redis (one master of a cluster). */
export interface RedisFaults {
  /** Words for the report: what is faulted. */
  readonly target: string;
  kill(): Promise<void>;
  restart(): Promise<void>;
  freeze(): Promise<void>;
  thaw(): Promise<void>;
}

const signal = (pid: number | undefined, name: NodeJS.Signals): void => {
  if (pid === undefined) throw new Error(`no process to send ${name} to`);
  process.kill(pid, name);
};

/** Faults of the stack's own redis-server. */
export function serverFaults(stack: BenchStack): RedisFaults {
  const redis = stack.redis;
  if (redis === undefined) throw new Error('this stack has no redis-server of its own');
  let pid: number | undefined;
  return {
    target: 'Redis',
    kill: () => redis.stop('SIGKILL'),
    restart: () => redis.restart(),
    async freeze() {
      // Asked while Redis still answers: a frozen one would not tell its pid.
      pid = (await stack.serverPids())['redis-server'];
      signal(pid, 'SIGSTOP');
    },
    async thaw() {
      signal(pid, 'SIGCONT');
    },
  };
}

/**
 * Faults of one master of `cluster`, chosen by the key it serves when the fault starts:
 * the hardest cases for the audit, not whichever master comes first. A kill hits the
 * master of `keys.kill` (the audit record: its replica is promoted without the writes it
 * had not replicated), a freeze the master of `keys.freeze` (the decision stream the
 * auth-services publish to).
 */
export function clusterFaults(cluster: RedisClusterHandle, keys: { kill: string; freeze: string }): RedisFaults {
  let victim: number | undefined;
  const pickMaster = async (key: string): Promise<number> => {
    victim = await cluster.masterOf(key);
    return victim;
  };
  return {
    target: 'a Redis Cluster master',
    async kill() {
      await cluster.stop(await pickMaster(keys.kill), 'SIGKILL');
    },
    async restart() {
      if (victim !== undefined) await cluster.restart(victim);
      await cluster.waitUntilOk();
    },
    async freeze() {
      signal(cluster.process(await pickMaster(keys.freeze)).child.pid, 'SIGSTOP');
    },
    async thaw() {
      if (victim !== undefined) signal(cluster.process(victim).child.pid, 'SIGCONT');
      await cluster.waitUntilOk();
    },
  };
}
