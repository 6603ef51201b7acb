import { UnrepresentableNumber, isRawJson } from './json.ts';

/**
 * Bounds on the shape of a parsed JSON value. Each is checked by one iterative walk that
 * stops at the first problem, so hostile nesting cannot overflow the stack and a refusal
 * costs at most the members walked before it.
 */
export interface ShapeLimits {
  /** Containers (records, arrays) nested in one another, the value itself counted as 1. */
  depth?: number;
  /** Members (keys of a record, elements of an array) of any one container. */
  membersPerContainer?: number;
  /** Members of every container in the value, all together. */
  members?: number;
  /** Characters of every key and string in the value, all together. */
  textChars?: number;
}

/** What a value's shape breaks first: where (the path from the value) and why. */
export interface ShapeProblem {
  path: (string | number)[];
  message: string;
  /** Set when the problem is a number no 64-bit integer equals (see json.ts). */
  number?: UnrepresentableNumber;
}

// Each node links to its parent; a path is built only for the node that has a problem.
interface Node {
  value: unknown;
  key: string | number | undefined;
  parent: Node | undefined;
  depth: number;
}

function pathOf(node: Node): (string | number)[] {
  const path: (string | number)[] = [];
  for (let at: Node | undefined = node; at?.key !== undefined; at = at.parent) path.push(at.key);
  return path.reverse();
}

/**
 * The first problem in a parsed value: an {@link UnrepresentableNumber}, or a bound of
 * `limits` crossed. Raw JSON holders (exact integers) are leaves. Undefined when none.
 */
export function inspectShape(value: unknown, limits: ShapeLimits = {}): ShapeProblem | undefined {
  const maxDepth = limits.depth ?? Infinity;
  const perContainer = limits.membersPerContainer ?? Infinity;
  const maxMembers = limits.members ?? Infinity;
  const maxText = limits.textChars ?? Infinity;
  let members = 0;
  let text = 0;
  const stack: Node[] = [{ value, key: undefined, parent: undefined, depth: 0 }];
  while (stack.length > 0) {
    const node = stack.pop() as Node;
    const current = node.value;
    if (current instanceof UnrepresentableNumber) return { path: pathOf(node), message: current.message, number: current };
    if (typeof node.key === 'string') text += node.key.length;
    if (typeof current === 'string') text += current.length;
    if (text > maxText) return { path: pathOf(node), message: `more than ${maxText} characters of keys and strings in all` };
    if (current === null || typeof current !== 'object' || isRawJson(current)) continue;
    const depth = node.depth + 1;
    if (depth > maxDepth) return { path: pathOf(node), message: `nested deeper than ${maxDepth} levels` };
    const isArray = Array.isArray(current);
    const keys = isArray ? undefined : Object.keys(current);
    const count = isArray ? current.length : (keys as string[]).length;
    if (count > perContainer) {
      return { path: pathOf(node), message: `has ${count} ${isArray ? 'elements' : 'keys'}; at most ${perContainer} are allowed` };
    }
    members += count;
    if (members > maxMembers) return { path: pathOf(node), message: `more than ${maxMembers} keys and elements in all` };
    if (isArray) current.forEach((member, index) => stack.push({ value: member, key: index, parent: node, depth }));
    else for (const key of keys as string[]) stack.push({ value: (current as Record<string, unknown>)[key], key, parent: node, depth });
  }
  return undefined;
}

/**
 * The first {@link UnrepresentableNumber} in a parsed value, with its path, or undefined.
 * Iterative, so hostile nesting cannot overflow the stack; raw JSON holders are leaves.
 */
export function findUnrepresentable(value: unknown): { path: (string | number)[]; number: UnrepresentableNumber } | undefined {
  const found = inspectShape(value);
  return found?.number === undefined ? undefined : { path: found.path, number: found.number };
}
