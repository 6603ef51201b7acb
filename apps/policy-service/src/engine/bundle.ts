import { createHash } from 'node:crypto';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import type { Entity } from '@portcullis/contracts';
import { profileDereferences } from './dereferences.ts';
import { EntitySlicer } from './entity-slicer.ts';
import { PolicyInvalidError } from './errors.ts';

/** What a policy set is made of, as loaded from POLICY_DIR or sent to `PUT /policies`. */
export interface BundleSource {
  policies: string;
  schema?: string | undefined;
  entities?: Entity[] | undefined;
}

/** A validated, compiled policy set: everything needed to evaluate, and nothing mutable. */
export interface PolicyBundle {
  readonly version: string;
  readonly source: Required<Pick<BundleSource, 'policies'>> & { schema: string | null; entities: Entity[] };
  /** Policy text by id: the `@id` annotation, else Cedar's own `policy<N>` numbering. */
  readonly policies: Record<string, string>;
  readonly policyIds: string[];
  readonly slicer: EntitySlicer;
}

const messages = (errors: { message: string }[]): string[] => errors.map((error) => error.message);

/**
 * Parses and validates a bundle with Cedar: the policy text, the schema (when given),
 * the policies against the schema, and the entities against the schema. Throws
 * {@link PolicyInvalidError} with Cedar's messages at the first stage that fails.
 */
export function compileBundle(source: BundleSource): PolicyBundle {
  const parts = cedar.policySetTextToParts(source.policies);
  if (parts.type === 'failure') throw new PolicyInvalidError('policies', messages(parts.errors));
  if (parts.policy_templates.length > 0) {
    throw new PolicyInvalidError('policies', ['templates are not supported; write static policies']);
  }
  const policies: Record<string, string> = {};
  const policyJson: unknown[] = [];
  parts.policies.forEach((text, index) => {
    const json = cedar.policyToJson(text);
    if (json.type === 'failure') throw new PolicyInvalidError('policies', messages(json.errors));
    const id = json.json.annotations?.id ?? `policy${index}`;
    if (id in policies) throw new PolicyInvalidError('policies', [`duplicate policy id "${id}"`]);
    policies[id] = text;
    policyJson.push(json.json);
  });

  const schema = source.schema?.trim() ? source.schema : null;
  const entities = source.entities ?? [];
  if (schema !== null) {
    const parsedSchema = cedar.checkParseSchema(schema);
    if (parsedSchema.type === 'failure') throw new PolicyInvalidError('schema', messages(parsedSchema.errors));
    const validation = cedar.validate({ schema, policies: { staticPolicies: policies } });
    if (validation.type === 'failure') throw new PolicyInvalidError('validation', messages(validation.errors));
    if (validation.validationErrors.length > 0) {
      throw new PolicyInvalidError(
        'validation',
        validation.validationErrors.map((e) => `${e.policyId}: ${e.error.message}`),
      );
    }
  }
  const parsedEntities = cedar.checkParseEntities({ entities: entities as cedar.Entities, schema });
  if (parsedEntities.type === 'failure') throw new PolicyInvalidError('entities', messages(parsedEntities.errors));

  const version = createHash('sha256')
    .update(JSON.stringify([policies, schema, entities]))
    .digest('hex')
    .slice(0, 16);
  return {
    version,
    source: { policies: source.policies, schema, entities },
    policies,
    policyIds: Object.keys(policies),
    slicer: new EntitySlicer(entities, profileDereferences(policyJson)),
  };
}
