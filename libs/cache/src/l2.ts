import { closeRedis, isCluster, type RedisClient } from '@portcullis/redis';
import type { Redis } from 'ioredis';
import { keySlot } from './slot.ts';

/** One Redis command of a batch: name, its (routing) key, then the other arguments. */
export type L2Command = [name: string, key: string, ...args: (string | number)[]];

/**
 * What the cache needs from its second tier. One implementation talks to Redis
 * (standalone or Cluster); tests wrap it to inject failures and stalls.
 */
export interface L2Driver {
  get(key: string): Promise<string | null>;
  /**
   * Sends the commands in one round trip per Redis node (one in all for a standalone
   * server); the result has each command's reply, or an Error for a command that failed.
   */
  pipeline(commands: L2Command[]): Promise<unknown[]>;
  /** Deletes every key matching a SCAN pattern, on every master; returns how many. */
  deleteMatching(pattern: string): Promise<number>;
  /** Round trips sent so far: a pipeline counts one per node it reached. */
  readonly roundTrips: number;
  /** Whether the connection is up (for `/ready`). */
  readonly ready: boolean;
  close(): Promise<void>;
}

/** The Redis implementation of {@link L2Driver}. */
export class RedisL2 implements L2Driver {
  readonly client: RedisClient;
  readonly #owned: boolean;
  #roundTrips = 0;

  /** @param owned when true, `close()` also closes the client */
  constructor(client: RedisClient, owned = false) {
    this.client = client;
    this.#owned = owned;
  }

  get roundTrips(): number {
    return this.#roundTrips;
  }

  get ready(): boolean {
    return this.client.status === 'ready';
  }

  get(key: string): Promise<string | null> {
    this.#roundTrips += 1;
    return this.client.get(key);
  }

  async pipeline(commands: L2Command[]): Promise<unknown[]> {
    if (commands.length === 0) return [];
    const groups = this.#group(commands);
    const results: unknown[] = new Array(commands.length);
    await Promise.all(
      groups.map(async (indexes) => {
        const pipeline = this.client.pipeline(indexes.map((i) => commands[i] as L2Command));
        this.#roundTrips += 1;
        const replies = (await pipeline.exec()) ?? [];
        indexes.forEach((commandIndex, replyIndex) => {
          const [error, reply] = replies[replyIndex] ?? [new Error('no reply'), null];
          results[commandIndex] = error ?? reply;
        });
      }),
    );
    return results;
  }

  async deleteMatching(pattern: string): Promise<number> {
    const nodes: Redis[] = isCluster(this.client) ? this.client.nodes('master') : [this.client];
    let deleted = 0;
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) {
          // One UNLINK per key: keys on one node may still sit in different slots.
          const replies = (await node.pipeline(keys.map((key) => ['unlink', key])).exec()) ?? [];
          for (const [, reply] of replies) deleted += Number(reply ?? 0);
        }
      } while (cursor !== '0');
    }
    return deleted;
  }

  async close(): Promise<void> {
    if (this.#owned) await closeRedis(this.client);
  }

  /** Indexes of the commands grouped by owning node (one group for a standalone server). */
  #group(commands: L2Command[]): number[][] {
    if (!isCluster(this.client)) return [commands.map((_command, i) => i)];
    const byNode = new Map<string, number[]>();
    const slots = this.client.slots;
    commands.forEach((command, i) => {
      const slot = keySlot(command[1]);
      const node = slots[slot]?.[0] ?? `slot:${slot}`;
      const group = byNode.get(node);
      if (group === undefined) byNode.set(node, [i]);
      else group.push(i);
    });
    return [...byNode.values()];
  }
}
