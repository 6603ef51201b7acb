import { readFile } from 'node:fs/promises';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { Entity, parseJson } from '@portcullis/contracts';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { cedarFindings, nodeOffset, positionOfCharOffset, type Finding } from './findings.ts';

/** V8's JSON.parse messages end with `(line 2 column 10)`. */
const JSON_POSITION = /\(line (\d+) column (\d+)\)/;

/**
 * Checks an `entities.json` as the loader and Cedar will (its JSON, the entity shape,
 * then Cedar against the schema when there is one) and points each problem at the
 * entity it is about. Cedar checks the whole set first; only when it refuses are the
 * entities checked one by one to find which, so a large file costs one call when valid.
 */
export async function checkEntitiesFile(path: string, schema: string | null): Promise<{ findings: Finding[]; count: number }> {
  const text = await readFile(path, 'utf8');
  let raw: unknown;
  try {
    raw = parseJson(text);
  } catch (error) {
    const message = (error as Error).message;
    const found = JSON_POSITION.exec(message);
    const position = found ? { line: Number(found[1]), column: Number(found[2]) } : {};
    return { findings: [{ file: path, ...position, message: `not valid JSON: ${message}` }], count: 0 };
  }
  // A second parse, only for positions: JSON is YAML, and `yaml` keeps each node's offset.
  const doc = parseDocument(text);
  const at = (where: readonly (string | number)[]) => positionOfCharOffset(text, nodeOffset(doc, where));

  const parsed = z.array(Entity).safeParse(raw);
  if (!parsed.success) {
    const findings = parsed.error.issues.map((issue) => {
      const where = issue.path as (string | number)[];
      return { file: path, ...at(where), message: `${where.join('.') || 'entities'}: ${issue.message}` };
    });
    return { findings, count: 0 };
  }
  const entities = parsed.data;
  const check = (list: Entity[]) => cedar.checkParseEntities({ entities: list as cedar.Entities, schema });
  const whole = check(entities);
  if (whole.type === 'success') return { findings: [], count: entities.length };

  const findings: Finding[] = [];
  entities.forEach((entity, index) => {
    const one = check([entity]);
    if (one.type === 'failure') {
      findings.push(...cedarFindings(path, text, one.errors).map((finding) => ({ ...finding, ...at([index, 'uid']) })));
    }
  });
  // What only the whole set shows (a uid given twice, say) has no single place.
  if (findings.length === 0) findings.push(...cedarFindings(path, text, whole.errors));
  return { findings, count: entities.length };
}
