import type { EntityRef } from '@portcullis/contracts';
import { asRef, collectRefs } from './entity-refs.ts';

/** Operators that read an entity's data (attributes, tags or ancestors) from their left operand. */
const READS_LEFT = new Set(['.', 'has', 'in', 'is', 'getTag', 'hasTag']);
/** Request variables whose entities the slicer always passes. */
const REQUEST_ENTITIES = new Set(['principal', 'action', 'resource']);

/** What the policies can read beyond the request's own entities. */
export interface DereferenceProfile {
  /**
   * True when some policy reads data of an entity it reached through an attribute or
   * the context (`resource.owner.department`, `context.device in ...`): then entities
   * referenced from attributes must be passed too.
   */
  followsAttributes: boolean;
  /** Entity literals whose data a policy reads (`Config::"flags".open`). */
  literalRoots: EntityRef[];
}

/**
 * Walks a policy's JSON form (Cedar's EST) to find which entities' data Cedar may read.
 * Comparing entities (`==`, `contains`) needs only their uids; the operators in
 * READS_LEFT need the data of whatever their left side evaluates to.
 */
export function profileDereferences(policies: unknown[]): DereferenceProfile {
  const profile: DereferenceProfile = { followsAttributes: false, literalRoots: [] };
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      node.forEach(visit);
      return;
    }
    if (typeof node !== 'object' || node === null) return;
    for (const [op, operand] of Object.entries(node)) {
      if (READS_LEFT.has(op) && typeof operand === 'object' && operand !== null && 'left' in operand) {
        const left = (operand as { left: unknown }).left as Record<string, unknown>;
        const variable = left.Var;
        if (typeof variable === 'string' && REQUEST_ENTITIES.has(variable)) {
          // Data of principal/action/resource and their ancestors is always passed.
        } else if ('Value' in left) {
          const literal = asRef(left.Value);
          if (literal) profile.literalRoots.push(literal);
          else collectRefs(left.Value, profile.literalRoots);
        } else if (variable !== 'context') {
          // `context.x` and `context has x` read the request's record, not an entity.
          profile.followsAttributes = true;
        }
      }
      visit(operand);
    }
  };
  for (const policy of policies) visit((policy as { conditions?: unknown }).conditions);
  return profile;
}
