import { expect } from 'chai';
import { formatTopicPath, parseTopicPath, topicField, topicPathOf } from '../../src/protocol/topic-path.ts';
import type { Signal } from '../../src/protocol/signal.ts';

const base = { headers: {}, readGrantedSubjects: [], readRevokedSubjects: [] };

describe('topic paths', () => {
  const cases: [string, object][] = [
    ['org.eclipse.ditto/fancy-thing/things/twin/events/created', { namespace: 'org.eclipse.ditto', entityName: 'fancy-thing', group: 'things', channel: 'twin', criterion: 'events', action: 'created' }],
    ['ns/name/things/live/messages/ask/question', { namespace: 'ns', entityName: 'name', group: 'things', channel: 'live', criterion: 'messages', subject: 'ask/question' }],
    ['ns/name/things/live/commands/modify', { namespace: 'ns', entityName: 'name', group: 'things', channel: 'live', criterion: 'commands', action: 'modify' }],
    ['ns/pol/policies/announcements/subjectDeletion', { namespace: 'ns', entityName: 'pol', group: 'policies', criterion: 'announcements', action: 'subjectDeletion' }],
    ['_/conn-1/connections/announcements/opened', { namespace: '_', entityName: 'conn-1', group: 'connections', criterion: 'announcements', action: 'opened' }],
  ];
  for (const [text, parsed] of cases) {
    it(`parses and formats ${text} losslessly`, () => {
      expect(parseTopicPath(text)).to.deep.equal(parsed);
      expect(formatTopicPath(parsed as never)).to.equal(text);
    });
  }

  for (const bad of ['', 'ns/name', 'ns/name/cars/twin/events/created', 'ns/name/things/shadow/events/created', 'ns/name/things/twin/gossip/x', '/name/things/twin/events/created', 'ns/name/things/live/messages/']) {
    it(`rejects '${bad}'`, () => expect(parseTopicPath(bad)).to.equal(undefined));
  }

  it('derives the topic of each signal kind and resolves the topic: fields as Ditto documents them', () => {
    const message: Signal = { ...base, type: 'thing.message', thingId: 'org.eclipse.ditto:device-123', subject: 'hello.world', direction: 'to' };
    const topic = topicPathOf(message);
    expect(topicField(topic, 'full')).to.equal('org.eclipse.ditto/device-123/things/live/messages/hello.world');
    expect(topicField(topic, 'action')).to.equal(undefined);
    expect(topicField(topic, 'subject')).to.equal('hello.world');
    expect(topicField(topic, 'action-subject')).to.equal('hello.world');
    const announcement: Signal = { ...base, type: 'connection.announcement', connectionId: 'c1', name: 'closed' };
    expect(formatTopicPath(topicPathOf(announcement))).to.equal('_/c1/connections/announcements/closed');
    expect(topicField(topicPathOf(announcement), 'channel')).to.equal('none');
  });
});
