import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Entity, EvaluateRequest } from '@portcullis/contracts';

/** The sample domain shipped with the policy-service, read as plain files. */
export async function readSampleDomain(dir: string): Promise<{ policies: string; schema: string; entities: Entity[] }> {
  const files = (await readdir(dir)).sort();
  const policies = (await Promise.all(files.filter((f) => f.endsWith('.cedar')).map((f) => readFile(join(dir, f), 'utf8')))).join('\n');
  return {
    policies,
    schema: await readFile(join(dir, 'schema.cedarschema'), 'utf8'),
    entities: JSON.parse(await readFile(join(dir, 'entities.json'), 'utf8')) as Entity[],
  };
}

/** A deterministic PRNG (mulberry32), so every run sends the same requests. */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Requests shaped like the auth-service's: the principal comes from a token, so it is
 * sent as a per-request entity with its roles; resources are the sample's documents and
 * photos; contexts vary so (almost) no two requests are the same.
 */
export function makeRequests(count: number, entities: Entity[], seed = 42): EvaluateRequest[] {
  const random = prng(seed);
  const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)]!;
  const resources = entities
    .map((e) => e.uid as { type: string; id: string })
    .filter((uid) => uid.type === 'Document' || uid.type === 'Photo');
  const roles = ['admin', 'editor', 'viewer'];
  const actions = ['view', 'view', 'view', 'edit', 'delete', 'share'];
  return Array.from({ length: count }, (_, index) => {
    const user = `user-${index % 997}`;
    return {
      principal: { type: 'User', id: user },
      action: { type: 'Action', id: pick(actions) },
      resource: pick(resources),
      context: { riskScore: Math.floor(random() * 100), mfa: random() < 0.5 },
      entities: [{ uid: { type: 'User', id: user }, attrs: {}, parents: random() < 0.8 ? [{ type: 'Role', id: pick(roles) }] : [] }],
    };
  });
}
