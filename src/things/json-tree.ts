/**
 * Pure helpers on JSON trees addressed by path segments: read, replace, delete and RFC 7396
 * merge. They never mutate their input; they return new trees sharing untouched branches.
 */
import type { JsonObject, JsonValue } from '../protocol/signal.ts';

/** Whether a JSON value is an object (not an array, not null). */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Defines a key without ever touching the prototype (a `__proto__` key stays data). */
function assign(target: JsonObject, key: string, value: JsonValue): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** The value at `segments`, or undefined when any step is missing. */
export function getAt(tree: JsonValue | undefined, segments: readonly string[]): JsonValue | undefined {
  let node = tree;
  for (const segment of segments) {
    if (!isJsonObject(node) || !Object.hasOwn(node, segment)) return undefined;
    node = node[segment];
  }
  return node;
}

/** A copy of `tree` with `value` at `segments`, creating missing objects on the way. */
export function setAt(tree: JsonObject, segments: readonly string[], value: JsonValue): JsonObject {
  const [head, ...rest] = segments;
  if (head === undefined) return isJsonObject(value) ? value : tree;
  const copy: JsonObject = { ...tree };
  const child = Object.hasOwn(tree, head) ? tree[head] : undefined;
  assign(copy, head, rest.length === 0 ? value : setAt(isJsonObject(child) ? child : {}, rest, value));
  return copy;
}

/** A copy of `tree` without the value at `segments` (unchanged when it is absent). */
export function deleteAt(tree: JsonObject, segments: readonly string[]): JsonObject {
  const [head, ...rest] = segments;
  if (head === undefined || !Object.hasOwn(tree, head)) return tree;
  const copy: JsonObject = { ...tree };
  if (rest.length === 0) {
    delete copy[head];
    return copy;
  }
  const child = tree[head];
  if (!isJsonObject(child)) return tree;
  assign(copy, head, deleteAt(child, rest));
  return copy;
}

/**
 * Applies an RFC 7396 JSON merge patch: objects merge key by key, `null` deletes, anything else
 * replaces. Returns undefined when the patch deletes the target itself (`null`).
 *
 * @example mergePatch({ a: 1, b: { c: 2 } }, { b: { c: null, d: 3 } }) // { a: 1, b: { d: 3 } }
 */
export function mergePatch(target: JsonValue | undefined, patch: JsonValue): JsonValue | undefined {
  if (patch === null) return undefined;
  if (!isJsonObject(patch)) return patch;
  const result: JsonObject = isJsonObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    const merged = mergePatch(Object.hasOwn(result, key) ? result[key] : undefined, value);
    if (merged === undefined) delete result[key];
    else assign(result, key, merged);
  }
  return result;
}

/**
 * The paths a merge patch writes to (its leaves: non-object values, `null`, and empty objects),
 * each as segments relative to the patched location. Used to check WRITE per touched path.
 */
export function mergePatchLeaves(patch: JsonValue, prefix: readonly string[] = []): string[][] {
  if (!isJsonObject(patch) || Object.keys(patch).length === 0) return [[...prefix]];
  return Object.entries(patch).flatMap(([key, value]) => mergePatchLeaves(value, [...prefix, key]));
}

/**
 * Checks a parsed JSON body for nesting deeper than `maxDepth` and for `__proto__` keys, which
 * could otherwise poison prototypes when the value is later spread into objects.
 * Returns a problem description, or undefined when the value is acceptable.
 */
export function checkJsonShape(value: unknown, maxDepth: number): string | undefined {
  const stack: { node: unknown; depth: number }[] = [{ node: value, depth: 1 }];
  while (stack.length > 0) {
    const { node, depth } = stack.pop()!;
    if (typeof node !== 'object' || node === null) continue;
    if (depth > maxDepth) return `JSON nesting exceeds the maximum depth of ${maxDepth}`;
    if (!Array.isArray(node) && Object.hasOwn(node, '__proto__')) return "JSON key '__proto__' is not allowed";
    for (const child of Object.values(node)) stack.push({ node: child, depth: depth + 1 });
  }
  return undefined;
}
