import type { Entity, EntityRef } from '@portcullis/contracts';

/** The map key of an entity: `Type::"id"` as Cedar prints it, so it cannot collide. */
export const refKey = (ref: EntityRef): string => `${ref.type}::${JSON.stringify(ref.id)}`;

/** Normalizes Cedar's two JSON forms of an entity reference to `{type, id}`. */
export function asRef(value: unknown): EntityRef | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const inner = '__entity' in value ? (value as { __entity: unknown }).__entity : value;
  if (typeof inner !== 'object' || inner === null) return undefined;
  const { type, id } = inner as { type?: unknown; id?: unknown };
  return typeof type === 'string' && typeof id === 'string' ? { type, id } : undefined;
}

/**
 * Every entity reference inside a JSON value (attributes, context, a policy's JSON
 * form). It over-approximates: a record that merely looks like `{type, id}` counts too,
 * which costs a lookup and never a wrong answer.
 */
export function collectRefs(value: unknown, out: EntityRef[] = []): EntityRef[] {
  if (Array.isArray(value)) {
    for (const item of value) collectRefs(item, out);
  } else if (typeof value === 'object' && value !== null) {
    const ref = asRef(value);
    if (ref !== undefined) out.push(ref);
    for (const nested of Object.values(value)) collectRefs(nested, out);
  }
  return out;
}

/** The references an entity points at: its parents and any entity in its attributes or tags. */
export function outgoingRefs(entity: Entity): EntityRef[] {
  const refs: EntityRef[] = [];
  for (const parent of entity.parents) {
    const ref = asRef(parent);
    if (ref) refs.push(ref);
  }
  collectRefs(entity.attrs, refs);
  if (entity.tags) collectRefs(entity.tags, refs);
  return refs;
}
