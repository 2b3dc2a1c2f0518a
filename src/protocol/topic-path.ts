/**
 * Ditto protocol topic paths: `{namespace}/{entityName}/{group}/{channel}/{criterion}/{action|subject}`,
 * where policies and connections have no channel segment (`ns/name/policies/announcements/<name>`,
 * `_/<id>/connections/announcements/opened`) and message subjects may contain `/`.
 */
import type { Signal } from './signal.ts';

export type TopicGroup = 'things' | 'policies' | 'connections';
export type TopicChannel = 'twin' | 'live';
export type TopicCriterion = 'events' | 'commands' | 'messages' | 'announcements' | 'search' | 'acks' | 'errors';

/** A parsed topic path. `action` and `subject` are mutually exclusive (messages carry a subject). */
export interface TopicPath {
  readonly namespace: string;
  readonly entityName: string;
  readonly group: TopicGroup;
  /** Absent for policies and connections (Ditto's channel `none`). */
  readonly channel?: TopicChannel;
  readonly criterion: TopicCriterion;
  readonly action?: string;
  /** Message subject (criterion `messages`). */
  readonly subject?: string;
}

const GROUPS = new Set<string>(['things', 'policies', 'connections']);
const CHANNELS = new Set<string>(['twin', 'live']);
const CRITERIA = new Set<string>(['events', 'commands', 'messages', 'announcements', 'search', 'acks', 'errors']);

/**
 * Formats a topic path as Ditto writes it.
 * @example formatTopicPath({ namespace: 'org.eclipse.ditto', entityName: 'fancy-thing', group: 'things',
 *   channel: 'twin', criterion: 'events', action: 'created' }) // 'org.eclipse.ditto/fancy-thing/things/twin/events/created'
 */
export function formatTopicPath(topic: TopicPath): string {
  const tail = topic.subject ?? topic.action;
  const channel = topic.channel === undefined ? '' : `/${topic.channel}`;
  return `${topic.namespace}/${topic.entityName}/${topic.group}${channel}/${topic.criterion}${tail === undefined ? '' : `/${tail}`}`;
}

/** Parses a Ditto topic path; returns `undefined` when it is not one. */
export function parseTopicPath(text: string): TopicPath | undefined {
  const parts = text.split('/');
  if (parts.length < 4) return undefined;
  const [namespace, entityName, group] = parts as [string, string, string];
  if (namespace === '' || entityName === '' || !GROUPS.has(group)) return undefined;
  let i = 3;
  let channel: TopicChannel | undefined;
  if (group === 'things') {
    const c = parts[i++];
    if (c === undefined || !CHANNELS.has(c)) return undefined;
    channel = c as TopicChannel;
  }
  const criterion = parts[i++];
  if (criterion === undefined || !CRITERIA.has(criterion)) return undefined;
  const rest = parts.slice(i);
  const base = { namespace, entityName, group: group as TopicGroup, criterion: criterion as TopicCriterion, ...(channel ? { channel } : {}) };
  if (criterion === 'messages') {
    const subject = rest.join('/');
    return subject === '' ? undefined : { ...base, subject };
  }
  if (rest.length > 1) return undefined;
  const action = rest[0];
  if (action === '') return undefined;
  return action === undefined ? base : { ...base, action };
}

/** Splits `namespace:name` at the first colon; an id without colon has the empty namespace. */
export function splitEntityId(id: string): { namespace: string; name: string } {
  const colon = id.indexOf(':');
  return colon < 0 ? { namespace: '', name: id } : { namespace: id.slice(0, colon), name: id.slice(colon + 1) };
}

const topicCache = new WeakMap<Signal, TopicPath>();

/** The topic path a signal is published under (cached per signal object). */
export function topicPathOf(signal: Signal): TopicPath {
  let topic = topicCache.get(signal);
  if (topic === undefined) {
    topic = computeTopicPath(signal);
    topicCache.set(signal, topic);
  }
  return topic;
}

function computeTopicPath(signal: Signal): TopicPath {
  switch (signal.type) {
    case 'thing.event': {
      const { namespace, name } = splitEntityId(signal.thingId);
      return { namespace, entityName: name, group: 'things', channel: signal.channel, criterion: 'events', action: signal.action };
    }
    case 'thing.message': {
      const { namespace, name } = splitEntityId(signal.thingId);
      return { namespace, entityName: name, group: 'things', channel: 'live', criterion: 'messages', subject: signal.subject };
    }
    case 'thing.command': {
      const { namespace, name } = splitEntityId(signal.thingId);
      return { namespace, entityName: name, group: 'things', channel: 'live', criterion: 'commands', action: signal.action };
    }
    case 'policy.announcement': {
      const { namespace, name } = splitEntityId(signal.policyId);
      return { namespace, entityName: name, group: 'policies', criterion: 'announcements', action: signal.name };
    }
    case 'connection.announcement':
      return { namespace: '_', entityName: signal.connectionId, group: 'connections', criterion: 'announcements', action: signal.name };
  }
}

/** Names accepted after `topic:` in placeholders and RQL. */
export const TOPIC_FIELDS = ['full', 'namespace', 'entityName', 'entityId', 'group', 'channel', 'criterion', 'action', 'subject', 'action-subject'] as const;
export type TopicField = (typeof TOPIC_FIELDS)[number];

/**
 * Value of a `topic:<field>` placeholder; `undefined` when the topic has no such part
 * (e.g. `topic:subject` of an event). The channel of policies/connections is `none`, as in Ditto.
 */
export function topicField(topic: TopicPath, field: TopicField): string | undefined {
  switch (field) {
    case 'full': return formatTopicPath(topic);
    case 'namespace': return topic.namespace;
    case 'entityName':
    case 'entityId': return topic.entityName;
    case 'group': return topic.group;
    case 'channel': return topic.channel ?? 'none';
    case 'criterion': return topic.criterion;
    case 'action': return topic.action;
    case 'subject': return topic.subject;
    case 'action-subject': return topic.subject ?? topic.action;
  }
}
