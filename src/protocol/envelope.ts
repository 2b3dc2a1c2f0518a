/**
 * Builds the Ditto protocol envelope for a signal, exactly as Ditto publishes it:
 * `{topic, headers, path, value?, extra?, revision?, timestamp?}` in that key order.
 */
import type { Headers, JsonObject, JsonValue, Signal } from './signal.ts';
import { formatTopicPath, topicPathOf } from './topic-path.ts';

/** A Ditto protocol message (the body the `Ditto` mapper sends). */
export interface DittoEnvelope {
  readonly topic: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly path: string;
  readonly value?: JsonValue;
  /** Fields selected by the target's `extraFields`. */
  readonly extra?: JsonObject;
  readonly revision?: number;
  readonly timestamp?: string;
}

export interface EnvelopeOptions {
  /** Used when the signal carries no `correlation-id` header. */
  readonly correlationId: string;
  readonly extra?: JsonObject;
  /** ISO time used when the signal has none (the engine's clock). */
  readonly timestamp?: string;
}

/** `content-type` Ditto puts on merge events and merge commands. */
export const MERGE_PATCH_CONTENT_TYPE = 'application/merge-patch+json';

// Headers that are transport credentials or Ditto-internal and must never reach a target.
const DROPPED_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie']);

/**
 * Whether a signal header stays out of outbound envelopes: credentials, twinlink's own `twinlink-*`
 * headers and Ditto's internal `ditto-*` headers (except `ditto-originator`, which Ditto publishes).
 */
export function isInternalHeader(name: string): boolean {
  const lower = name.toLowerCase();
  if (DROPPED_HEADERS.has(lower)) return true;
  if (lower.startsWith('twinlink-')) return true;
  return lower.startsWith('ditto-') && lower !== 'ditto-originator';
}

function envelopeHeaders(source: Headers, correlationId: string, contentType: string | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name in source) {
    const value = source[name];
    if (value === undefined || isInternalHeader(name)) continue;
    headers[name.toLowerCase()] = value;
  }
  if (headers['correlation-id'] === undefined) headers['correlation-id'] = correlationId;
  if (contentType !== undefined) headers['content-type'] = contentType;
  return headers;
}

function messagePath(featureId: string | undefined, direction: 'to' | 'from', subject: string): string {
  const box = direction === 'to' ? 'inbox' : 'outbox';
  return featureId === undefined ? `/${box}/messages/${subject}` : `/features/${featureId}/${box}/messages/${subject}`;
}

/**
 * The Ditto protocol envelope of `signal`.
 * @example toDittoProtocol(thingCreated, { correlationId: 'c-1' })
 * // { topic: 'ns/name/things/twin/events/created', headers: { 'correlation-id': 'c-1' }, path: '/', value: {...}, revision: 1 }
 */
export function toDittoProtocol(signal: Signal, options: EnvelopeOptions): DittoEnvelope {
  const topic = formatTopicPath(topicPathOf(signal));
  const timestamp = signal.timestamp ?? options.timestamp;
  let path: string;
  let value: JsonValue | undefined;
  let revision: number | undefined;
  let contentType: string | undefined;
  switch (signal.type) {
    case 'thing.event':
      path = signal.path;
      value = signal.action === 'deleted' ? undefined : signal.value;
      revision = signal.revision;
      if (signal.action === 'merged') contentType = MERGE_PATCH_CONTENT_TYPE;
      break;
    case 'thing.message':
      path = messagePath(signal.featureId, signal.direction, signal.subject);
      value = signal.value;
      // Ditto requires a content-type on messages.
      contentType = signal.contentType ?? signal.headers['content-type'] ?? 'application/json';
      break;
    case 'thing.command':
      path = signal.path;
      value = signal.action === 'delete' || signal.action === 'retrieve' ? undefined : signal.value;
      if (signal.action === 'merge') contentType = MERGE_PATCH_CONTENT_TYPE;
      break;
    case 'policy.announcement':
      path = '/';
      value = signal.value;
      break;
    case 'connection.announcement':
      path = '/';
      // Ditto: {"openedAt": …} / {"closedAt": …}.
      value = timestamp === undefined ? undefined : { [signal.name === 'opened' ? 'openedAt' : 'closedAt']: timestamp };
      break;
  }
  // Build in Ditto's key order; absent fields are left out rather than set to undefined.
  const envelope: { -readonly [K in keyof DittoEnvelope]: DittoEnvelope[K] } = {
    topic,
    headers: envelopeHeaders(signal.headers, options.correlationId, contentType),
    path,
  };
  if (value !== undefined) envelope.value = value;
  if (options.extra !== undefined) envelope.extra = options.extra;
  if (revision !== undefined) envelope.revision = revision;
  if (timestamp !== undefined) envelope.timestamp = timestamp;
  return envelope;
}

/** The Ditto protocol `path` of a signal (`resource:path`). */
export function resourcePathOf(signal: Signal): string {
  switch (signal.type) {
    case 'thing.event':
    case 'thing.command': return signal.path;
    case 'thing.message': return messagePath(signal.featureId, signal.direction, signal.subject);
    default: return '/';
  }
}

/** Ditto's `resource:type`: `thing`, `message`, `policy` or `connection`. */
export function resourceTypeOf(signal: Signal): 'thing' | 'message' | 'policy' | 'connection' {
  switch (signal.type) {
    case 'thing.message': return 'message';
    case 'policy.announcement': return 'policy';
    case 'connection.announcement': return 'connection';
    default: return 'thing';
  }
}
