/**
 * The subset of Eclipse Ditto's policy model the reference gateway enforces: entries name
 * subjects and grant or revoke READ/WRITE on resources (`thing:/…`, `policy:/…`, `message:/…`).
 *
 * Semantics (as Ditto): a grant on a path applies to the path and everything below it; a revoke
 * on a path beats every grant on the same path or below it, whichever entry the grant comes from.
 */
import { DittoApiError } from './ditto-api-error.ts';
import type { JsonObject, JsonValue } from '../protocol/signal.ts';

/** Permissions a policy can grant or revoke. */
export type Permission = 'READ' | 'WRITE';

/** Resource types a policy controls. */
export type ResourceType = 'thing' | 'policy' | 'message';

/** Grants and revokes on one resource. */
export interface PolicyResource {
  readonly grant: readonly Permission[];
  readonly revoke: readonly Permission[];
}

/** One policy entry: who (subjects) may do what (resources). */
export interface PolicyEntry {
  readonly subjects: Readonly<Record<string, { readonly type: string }>>;
  /** Keys are normalised resource keys such as `thing:/attributes/location`. */
  readonly resources: Readonly<Record<string, PolicyResource>>;
}

/** A policy: its id and its labelled entries. */
export interface Policy {
  readonly policyId: string;
  readonly entries: Readonly<Record<string, PolicyEntry>>;
}

/** Subjects with READ on a resource, as carried by every signal. */
export interface ReadSubjects {
  /** Subjects granted READ on the resource (or above it) and not revoked. */
  readonly granted: readonly string[];
  /** Subjects whose READ is revoked on the resource (or above it). */
  readonly revoked: readonly string[];
}

const PERMISSIONS: readonly Permission[] = ['READ', 'WRITE'];
const RESOURCE_TYPES: readonly ResourceType[] = ['thing', 'policy', 'message'];
/** `{{ request:subjectId }}`, the placeholder Ditto resolves to the creating caller. */
const REQUEST_SUBJECT = /^\{\{\s*request:subjectId\s*\}\}$/;

interface ParsedResource { readonly type: ResourceType; readonly segments: readonly string[] }

/** Splits `thing:/attributes/location` into its type and path segments; undefined when malformed. */
export function parseResource(key: string): ParsedResource | undefined {
  const colon = key.indexOf(':');
  if (colon < 0) return undefined;
  const type = key.slice(0, colon) as ResourceType;
  if (!RESOURCE_TYPES.includes(type)) return undefined;
  const path = key.slice(colon + 1);
  if (!path.startsWith('/')) return undefined;
  return { type, segments: path.split('/').filter((segment) => segment !== '') };
}

function resourceKey(resource: ParsedResource): string {
  return `${resource.type}:/${resource.segments.join('/')}`;
}

function isPrefix(prefix: readonly string[], of: readonly string[]): boolean {
  return prefix.length <= of.length && prefix.every((segment, i) => of[i] === segment);
}

function invalid(message: string): DittoApiError {
  return new DittoApiError(400, 'policies:policy.invalid', message,
    'Check the policy entries: subjects, resources (thing:/, policy:/, message:/) and grant/revoke of READ or WRITE.');
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parsePermissions(value: unknown, where: string): Permission[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((p): p is Permission => PERMISSIONS.includes(p as Permission))) {
    throw invalid(`${where} must be a list of 'READ' and 'WRITE'.`);
  }
  return [...new Set(value)];
}

/**
 * Validates a policy as sent in a thing's `_policy` (or a policy document), resolves
 * `{{ request:subjectId }}` to the caller's subject and normalises resource keys.
 * Throws a {@link DittoApiError} (400 `policies:policy.invalid`) when it is malformed or when no
 * subject could ever change it again (Ditto requires WRITE on `policy:/` for someone).
 *
 * @example parsePolicy(body._policy, 'org.acme:lamp', 'nginx:ditto')
 */
export function parsePolicy(raw: unknown, policyId: string, callerSubject: string): Policy {
  if (!isObject(raw) || !isObject(raw.entries)) throw invalid("The policy must be a JSON object with an 'entries' object.");
  const entries: Record<string, PolicyEntry> = {};
  for (const [label, entry] of Object.entries(raw.entries)) {
    if (!isObject(entry) || !isObject(entry.subjects) || !isObject(entry.resources)) {
      throw invalid(`The policy entry '${label}' must have 'subjects' and 'resources' objects.`);
    }
    const subjects: Record<string, { type: string }> = {};
    for (const [subject, details] of Object.entries(entry.subjects)) {
      const id = REQUEST_SUBJECT.test(subject) ? callerSubject : subject;
      if (id.trim() === '') throw invalid(`The policy entry '${label}' has an empty subject.`);
      const type = isObject(details) && typeof details.type === 'string' ? details.type : 'generated';
      subjects[id] = { type };
    }
    const resources: Record<string, PolicyResource> = {};
    for (const [key, grants] of Object.entries(entry.resources)) {
      const resource = parseResource(key);
      if (!resource) throw invalid(`The resource '${key}' of policy entry '${label}' is invalid: expected 'thing:/…', 'policy:/…' or 'message:/…'.`);
      if (!isObject(grants)) throw invalid(`The resource '${key}' of policy entry '${label}' must have 'grant' and 'revoke'.`);
      resources[resourceKey(resource)] = {
        grant: parsePermissions(grants.grant, `'grant' of ${key} in entry '${label}'`),
        revoke: parsePermissions(grants.revoke, `'revoke' of ${key} in entry '${label}'`),
      };
    }
    entries[label] = { subjects, resources };
  }
  const policy: Policy = { policyId, entries };
  const writers = Object.values(entries).flatMap((entry) => Object.keys(entry.subjects));
  if (!writers.some((subject) => hasPermission(policy, [subject], 'policy:/', 'WRITE'))) {
    throw invalid("The policy must grant 'WRITE' on 'policy:/' to at least one subject.");
  }
  return policy;
}

/**
 * The policy Ditto creates when a thing arrives with neither `_policy` nor `policyId`: the
 * creator may READ and WRITE the thing, the policy and messages.
 */
export function defaultPolicy(policyId: string, creatorSubject: string): Policy {
  const all: PolicyResource = { grant: ['READ', 'WRITE'], revoke: [] };
  return {
    policyId,
    entries: {
      DEFAULT: {
        subjects: { [creatorSubject]: { type: 'the creator' } },
        resources: { 'thing:/': all, 'policy:/': all, 'message:/': all },
      },
    },
  };
}

/** Grant and revoke found for `subjects` on `resource` (from the resource itself or any parent). */
function evaluate(policy: Policy, subjects: readonly string[], target: ParsedResource, permission: Permission): { granted: boolean; revoked: boolean } {
  let granted = false;
  let revoked = false;
  for (const entry of Object.values(policy.entries)) {
    if (!subjects.some((subject) => Object.hasOwn(entry.subjects, subject))) continue;
    for (const [key, grants] of Object.entries(entry.resources)) {
      const resource = parseResource(key);
      if (!resource || resource.type !== target.type || !isPrefix(resource.segments, target.segments)) continue;
      if (grants.grant.includes(permission)) granted = true;
      if (grants.revoke.includes(permission)) revoked = true;
    }
  }
  return { granted, revoked };
}

/**
 * Whether any of `subjects` holds `permission` on `resource`: granted there or above, and
 * revoked neither there nor above.
 *
 * @example hasPermission(policy, ['nginx:ditto'], 'thing:/attributes/location', 'READ')
 */
export function hasPermission(policy: Policy, subjects: readonly string[], resource: string, permission: Permission): boolean {
  const target = parseResource(resource);
  if (!target) return false;
  const { granted, revoked } = evaluate(policy, subjects, target, permission);
  return granted && !revoked;
}

/**
 * Whether any of `subjects` holds `permission` on `resource` or on some part below it (Ditto's
 * "partial permission": a thing is visible to whoever may read any part of it).
 */
export function hasPartialPermission(policy: Policy, subjects: readonly string[], resource: string, permission: Permission): boolean {
  if (hasPermission(policy, subjects, resource, permission)) return true;
  const target = parseResource(resource);
  if (!target) return false;
  for (const entry of Object.values(policy.entries)) {
    if (!subjects.some((subject) => Object.hasOwn(entry.subjects, subject))) continue;
    for (const [key, grants] of Object.entries(entry.resources)) {
      const below = parseResource(key);
      if (!below || below.type !== target.type || !grants.grant.includes(permission)) continue;
      if (isPrefix(target.segments, below.segments) && hasPermission(policy, subjects, key, permission)) return true;
    }
  }
  return false;
}

/**
 * The subjects granted READ on `resource` (and those revoked), to fill a signal's
 * `readGrantedSubjects` / `readRevokedSubjects`. Each subject is judged on its own entries.
 *
 * @example readSubjects(policy, 'thing:/attributes/location') // { granted: ['integration:ditto', …], revoked: [] }
 */
export function readSubjects(policy: Policy, resource: string): ReadSubjects {
  const target = parseResource(resource);
  if (!target) return { granted: [], revoked: [] };
  const all = new Set(Object.values(policy.entries).flatMap((entry) => Object.keys(entry.subjects)));
  const granted: string[] = [];
  const revoked: string[] = [];
  for (const subject of [...all].sort()) {
    const result = evaluate(policy, [subject], target, 'READ');
    if (result.revoked) revoked.push(subject);
    else if (result.granted) granted.push(subject);
  }
  return { granted, revoked };
}

/**
 * The part of a thing's JSON `subjects` may READ: everything where READ holds, nothing where it
 * is revoked. Undefined when nothing at all is readable.
 */
export function readableView(policy: Policy, subjects: readonly string[], value: JsonValue, segments: readonly string[] = []): JsonValue | undefined {
  const key = `thing:/${segments.join('/')}`;
  if (hasPermission(policy, subjects, key, 'READ')) return withoutRevoked(policy, subjects, value, segments);
  if (!isObject(value) || !hasPartialPermission(policy, subjects, key, 'READ')) return undefined;
  const result: JsonObject = {};
  for (const [name, child] of Object.entries(value)) {
    const visible = readableView(policy, subjects, child, [...segments, name]);
    if (visible !== undefined) result[name] = visible;
  }
  return Object.keys(result).length > 0 ? result : undefined;
}

/** Removes the parts below a readable path whose READ is revoked. */
function withoutRevoked(policy: Policy, subjects: readonly string[], value: JsonValue, segments: readonly string[]): JsonValue {
  if (!isObject(value)) return value;
  const revokedBelow = Object.values(policy.entries)
    .filter((entry) => subjects.some((subject) => Object.hasOwn(entry.subjects, subject)))
    .flatMap((entry) => Object.entries(entry.resources))
    .some(([key, grants]) => {
      const resource = parseResource(key);
      return resource?.type === 'thing' && grants.revoke.includes('READ') && resource.segments.length > segments.length && isPrefix(segments, resource.segments);
    });
  if (!revokedBelow) return value;
  const result: JsonObject = {};
  for (const [name, child] of Object.entries(value)) {
    const path = [...segments, name];
    if (!hasPermission(policy, subjects, `thing:/${path.join('/')}`, 'READ')) continue;
    result[name] = withoutRevoked(policy, subjects, child, path);
  }
  return result;
}
