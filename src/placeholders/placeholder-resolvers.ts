/**
 * The placeholders available in connection targets (address, headerMapping, acknowledgement label),
 * each compiled to a resolver function once, so resolution does no name lookup per event.
 */
import { resourcePathOf, resourceTypeOf } from '../protocol/envelope.ts';
import type { Signal } from '../protocol/signal.ts';
import { pointerSegments } from '../protocol/thing-view.ts';
import { TOPIC_FIELDS, splitEntityId, topicField, topicPathOf, type TopicField } from '../protocol/topic-path.ts';
import { thingIdOf } from '../protocol/entity-id.ts';

/** What placeholders resolve against, per signal and target. */
export interface PlaceholderContext {
  readonly signal: Signal;
  readonly connectionId: string;
  /** Epoch ms, for `time:*`. */
  readonly now: number;
  /** Ditto protocol headers of the outgoing envelope; `header:` reads these (else the signal's). */
  readonly headers?: Readonly<Record<string, string>>;
}

/** Resolves one placeholder; `undefined` = not available for this signal. */
export type Resolver = (ctx: PlaceholderContext) => string | undefined;

/** Every placeholder prefix twinlink knows. */
export const PLACEHOLDER_PREFIXES = ['thing', 'entity', 'policy', 'feature', 'topic', 'resource', 'header', 'time', 'request', 'connection'] as const;
export type PlaceholderPrefix = (typeof PLACEHOLDER_PREFIXES)[number];

const ID_NAMES = ['id', 'namespace', 'name'] as const;

function idPart(id: string | undefined, part: string): string | undefined {
  if (id === undefined) return undefined;
  if (part === 'id') return id;
  const { namespace, name } = splitEntityId(id);
  return part === 'namespace' ? namespace : name;
}


function featureIdOf(signal: Signal): string | undefined {
  if (signal.type === 'thing.message') return signal.featureId;
  if (signal.type === 'thing.event' || signal.type === 'thing.command') {
    const segments = pointerSegments(signal.path);
    return segments[0] === 'features' ? segments[1] : undefined;
  }
  return undefined;
}

/** Case-insensitive header lookup (`name` already lower-case). */
export function findHeader(headers: Readonly<Record<string, string>>, name: string): string | undefined {
  const direct = headers[name];
  if (direct !== undefined) return direct;
  for (const key in headers) if (key.toLowerCase() === name) return headers[key];
  return undefined;
}

/** The names each prefix accepts (`header` accepts any non-empty name). */
export const PLACEHOLDER_NAMES: Readonly<Record<Exclude<PlaceholderPrefix, 'header'>, readonly string[]>> = {
  thing: ID_NAMES,
  entity: ID_NAMES,
  policy: ID_NAMES,
  feature: ['id'],
  topic: TOPIC_FIELDS,
  resource: ['path', 'type'],
  time: ['now', 'now_epoch_millis'],
  request: ['subjectId'],
  connection: ['id'],
};

/**
 * The resolver for `prefix:name`, or `undefined` when there is no such placeholder.
 * @example resolverFor('thing', 'namespace')?.(ctx) // 'org.eclipse.ditto'
 */
export function resolverFor(prefix: string, name: string): Resolver | undefined {
  switch (prefix) {
    case 'header': {
      const lower = name.toLowerCase();
      return (ctx) => findHeader(ctx.headers ?? ctx.signal.headers, lower);
    }
    case 'thing':
      return ID_NAMES.includes(name as 'id') ? (ctx) => idPart(thingIdOf(ctx.signal), name) : undefined;
    case 'entity':
      return ID_NAMES.includes(name as 'id')
        ? (ctx) => idPart(ctx.signal.type === 'policy.announcement' ? ctx.signal.policyId : thingIdOf(ctx.signal), name)
        : undefined;
    case 'policy':
      return ID_NAMES.includes(name as 'id')
        ? (ctx) => idPart(ctx.signal.type === 'policy.announcement' ? ctx.signal.policyId : undefined, name)
        : undefined;
    case 'feature':
      return name === 'id' ? (ctx) => featureIdOf(ctx.signal) : undefined;
    case 'topic':
      return (TOPIC_FIELDS as readonly string[]).includes(name) ? (ctx) => topicField(topicPathOf(ctx.signal), name as TopicField) : undefined;
    case 'resource':
      if (name === 'path') return (ctx) => resourcePathOf(ctx.signal);
      if (name === 'type') return (ctx) => resourceTypeOf(ctx.signal);
      return undefined;
    case 'time':
      if (name === 'now') return (ctx) => new Date(ctx.now).toISOString();
      if (name === 'now_epoch_millis') return (ctx) => String(ctx.now);
      return undefined;
    case 'request':
      // Ditto: the subject that issued the command; the host passes it as `ditto-originator`.
      return name === 'subjectId' ? (ctx) => findHeader(ctx.signal.headers, 'ditto-originator') : undefined;
    case 'connection':
      return name === 'id' ? (ctx) => ctx.connectionId : undefined;
    default:
      return undefined;
  }
}
