/**
 * The reference twin store behind the gateway's Things API: things and their policies in memory,
 * every change enforced against the policy and answered with the Ditto {@link ThingEvent} it
 * causes (action, path, value, revision, read subjects, the thing after the change).
 * A real deployment dispatches its own events; this store exists so `npm start` shows the flow.
 */
import { randomUUID } from 'node:crypto';
import { DittoApiError, thingIdInvalid, thingNotFound } from './ditto-api-error.ts';
import { deleteAt, getAt, isJsonObject, mergePatch, mergePatchLeaves, setAt } from './json-tree.ts';
import { defaultPolicy, hasPermission, parsePolicy, readSubjects, readableView } from './policy.ts';
import type { Policy } from './policy.ts';
import { THING_ROOT, assertValueShape, isValidNamespace, isValidThingId, pathNotFound, pathNotModifiable } from './thing-path.ts';
import type { ThingPath } from './thing-path.ts';
import { systemClock } from '../shared/clock.ts';
import type { Clock } from '../shared/clock.ts';
import type { ExtraFieldsLookup } from '../engine/types.ts';
import type { Headers, JsonObject, JsonValue, ThingEvent, ThingEventAction } from '../protocol/signal.ts';

/** Who performs an operation: the authenticated subject, plus headers to carry into the event. */
export interface Caller {
  /** The caller's subject (`nginx:ditto`); `{{ request:subjectId }}` resolves to it. */
  readonly subject: string;
  /** Ditto headers for the resulting event (e.g. `correlation-id`). */
  readonly headers?: Headers;
}

/** The result of a change: the event to dispatch and what the API answers. */
export interface ThingChange {
  readonly event: ThingEvent;
  /** True when the change created the entity at the path (201), false when it replaced or deleted it. */
  readonly created: boolean;
  /** The thing after the change (before it, for a deleted thing). */
  readonly thing: JsonObject;
}

export interface ThingStoreOptions {
  /** Namespace of generated thing ids (`POST /things`). */
  readonly defaultNamespace: string;
  readonly clock?: Clock;
  /** Source of the name part of generated ids. */
  readonly generateName?: () => string;
}

interface ThingRecord {
  readonly doc: JsonObject;
  readonly revision: number;
  readonly created: string;
  readonly modified: string;
}

const FIELD_ORDER = ['thingId', 'policyId', 'definition', 'attributes', 'features'];

/** Thing JSON with Ditto's field order, so responses and events read the same every time. */
function ordered(doc: JsonObject): JsonObject {
  const result: JsonObject = {};
  for (const key of FIELD_ORDER) if (doc[key] !== undefined) result[key] = doc[key];
  return result;
}

/**
 * In-memory things and policies with Ditto semantics.
 *
 * @example
 * const store = new ThingStore({ defaultNamespace: 'org.acme' });
 * const { event } = store.create({ subject: 'nginx:ditto' }, { attributes: { on: true } });
 * engine.dispatch(event);
 */
export class ThingStore {
  readonly #things = new Map<string, ThingRecord>();
  readonly #policies = new Map<string, Policy>();
  /** Last revision of deleted things: a re-created thing continues from it, as in Ditto. */
  readonly #tombstones = new Map<string, number>();
  readonly #namespace: string;
  readonly #clock: Clock;
  readonly #generateName: () => string;

  constructor(options: ThingStoreOptions) {
    if (!isValidNamespace(options.defaultNamespace)) throw new TypeError(`invalid default namespace '${options.defaultNamespace}'`);
    this.#namespace = options.defaultNamespace;
    this.#clock = options.clock ?? systemClock;
    this.#generateName = options.generateName ?? randomUUID;
  }

  /** Number of things stored. */
  get size(): number {
    return this.#things.size;
  }

  /** The policy with that id, if any. */
  policy(policyId: string): Policy | undefined {
    return this.#policies.get(policyId);
  }

  /** The stored thing JSON regardless of permissions (for the host itself, never for API callers). */
  thing(thingId: string): JsonObject | undefined {
    return this.#things.get(thingId)?.doc;
  }

  /** The engine's `extraFields` lookup: selected fields of a thing (`attributes/x`, `_revision`, …). */
  readonly extraFields: ExtraFieldsLookup = (thingId, fields) => {
    const record = this.#things.get(thingId);
    return record ? pickFields(record, fields) : undefined;
  };

  /**
   * Creates a thing (`POST /things` without an id, `PUT /things/{id}` for a new id). The policy
   * comes from `_policy` (stored under the thing id), an existing or new `policyId`, or is the
   * default policy giving the creator READ/WRITE on everything.
   */
  create(caller: Caller, body: JsonValue, thingId?: string): ThingChange {
    assertValueShape(THING_ROOT, body);
    const input = body as JsonObject;
    const id = thingId ?? (typeof input.thingId === 'string' ? input.thingId : `${this.#namespace}:${this.#generateName()}`);
    if (!isValidThingId(id)) throw thingIdInvalid(id);
    if (input.thingId !== undefined && input.thingId !== id) throw idNotSettable(id);
    if (this.#things.has(id)) {
      throw new DittoApiError(409, 'things:thing.conflict', `The Thing with ID '${id}' already exists.`, 'Choose another Thing ID or modify the existing Thing.');
    }
    if (input._policy !== undefined && input.policyId !== undefined) {
      throw new DittoApiError(400, 'things:thing.invalid', "A Thing may carry either '_policy' or 'policyId', not both.");
    }
    const policy = this.#policyForNewThing(caller, id, input);
    if (!hasPermission(policy, [caller.subject], 'thing:/', 'WRITE')) {
      throw new DittoApiError(403, 'things:thing.notcreatable', `The Thing with ID '${id}' could not be created as the policy '${policy.policyId}' does not allow the requester to WRITE it.`);
    }
    this.#policies.set(policy.policyId, policy);
    const { _policy: _ignored, ...fields } = input;
    const doc = ordered({ ...fields, thingId: id, policyId: policy.policyId });
    const record = this.#save(id, doc, (this.#tombstones.get(id) ?? 0) + 1);
    this.#tombstones.delete(id);
    return { event: this.#event(record, policy, caller, 'created', THING_ROOT, doc), created: true, thing: doc };
  }

  /** `PUT /things/{id}`: creates the thing when new, else replaces it (WRITE on `thing:/`). */
  put(caller: Caller, thingId: string, body: JsonValue): ThingChange {
    const existing = this.#things.get(thingId);
    if (!existing) return this.create(caller, body, thingId);
    assertValueShape(THING_ROOT, body);
    const input = body as JsonObject;
    if (input.thingId !== undefined && input.thingId !== thingId) throw idNotSettable(thingId);
    if (input._policy !== undefined) {
      throw new DittoApiError(400, 'things:thing.invalid', "The field '_policy' is only allowed when creating a Thing.");
    }
    const policy = this.#policyOf(existing);
    this.#requireWrite(existing, policy, caller, THING_ROOT);
    const policyId = typeof input.policyId === 'string' ? input.policyId : existing.doc.policyId as string;
    const nextPolicy = this.#existingPolicy(policyId);
    const doc = ordered({ ...input, thingId, policyId });
    const record = this.#save(thingId, doc, existing.revision + 1, existing.created);
    return { event: this.#event(record, nextPolicy, caller, 'modified', THING_ROOT, doc), created: false, thing: doc };
  }

  /** Reads what the caller may see at `path` (the whole thing is filtered by the policy). */
  retrieve(caller: Caller, thingId: string, path: ThingPath = THING_ROOT): JsonValue {
    const record = this.#things.get(thingId);
    if (!record) throw thingNotFound(thingId);
    const view = readableView(this.#policyOf(record), [caller.subject], record.doc);
    if (view === undefined) throw thingNotFound(thingId);
    const value = getAt(view, path.segments);
    if (value === undefined) throw pathNotFound(path, thingId);
    return value;
  }

  /** `GET /things/{id}?fields=…`: the readable thing reduced to the selected fields. */
  retrieveFields(caller: Caller, thingId: string, fields: readonly string[]): JsonObject {
    const view = this.retrieve(caller, thingId) as JsonObject;
    const record = this.#things.get(thingId)!;
    return pickFields({ ...record, doc: view }, fields);
  }

  /** Every thing the caller may see (optionally only those ids), filtered by their policies. */
  list(caller: Caller, ids?: readonly string[]): JsonValue[] {
    const records = ids ? ids.map((id) => this.#things.get(id)).filter((r) => r !== undefined) : [...this.#things.values()];
    return records
      .map((record) => readableView(this.#policyOf(record), [caller.subject], record.doc))
      .filter((view) => view !== undefined);
  }

  /** `PUT` below the thing: `created` when nothing was there, else `modified` (WRITE on the path). */
  modify(caller: Caller, thingId: string, path: ThingPath, value: JsonValue): ThingChange {
    if (path.kind === 'thing') return this.put(caller, thingId, value);
    const record = this.#things.get(thingId);
    if (!record) throw thingNotFound(thingId);
    assertValueShape(path, value);
    const policy = this.#policyOf(record);
    this.#requireWrite(record, policy, caller, path);
    if (path.kind.startsWith('feature.') && getAt(record.doc, path.segments.slice(0, 2)) === undefined) {
      throw pathNotFound({ ...path, kind: 'feature' }, thingId);
    }
    const nextPolicy = path.kind === 'policyId' ? this.#existingPolicy(value as string) : policy;
    const existed = getAt(record.doc, path.segments) !== undefined;
    const doc = ordered(setAt(record.doc, path.segments, value));
    const saved = this.#save(thingId, doc, record.revision + 1, record.created);
    return { event: this.#event(saved, nextPolicy, caller, existed ? 'modified' : 'created', path, value), created: !existed, thing: doc };
  }

  /** `PATCH` (RFC 7396 merge patch) at any path: a `merged` event; WRITE on every path the patch touches. */
  merge(caller: Caller, thingId: string, path: ThingPath, patch: JsonValue): ThingChange {
    const record = this.#things.get(thingId);
    if (!record) throw thingNotFound(thingId);
    const policy = this.#policyOf(record);
    for (const leaf of mergePatchLeaves(patch, path.segments)) {
      this.#requireWrite(record, policy, caller, { ...path, resource: `thing:/${leaf.join('/')}` });
    }
    if (path.kind === 'thing') {
      if (!isJsonObject(patch)) throw new DittoApiError(400, 'json.invalid', 'A merge patch on a Thing must be a JSON object.');
      if (patch._policy !== undefined) throw new DittoApiError(400, 'things:thing.invalid', "The field '_policy' is only allowed when creating a Thing.");
      if (patch.thingId !== undefined && patch.thingId !== thingId) throw idNotSettable(thingId);
    }
    const merged = mergePatch(getAt(record.doc, path.segments), patch);
    const doc = path.kind === 'thing'
      ? (merged as JsonObject)
      : merged === undefined ? deleteAt(record.doc, path.segments) : setAt(record.doc, path.segments, merged);
    if (typeof doc.policyId !== 'string') throw new DittoApiError(400, 'json.invalid', "A Thing must keep its 'policyId'.");
    assertValueShape(THING_ROOT, doc);
    const nextPolicy = this.#existingPolicy(doc.policyId);
    const next = ordered({ ...doc, thingId });
    const saved = this.#save(thingId, next, record.revision + 1, record.created);
    const headers = { 'content-type': 'application/merge-patch+json' };
    return { event: this.#event(saved, nextPolicy, caller, 'merged', path, patch, headers), created: false, thing: next };
  }

  /** `DELETE` of the thing or a part of it: a `deleted` event without value. */
  remove(caller: Caller, thingId: string, path: ThingPath = THING_ROOT): ThingChange {
    const record = this.#things.get(thingId);
    if (!record) throw thingNotFound(thingId);
    const policy = this.#policyOf(record);
    if (path.kind === 'policyId') {
      throw new DittoApiError(405, 'things:policyId.notdeletable', `The policyId of the Thing with ID '${thingId}' cannot be deleted.`);
    }
    this.#requireWrite(record, policy, caller, path);
    if (path.kind === 'thing') {
      this.#things.delete(thingId);
      this.#tombstones.set(thingId, record.revision + 1);
      const deleted = { ...record, revision: record.revision + 1, modified: new Date(this.#clock.now()).toISOString() };
      const event = this.#event(deleted, policy, caller, 'deleted', path, undefined);
      // The policy was made for this thing (inline or default): it goes with it unless shared.
      const policyId = record.doc.policyId as string;
      if (policyId === thingId && ![...this.#things.values()].some((r) => r.doc.policyId === policyId)) this.#policies.delete(policyId);
      return { event, created: false, thing: record.doc };
    }
    if (getAt(record.doc, path.segments) === undefined) throw pathNotFound(path, thingId);
    const doc = ordered(deleteAt(record.doc, path.segments));
    const saved = this.#save(thingId, doc, record.revision + 1, record.created);
    return { event: this.#event(saved, policy, caller, 'deleted', path, undefined), created: false, thing: doc };
  }

  #policyForNewThing(caller: Caller, thingId: string, input: JsonObject): Policy {
    if (input._policy !== undefined) {
      const inUse = [...this.#things.values()].some((r) => r.doc.policyId === thingId);
      if (inUse) throw new DittoApiError(409, 'policies:policy.conflict', `The Policy with ID '${thingId}' already exists.`);
      return parsePolicy(input._policy, thingId, caller.subject);
    }
    if (typeof input.policyId === 'string') {
      return this.#policies.get(input.policyId) ?? defaultPolicy(input.policyId, caller.subject);
    }
    return defaultPolicy(thingId, caller.subject);
  }

  #existingPolicy(policyId: string): Policy {
    const policy = this.#policies.get(policyId);
    if (!policy) {
      throw new DittoApiError(400, 'things:policyId.invalid', `The Policy with ID '${policyId}' does not exist.`, 'Reference an existing policy.');
    }
    return policy;
  }

  #policyOf(record: ThingRecord): Policy {
    // A thing's policy always exists while the thing does; an empty one denies everything.
    return this.#policies.get(record.doc.policyId as string) ?? { policyId: record.doc.policyId as string, entries: {} };
  }

  /** WRITE or fail: 403 when the caller can see the thing, else 404 (Ditto hides what you cannot read). */
  #requireWrite(record: ThingRecord, policy: Policy, caller: Caller, path: ThingPath): void {
    if (hasPermission(policy, [caller.subject], path.resource, 'WRITE')) return;
    const thingId = record.doc.thingId as string;
    if (readableView(policy, [caller.subject], record.doc) === undefined) throw thingNotFound(thingId);
    throw pathNotModifiable(path, thingId);
  }

  #save(thingId: string, doc: JsonObject, revision: number, created?: string): ThingRecord {
    const now = new Date(this.#clock.now()).toISOString();
    const record: ThingRecord = { doc, revision, created: created ?? now, modified: now };
    this.#things.set(thingId, record);
    return record;
  }

  #event(record: ThingRecord, policy: Policy, caller: Caller, action: ThingEventAction, path: ThingPath, value: JsonValue | undefined, headers: Headers = {}): ThingEvent {
    const subjects = readSubjects(policy, path.resource);
    return {
      type: 'thing.event',
      channel: 'twin',
      thingId: record.doc.thingId as string,
      action,
      path: path.pointer,
      ...(value === undefined ? {} : { value }),
      revision: record.revision,
      headers: { ...caller.headers, ...headers },
      readGrantedSubjects: subjects.granted,
      readRevokedSubjects: subjects.revoked,
      timestamp: record.modified,
      thing: record.doc,
    };
  }
}

function idNotSettable(thingId: string): DittoApiError {
  return new DittoApiError(400, 'things:id.notsettable', `The Thing ID in the request body is not equal to the Thing ID '${thingId}' in the request URL.`,
    'Either delete the Thing ID from the request body or use the same Thing ID as in the request URL.');
}

/** Selected fields (`attributes/location`, `thingId`, `_revision`, `_modified`, `_created`) of a thing. */
function pickFields(record: ThingRecord, fields: readonly string[]): JsonObject {
  let result: JsonObject = {};
  for (const field of fields) {
    const segments = field.split('/').filter((segment) => segment !== '');
    const [head] = segments;
    if (head === '_revision') result = { ...result, _revision: record.revision };
    else if (head === '_modified') result = { ...result, _modified: record.modified };
    else if (head === '_created') result = { ...result, _created: record.created };
    else {
      const value = getAt(record.doc, segments);
      if (value !== undefined) result = setAt(result, segments, value);
    }
  }
  return result;
}
