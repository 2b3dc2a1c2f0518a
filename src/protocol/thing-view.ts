/**
 * The thing "as known from the event": what RQL filters, `extraFields` and the Normalized mapper see.
 * Following Ditto, the event's value is placed at its path; when the host supplied the thing after
 * the event (`signal.thing`) that is the base, so filters can read fields the event did not touch.
 */
import type { JsonObject, JsonValue, Signal, ThingEvent } from './signal.ts';

/** Splits a JSON pointer (`/a/b`, `a/b`) into unescaped segments; `/` gives `[]`. */
export function pointerSegments(pointer: string): string[] {
  const trimmed = pointer.startsWith('/') ? pointer.slice(1) : pointer;
  if (trimmed === '') return [];
  return trimmed.split('/').map((s) => (s.includes('~') ? s.replace(/~1/g, '/').replace(/~0/g, '~') : s));
}

/** Reads the value at `segments` inside `root`. */
export function getAt(root: JsonValue | undefined, segments: readonly string[]): JsonValue | undefined {
  let node: JsonValue | undefined = root;
  for (const segment of segments) {
    if (node === null || typeof node !== 'object' || Array.isArray(node)) return undefined;
    node = (node as JsonObject)[segment];
  }
  return node;
}

function isObject(value: JsonValue | undefined): value is JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** RFC 7396 merge patch (returns a new value, inputs untouched). */
export function mergePatch(target: JsonValue | undefined, patch: JsonValue): JsonValue {
  if (!isObject(patch)) return patch;
  const result: JsonObject = isObject(target) ? { ...target } : {};
  for (const key of Object.keys(patch)) {
    const p = patch[key] as JsonValue;
    if (p === null) delete result[key];
    else result[key] = mergePatch(result[key], p);
  }
  return result;
}

/** Returns a copy of `root` with `update(old)` at `segments` (copy-on-write along the path only). */
function updateAt(root: JsonObject, segments: readonly string[], update: (old: JsonValue | undefined) => JsonValue | undefined): JsonObject {
  if (segments.length === 0) {
    const next = update(root);
    return isObject(next) ? next : {};
  }
  const [head, ...rest] = segments as [string, ...string[]];
  const copy: JsonObject = { ...root };
  const child = copy[head];
  if (rest.length === 0) {
    const next = update(child);
    if (next === undefined) delete copy[head];
    else copy[head] = next;
  } else {
    copy[head] = updateAt(isObject(child) ? child : {}, rest, update);
  }
  return copy;
}

/** Builds the thing view of a thing event (not cached; see {@link thingViewOf}). */
export function buildThingView(event: ThingEvent): JsonObject {
  const segments = pointerSegments(event.path);
  let view: JsonObject = event.thing ?? {};
  if (event.action === 'deleted') {
    view = segments.length === 0 ? {} : updateAt(view, segments, () => undefined);
  } else if (event.value !== undefined) {
    const value = event.value;
    view = event.action === 'merged'
      ? updateAt(view, segments, (old) => mergePatch(old, value))
      : updateAt(view, segments, () => value);
  }
  if (view.thingId !== event.thingId) view = { ...view, thingId: event.thingId };
  return view;
}

const viewCache = new WeakMap<Signal, JsonObject>();

/**
 * The thing view of a signal, computed once per signal object and shared by all targets.
 * Non-event thing signals see `{thingId}`; policy signals `{policyId}`; connection signals `{}`.
 */
export function thingViewOf(signal: Signal): JsonObject {
  let view = viewCache.get(signal);
  if (view === undefined) {
    switch (signal.type) {
      case 'thing.event': view = buildThingView(signal); break;
      case 'thing.message':
      case 'thing.command': view = { thingId: signal.thingId }; break;
      case 'policy.announcement': view = { policyId: signal.policyId }; break;
      case 'connection.announcement': view = {}; break;
    }
    viewCache.set(signal, view);
  }
  return view;
}

/** Deep merge where `over` wins; used to lay the event view over looked-up extra fields. */
export function deepMerge(under: JsonObject, over: JsonObject): JsonObject {
  const result: JsonObject = { ...under };
  for (const key of Object.keys(over)) {
    const o = over[key] as JsonValue;
    const u = result[key];
    result[key] = isObject(o) && isObject(u) ? deepMerge(u, o) : o;
  }
  return result;
}

/** Picks `fields` (pointers like `attributes/location`) out of `source` into a new object. */
export function pickFields(source: JsonObject, fields: readonly string[]): JsonObject {
  let result: JsonObject = {};
  for (const field of fields) {
    const segments = pointerSegments(field);
    const value = getAt(source, segments);
    if (value !== undefined) result = updateAt(result, segments, () => value);
  }
  return result;
}

/** `{}` with `value` placed at `pointer` (`/a/b` → `{a:{b:value}}`); `/` with an object gives a copy of it. */
export function placeAt(pointer: string, value: JsonValue): JsonObject {
  return updateAt({}, pointerSegments(pointer), () => value);
}
