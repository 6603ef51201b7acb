import { z } from 'zod';
import { UnrepresentableNumber, isRawJson } from './json.ts';
import { inspectShape, type ShapeLimits } from './shape.ts';

// The holders parseJson puts in place of numbers a double cannot hold, reaching a field
// of another type: say what the input was, not "received UnrepresentableNumber" or "object".
z.config({
  customError: (issue) => {
    if (issue.input instanceof UnrepresentableNumber) return issue.input.message;
    if (issue.code === 'invalid_type' && isRawJson(issue.input)) return `expected ${issue.expected}, received number`;
    return undefined;
  },
});

/** Bounds that keep hostile input from costing more than a few milliseconds to reject. */
export const LIMITS = {
  typeName: 256,
  entityId: 1024,
  entitiesPerRequest: 1000,
  parentsPerEntity: 256,
  policyTextBytes: 1_000_000,
  /**
   * Nesting of any Cedar value (entity attributes and tags). Serializing a value is
   * recursive (JSON.stringify, Cedar's parser), so a few thousand levels would overflow
   * the stack; 32 is far beyond any real attribute.
   */
  valueDepth: 32,
  /** Nesting of a request's `context`, the record itself counted as 1. */
  contextDepth: 8,
  /** Keys of one record, or elements of one set, inside a `context`. */
  contextMembersPerContainer: 64,
  /** Keys and elements of a whole `context`, at every level together. */
  contextMembers: 256,
} as const;

const CONTEXT_SHAPE: ShapeLimits = {
  depth: LIMITS.contextDepth,
  membersPerContainer: LIMITS.contextMembersPerContainer,
  members: LIMITS.contextMembers,
};

/** `{"type": "Photo", "id": "a.jpg"}`: a Cedar entity reference. */
export const EntityRef = z.strictObject({
  type: z.string().min(1).max(LIMITS.typeName).describe('Cedar entity type, e.g. "User" or "Action"'),
  id: z.string().max(LIMITS.entityId),
});
export type EntityRef = z.infer<typeof EntityRef>;

/** Cedar's JSON form of a reference inside entity data: either `{type,id}` or `{"__entity": {type,id}}`. */
export const EntityRefJson = z.union([EntityRef, z.strictObject({ __entity: EntityRef })]);

/** A zod check that refuses the first shape problem (see shape.ts), naming its path. */
const shaped =
  (limits: ShapeLimits) =>
  (value: unknown, context: z.RefinementCtx): void => {
    const found = inspectShape(value, limits);
    if (found !== undefined) context.addIssue({ code: 'custom', message: found.message, path: found.path });
  };

/**
 * A Cedar value in JSON (records, sets, entity refs, extension calls); Cedar checks the
 * details. Parsed with `parseJson`, integers reach Cedar exactly; one no 64-bit integer
 * equals is refused here, naming its path, and so is nesting deeper than
 * `LIMITS.valueDepth`.
 */
export const CedarValue = z
  .unknown()
  .superRefine(shaped({ depth: LIMITS.valueDepth }))
  .describe('a Cedar value in Cedar JSON format');

/**
 * A request's `context`: a record of Cedar values, bounded as a whole (depth, keys per
 * record, keys in all; see LIMITS) because every request carries one to Cedar and into
 * cache keys. Checked in one walk at the record, so its values are not walked twice.
 */
export const CedarContext = cedarContext();

/**
 * A `context` schema: {@link CedarContext}'s bounds, and at most `textChars` characters of
 * keys and strings when given, checked in the same walk.
 */
export function cedarContext(textChars?: number) {
  return z
    .record(z.string(), z.unknown().describe('a Cedar value in Cedar JSON format'))
    .superRefine(shaped({ ...CONTEXT_SHAPE, textChars }))
    .describe(
      `at most ${LIMITS.contextDepth} levels deep, ${LIMITS.contextMembersPerContainer} keys or elements per record or set, ${LIMITS.contextMembers} in all${textChars === undefined ? '' : `, ${textChars} characters of keys and strings`}`,
    );
}

/** Cedar entity JSON, as in Cedar's entities.json. */
export const Entity = z.strictObject({
  uid: EntityRefJson,
  attrs: z.record(z.string(), CedarValue).default({}),
  parents: z.array(EntityRefJson).max(LIMITS.parentsPerEntity).default([]),
  tags: z.record(z.string(), CedarValue).optional(),
});
export type Entity = z.infer<typeof Entity>;

/** The body of `POST /evaluate` and one item of `POST /evaluate/batch`. */
export const EvaluateRequest = z.strictObject({
  principal: EntityRef,
  action: EntityRef,
  resource: EntityRef,
  context: CedarContext.default({}),
  entities: z.array(Entity).max(LIMITS.entitiesPerRequest).default([]),
});
export type EvaluateRequest = z.infer<typeof EvaluateRequest>;

/** An evaluation error exactly as Cedar reports it (a policy that errored is skipped). */
export const CedarError = z.object({
  policyId: z.string(),
  error: z.object({ message: z.string() }).loose(),
});

/** The answer of `POST /evaluate`: Cedar's decision, the determining policies and errors. */
export const EvaluateResponse = z.object({
  decision: z.enum(['allow', 'deny']),
  reasons: z.array(z.string()).describe('ids of the policies that determined the decision'),
  errors: z.array(CedarError),
  policyVersion: z.string(),
});
export type EvaluateResponse = z.infer<typeof EvaluateResponse>;

/** `POST /evaluate/batch`: items are validated one by one so one bad item fails only its slot. */
export const BatchEvaluateRequest = z.strictObject({
  requests: z.array(z.unknown()).min(1),
});

/** The error placed in a batch slot whose item was invalid. */
export const ItemError = z.object({ error: z.object({ code: z.string(), message: z.string() }) });

export const BatchEvaluateResponse = z.object({
  policyVersion: z.string(),
  results: z.array(z.union([EvaluateResponse.omit({ policyVersion: true }), ItemError])),
});
export type BatchEvaluateResponse = z.infer<typeof BatchEvaluateResponse>;

/**
 * `PUT /policies` (and a `POST /policies/impact` candidate). The policies are replaced; a
 * schema or entities left out stay as they are live, since a client changing policies
 * rarely holds the entities (`GET /policies` does not return them) and silently dropping
 * the schema would stop requests being checked against it.
 */
export const PutPoliciesRequest = z.strictObject({
  policies: z.string().max(LIMITS.policyTextBytes),
  schema: z.string().max(LIMITS.policyTextBytes).nullable().optional().describe('left out: the live schema stays; null or "": none'),
  entities: z.array(Entity).max(100_000).optional().describe('left out: the live entities stay; []: none'),
});
export type PutPoliciesRequest = z.infer<typeof PutPoliciesRequest>;

/** `GET /policies` and the answer of a successful `PUT /policies`. */
export const PoliciesResponse = z.object({
  version: z.string(),
  policies: z.string(),
  schema: z.string().nullable(),
  policyIds: z.array(z.string()),
  entityCount: z.number().int(),
});
export type PoliciesResponse = z.infer<typeof PoliciesResponse>;
