import { connect } from 'node:http2';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import type { EntityRef, EvaluateRequest } from '@portcullis/contracts';
import type { PolicyBundle } from './engine/bundle.ts';

/** How much traffic the warm-up sends before the real port opens. */
const H2_BATCHES = 24;
const ITEMS_PER_BATCH = 16;
const HTTP1_REQUESTS = 24;

/**
 * Requests shaped like real traffic for the live bundle: for each action the schema
 * declares, loaded entities of the principal and resource types it applies to. Without
 * a schema (or matching entities) it falls back to loaded entities and a made-up action,
 * which Cedar still evaluates (or rejects: that path runs too).
 */
export function warmUpRequests(bundle: PolicyBundle, count: number): EvaluateRequest[] {
  const byType = new Map<string, EntityRef[]>();
  for (const entity of bundle.source.entities) {
    const uid = ('__entity' in entity.uid ? entity.uid.__entity : entity.uid) as EntityRef;
    byType.set(uid.type, [...(byType.get(uid.type) ?? []), uid]);
  }
  const shapes = schemaShapes(bundle.source.schema).filter(
    (shape) => shape.principals.some((t) => byType.has(t)) && shape.resources.some((t) => byType.has(t)),
  );
  const all = [...byType.values()].flat();
  const pick = (types: string[], n: number): EntityRef => {
    const candidates = types.flatMap((type) => byType.get(type) ?? []);
    return candidates[n % candidates.length] ?? all[n % Math.max(1, all.length)] ?? { type: 'WarmUp', id: String(n) };
  };
  return Array.from({ length: count }, (_, n) => {
    const shape = shapes[n % Math.max(1, shapes.length)];
    return shape === undefined
      ? { principal: pick([], n), action: { type: 'Action', id: 'warm-up' }, resource: pick([], n * 7 + 3), context: {}, entities: [] }
      : {
          principal: pick(shape.principals, n),
          action: shape.action,
          resource: pick(shape.resources, n * 7 + 3),
          context: {},
          entities: [],
        };
  });
}

/** Each action of a Cedar schema with the entity types it applies to, names qualified by namespace. */
function schemaShapes(schema: string | null): { action: EntityRef; principals: string[]; resources: string[] }[] {
  if (schema === null) return [];
  const answer = cedar.schemaToJson(schema);
  if (answer.type !== 'success') return [];
  type Action = { appliesTo?: { principalTypes?: string[]; resourceTypes?: string[] } };
  const namespaces = answer.json as unknown as Record<string, { actions?: Record<string, Action> }>;
  return Object.entries(namespaces).flatMap(([namespace, { actions = {} }]) => {
    const qualify = (name: string): string => (namespace === '' || name.includes('::') ? name : `${namespace}::${name}`);
    return Object.entries(actions).map(([id, action]) => ({
      action: { type: qualify('Action'), id },
      principals: (action.appliesTo?.principalTypes ?? []).map(qualify),
      resources: (action.appliesTo?.resourceTypes ?? []).map(qualify),
    }));
  });
}

/**
 * Sends the warm-up traffic to `origin`: batches over h2c (the auth-service's path) and
 * single evaluations over HTTP/1.1 (curl's and k6's), a few at a time, as load would.
 * Answers are read and dropped; a failure here only means a colder start, so it is
 * reported to the caller, who logs it and serves anyway.
 */
export async function sendWarmUpTraffic(origin: string, requests: EvaluateRequest[]): Promise<void> {
  const session = connect(origin);
  session.on('error', () => undefined);
  try {
    const batch = (n: number): Promise<void> =>
      new Promise((resolve, reject) => {
        const items = Array.from({ length: ITEMS_PER_BATCH }, (_, i) => requests[(n * ITEMS_PER_BATCH + i) % requests.length]);
        const stream = session.request({ ':method': 'POST', ':path': '/evaluate/batch', 'content-type': 'application/json' });
        stream.on('error', reject);
        stream.on('end', resolve);
        stream.resume();
        stream.end(JSON.stringify({ requests: items }));
      });
    for (let n = 0; n < H2_BATCHES; n += 4) await Promise.all([n, n + 1, n + 2, n + 3].map(batch));
  } finally {
    session.close();
  }
  for (let n = 0; n < HTTP1_REQUESTS; n += 4) {
    await Promise.all(
      [n, n + 1, n + 2, n + 3].map(async (i) => {
        const res = await fetch(`${origin}/evaluate`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(requests[i % requests.length]),
        });
        await res.arrayBuffer();
      }),
    );
  }
}
