/**
 * The signals a host dispatches into the engine. They mirror Ditto's internal signals closely
 * enough that the Ditto-protocol envelope can be built from them without guessing, and carry the
 * authorization facts (who may READ the entity) computed by the host from the entity's policy.
 */

export type JsonPrimitive = string | number | boolean | null;
export type JsonValue = JsonPrimitive | JsonObject | JsonValue[];
export interface JsonObject { [key: string]: JsonValue }

/** Header map as carried by signals and envelopes (lower-case names recommended). */
export type Headers = Readonly<Record<string, string>>;

/** Fields every signal has. */
interface SignalBase {
  /** Ditto headers of the signal; `correlation-id` is added by the engine when missing. */
  readonly headers: Headers;
  /** Subjects granted READ on the affected resource by its policy. */
  readonly readGrantedSubjects: readonly string[];
  /** Subjects whose READ is revoked on the affected resource. */
  readonly readRevokedSubjects: readonly string[];
  /** ISO-8601 time the signal happened; the engine uses its clock when absent. */
  readonly timestamp?: string;
}

/** Actions of thing events (`things/twin/events/<action>`). */
export type ThingEventAction = 'created' | 'modified' | 'merged' | 'deleted';

/**
 * A thing event on the twin or live channel, at any path: `/` (whole thing), `/attributes`,
 * `/attributes/<pointer>`, `/features`, `/features/<id>`, `/features/<id>/properties[/<pointer>]`,
 * `/features/<id>/definition`, `/definition`, `/policyId`.
 */
export interface ThingEvent extends SignalBase {
  readonly type: 'thing.event';
  readonly channel: 'twin' | 'live';
  /** `namespace:name`. */
  readonly thingId: string;
  readonly action: ThingEventAction;
  /** JSON pointer inside the thing; `/` for the whole thing. */
  readonly path: string;
  /** New value at `path`; absent for `deleted`. For `created` at `/`, the whole thing JSON. */
  readonly value?: JsonValue;
  readonly revision: number;
  /**
   * The thing after the event, when the host has it: RQL filters and `extraFields` read from it.
   * Without it filters see only what the event itself carries.
   */
  readonly thing?: JsonObject;
}

/** A live message to or from a thing (or one of its features). */
export interface ThingMessage extends SignalBase {
  readonly type: 'thing.message';
  readonly thingId: string;
  readonly subject: string;
  /** `to` = inbox (sent to the thing), `from` = outbox (sent by the thing). */
  readonly direction: 'to' | 'from';
  readonly featureId?: string;
  readonly value?: JsonValue;
  /** Ditto `content-type` of the payload; defaults to JSON. */
  readonly contentType?: string;
}

/** Actions of live commands (`things/live/commands/<action>`). */
export type ThingCommandAction = 'create' | 'modify' | 'merge' | 'delete' | 'retrieve';

/** A live command addressed to a device. */
export interface ThingCommand extends SignalBase {
  readonly type: 'thing.command';
  readonly thingId: string;
  readonly action: ThingCommandAction;
  readonly path: string;
  readonly value?: JsonValue;
}

/** A policy announcement (`policies/announcements/<name>`), e.g. `subjectDeletion`. */
export interface PolicyAnnouncement extends SignalBase {
  readonly type: 'policy.announcement';
  /** `namespace:name`. */
  readonly policyId: string;
  readonly name: string;
  readonly value?: JsonValue;
}

/** A connection announcement (`connections/announcements/<name>`): `opened` or `closed`. */
export interface ConnectionAnnouncement extends SignalBase {
  readonly type: 'connection.announcement';
  readonly connectionId: string;
  readonly name: 'opened' | 'closed';
}

/** Anything the host may dispatch. */
export type Signal = ThingEvent | ThingMessage | ThingCommand | PolicyAnnouncement | ConnectionAnnouncement;
