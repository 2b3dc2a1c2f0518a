/**
 * Target topic subscriptions: `_/_/things/twin/events?namespaces=a,b&filter=<RQL>&extraFields=x,y`.
 * Parsed and compiled once per target; matched per signal without allocation.
 */
import { ErrorCode, TwinlinkError } from '../errors.ts';
import type { Signal } from '../protocol/signal.ts';
import { splitEntityId } from '../protocol/topic-path.ts';
import { compileRql, type CompiledRql } from '../rql/rql-evaluator.ts';

/** The six kinds of signals a target can subscribe to. */
export type TopicKind = 'twin-events' | 'live-events' | 'live-messages' | 'live-commands' | 'policy-announcements' | 'connection-announcements';

export const TOPIC_KINDS: Readonly<Record<string, TopicKind>> = {
  '_/_/things/twin/events': 'twin-events',
  '_/_/things/live/events': 'live-events',
  '_/_/things/live/messages': 'live-messages',
  '_/_/things/live/commands': 'live-commands',
  '_/_/policies/announcements': 'policy-announcements',
  '_/_/connections/announcements': 'connection-announcements',
};

/** One compiled entry of a target's `topics`. */
export interface TopicSubscription {
  readonly source: string;
  readonly kind: TopicKind;
  /** `undefined` = every namespace. */
  readonly namespaces?: ReadonlySet<string>;
  readonly filter?: CompiledRql;
  readonly extraFields?: readonly string[];
}

/** The topic kind of a signal. */
export function topicKindOf(signal: Signal): TopicKind {
  switch (signal.type) {
    case 'thing.event': return signal.channel === 'twin' ? 'twin-events' : 'live-events';
    case 'thing.message': return 'live-messages';
    case 'thing.command': return 'live-commands';
    case 'policy.announcement': return 'policy-announcements';
    case 'connection.announcement': return 'connection-announcements';
  }
}

/** The namespace used for `namespaces=` matching; `undefined` for connection announcements. */
export function namespaceOf(signal: Signal): string | undefined {
  switch (signal.type) {
    case 'thing.event':
    case 'thing.message':
    case 'thing.command': return splitEntityId(signal.thingId).namespace;
    case 'policy.announcement': return splitEntityId(signal.policyId).namespace;
    case 'connection.announcement': return undefined;
  }
}

function csv(value: string): string[] {
  return value.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

const TOPIC_PARAMETERS = ['namespaces', 'filter', 'extraFields'] as const;

/**
 * Parses one target topic string: the single grammar for topics, used by the config loader (to
 * report problems at load) and by the pipeline (to compile them).
 * @throws {TwinlinkError} `ERR_CONFIG_INVALID` for an unknown topic, parameter or encoding.
 * @throws {RqlError} `ERR_RQL_INVALID` when the filter does not parse (position inside the filter).
 * @example parseTopicSubscription('_/_/things/twin/events?namespaces=org.a&filter=eq(attributes/x,1)')
 */
export function parseTopicSubscription(source: string): TopicSubscription {
  const q = source.indexOf('?');
  const topic = q < 0 ? source : source.slice(0, q);
  const kind = TOPIC_KINDS[topic];
  if (kind === undefined) {
    throw new TwinlinkError(ErrorCode.CONFIG_INVALID, `unknown topic "${topic}" (expected one of ${Object.keys(TOPIC_KINDS).join(', ')})`);
  }
  let namespaces: Set<string> | undefined;
  let filter: CompiledRql | undefined;
  let extraFields: string[] | undefined;
  if (q >= 0) {
    const seen = new Set<string>();
    for (const pair of source.slice(q + 1).split('&')) {
      const eq = pair.indexOf('=');
      const key = eq < 0 ? pair : pair.slice(0, eq);
      if (!(TOPIC_PARAMETERS as readonly string[]).includes(key)) {
        throw new TwinlinkError(ErrorCode.CONFIG_INVALID, `unknown topic parameter "${key}" (expected ${TOPIC_PARAMETERS.join(', ')})`);
      }
      if (seen.has(key)) throw new TwinlinkError(ErrorCode.CONFIG_INVALID, `topic parameter "${key}" given twice`);
      seen.add(key);
      if (eq < 0 || eq === pair.length - 1) throw new TwinlinkError(ErrorCode.CONFIG_INVALID, `topic parameter "${key}" needs a value (${key}=…)`);
      let value: string;
      try {
        value = decodeURIComponent(pair.slice(eq + 1).replace(/\+/g, ' '));
      } catch (cause) {
        throw new TwinlinkError(ErrorCode.CONFIG_INVALID, `topic parameter "${key}" is not valid URL encoding`, { cause });
      }
      if (key === 'namespaces') {
        const list = csv(value);
        if (list.length > 0) namespaces = new Set(list);
      } else if (key === 'filter') {
        filter = compileRql(value);
      } else {
        const list = csv(value);
        if (list.length > 0) extraFields = list;
      }
    }
  }
  return {
    source, kind,
    ...(namespaces ? { namespaces } : {}),
    ...(filter ? { filter } : {}),
    ...(extraFields ? { extraFields } : {}),
  };
}

/**
 * Whether `signal` has the subscription's kind and namespace (the filter is not evaluated here).
 * Connection announcements have no namespace, so `namespaces=` does not restrict them.
 */
export function matchesKindAndNamespace(subscription: TopicSubscription, kind: TopicKind, namespace: string | undefined): boolean {
  if (subscription.kind !== kind) return false;
  if (kind === 'connection-announcements') return true;
  return subscription.namespaces === undefined || (namespace !== undefined && subscription.namespaces.has(namespace));
}
