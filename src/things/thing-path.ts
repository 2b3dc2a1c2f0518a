/**
 * Thing ids and the paths inside a thing the Things API addresses (`/attributes/location`,
 * `/features/lamp/properties/on`, …): validation, the kind of entity each path names (which picks
 * Ditto's error codes) and the shape a value written there must have.
 */
import { DittoApiError, jsonInvalid } from './ditto-api-error.ts';
import { isJsonObject } from './json-tree.ts';
import type { JsonValue } from '../protocol/signal.ts';

// Control characters are exactly what these patterns exclude.
/* eslint-disable no-control-regex */
/** Ditto's namespaced entity id: `namespace:name`; the namespace is dot-separated Java-like words. */
const THING_ID = /^(?:[a-zA-Z]\w*(?:\.[a-zA-Z]\w*)*)?:[^\x00-\x1F\x7F-\xFF/]+$/;
const NAMESPACE = /^(?:[a-zA-Z]\w*(?:\.[a-zA-Z]\w*)*)?$/;
/** Feature ids and attribute keys: no slash, no control characters. */
const KEY = /^[^\x00-\x1F\x7F/]+$/;
/* eslint-enable no-control-regex */
const MAX_ID_LENGTH = 256;

/** Whether `thingId` is a valid Ditto thing id (`namespace:name`, at most 256 characters). */
export function isValidThingId(thingId: string): boolean {
  return thingId.length <= MAX_ID_LENGTH && THING_ID.test(thingId);
}

/** Whether `namespace` is a valid Ditto namespace (may be empty). */
export function isValidNamespace(namespace: string): boolean {
  return NAMESPACE.test(namespace);
}

/** What a path inside a thing names; the word Ditto uses in its error codes. */
export type ThingPathKind =
  | 'thing' | 'policyId' | 'definition' | 'attributes' | 'attribute'
  | 'features' | 'feature' | 'feature.definition'
  | 'feature.properties' | 'feature.property' | 'feature.desiredProperties' | 'feature.desiredProperty';

/** A validated path inside a thing. */
export interface ThingPath {
  readonly segments: readonly string[];
  readonly kind: ThingPathKind;
  /** JSON pointer form, `/` for the whole thing. */
  readonly pointer: string;
  /** The resource key policies use, `thing:/…`. */
  readonly resource: string;
}

function pathOf(segments: readonly string[], kind: ThingPathKind): ThingPath {
  const pointer = `/${segments.join('/')}`;
  return { segments, kind, pointer, resource: `thing:${pointer}` };
}

function kindOf(segments: readonly string[]): ThingPathKind | undefined {
  const [top, featureId, part, ...rest] = segments;
  if (top === undefined) return 'thing';
  if (top === 'policyId' || top === 'definition') return segments.length === 1 ? top : undefined;
  if (top === 'attributes') return segments.length === 1 ? 'attributes' : 'attribute';
  if (top !== 'features') return undefined;
  if (featureId === undefined) return 'features';
  if (part === undefined) return 'feature';
  if (part === 'definition') return rest.length === 0 ? 'feature.definition' : undefined;
  if (part === 'properties') return rest.length === 0 ? 'feature.properties' : 'feature.property';
  if (part === 'desiredProperties') return rest.length === 0 ? 'feature.desiredProperties' : 'feature.desiredProperty';
  return undefined;
}

/**
 * Parses the part of a Things API URL after the thing id (`attributes/location`) into a
 * {@link ThingPath}; throws 404 for paths Ditto has no resource for and 400 for bad keys.
 *
 * @example parseThingPath('features/lamp/properties/on').kind // 'feature.property'
 */
export function parseThingPath(path: string): ThingPath {
  const trimmed = path.replace(/^\/+|\/+$/g, '');
  // Inner empty segments (`attributes//x`) stay, so the key check below rejects them.
  const segments = trimmed === '' ? [] : trimmed.split('/');
  const kind = kindOf(segments);
  if (kind === undefined) {
    throw new DittoApiError(404, 'things:route.notfound', `The resource '/${segments.join('/')}' does not exist on a Thing.`,
      'Use /attributes, /features, /definition or /policyId.');
  }
  for (const segment of segments) {
    if (!KEY.test(segment)) {
      throw new DittoApiError(400, 'json.pointer.invalid', `The path '/${segments.join('/')}' contains an empty or invalid key.`,
        'Keys must not be empty and must not contain slashes or control characters.');
    }
  }
  return pathOf(segments, kind);
}

/** The root path (the whole thing). */
export const THING_ROOT: ThingPath = pathOf([], 'thing');

/** Human wording of the entity at a path, for error messages. */
function describe(path: ThingPath, thingId: string): string {
  const [, featureId] = path.segments;
  const pointer = path.segments.slice(path.kind === 'attribute' ? 1 : 3).join('/');
  switch (path.kind) {
    case 'thing': return `The Thing with ID '${thingId}'`;
    case 'attribute': return `The attribute with key '${pointer}' on the Thing with ID '${thingId}'`;
    case 'feature': return `The Feature with ID '${featureId}' on the Thing with ID '${thingId}'`;
    case 'feature.property': return `The property with key '${pointer}' of the Feature with ID '${featureId}' on the Thing with ID '${thingId}'`;
    case 'feature.desiredProperty': return `The desired property with key '${pointer}' of the Feature with ID '${featureId}' on the Thing with ID '${thingId}'`;
    default: return `The ${path.kind.replace('feature.', '')} at '${path.pointer}' of the Thing with ID '${thingId}'`;
  }
}

/** 404 `things:<kind>.notfound` for a missing (or unreadable) part of a thing. */
export function pathNotFound(path: ThingPath, thingId: string): DittoApiError {
  return new DittoApiError(404, `things:${path.kind}.notfound`,
    `${describe(path, thingId)} could not be found or requester had insufficient permissions to access it.`,
    'Check if the ID of the Thing and the path were correct and you have sufficient permissions.');
}

/** 403 `things:<kind>.notmodifiable` for a visible part the caller may not WRITE. */
export function pathNotModifiable(path: ThingPath, thingId: string): DittoApiError {
  return new DittoApiError(403, `things:${path.kind}.notmodifiable`,
    `${describe(path, thingId)} could not be modified as the requester had insufficient permissions to modify it.`,
    'Check if you have sufficient permissions (WRITE) on the resource.');
}

function expectObject(value: JsonValue, what: string): void {
  if (!isJsonObject(value)) throw jsonInvalid(`${what} must be a JSON object.`);
}

/**
 * Checks that `value` has the shape Ditto requires at `path` (attributes and properties are
 * objects, a feature definition is a list of strings, …); throws 400 `json.invalid` otherwise.
 */
export function assertValueShape(path: ThingPath, value: JsonValue): void {
  switch (path.kind) {
    case 'policyId':
      if (typeof value !== 'string' || !isValidThingId(value)) throw jsonInvalid("'policyId' must be a namespaced id such as 'org.acme:policy'.");
      return;
    case 'definition':
      if (typeof value !== 'string' && value !== null) throw jsonInvalid("'definition' must be a string 'namespace:name:version'.");
      return;
    case 'attributes': case 'feature.properties': case 'feature.desiredProperties':
      expectObject(value, `'${path.pointer}'`);
      return;
    case 'feature.definition':
      if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) throw jsonInvalid("A feature 'definition' must be a list of strings.");
      return;
    case 'feature':
      assertFeature(value, path.pointer);
      return;
    case 'features':
      expectObject(value, "'features'");
      for (const [id, feature] of Object.entries(value as Record<string, JsonValue>)) assertFeature(feature, `/features/${id}`);
      return;
    case 'thing':
      assertThingShape(value);
      return;
    default:
      return;
  }
}

function assertFeature(value: JsonValue, where: string): void {
  expectObject(value, `'${where}'`);
  const feature = value as Record<string, JsonValue>;
  for (const [key, part] of Object.entries(feature)) {
    if (key === 'properties' || key === 'desiredProperties') expectObject(part, `'${where}/${key}'`);
    else if (key === 'definition') assertValueShape(pathOf(['features', '_', 'definition'], 'feature.definition'), part);
    else throw jsonInvalid(`Unknown field '${key}' in feature '${where}': use properties, desiredProperties or definition.`);
  }
}

/** The fields a thing document may carry (`_policy` is consumed on creation, never stored). */
const THING_FIELDS = new Set(['thingId', 'policyId', 'definition', 'attributes', 'features', '_policy']);

function assertThingShape(value: JsonValue): void {
  expectObject(value, 'A Thing');
  const thing = value as Record<string, JsonValue>;
  for (const [key, part] of Object.entries(thing)) {
    if (!THING_FIELDS.has(key)) throw jsonInvalid(`Unknown field '${key}' in Thing: use thingId, policyId, definition, attributes, features or _policy.`);
    if (key === 'attributes') assertValueShape(pathOf(['attributes'], 'attributes'), part);
    if (key === 'features') assertValueShape(pathOf(['features'], 'features'), part);
    if (key === 'definition') assertValueShape(pathOf(['definition'], 'definition'), part);
    if (key === 'policyId') assertValueShape(pathOf(['policyId'], 'policyId'), part);
  }
}
