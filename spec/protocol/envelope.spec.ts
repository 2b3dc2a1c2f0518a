import { expect } from 'chai';
import { toDittoProtocol } from '../../src/protocol/envelope.ts';
import type { Signal, ThingEvent } from '../../src/protocol/signal.ts';

const auth = { readGrantedSubjects: ['s'], readRevokedSubjects: [] };

// Expected bodies follow Ditto's documented protocol examples (protocol/examples/things/generated/events),
// with the correlation-id every envelope carries in twinlink.
describe('the Ditto protocol envelope', () => {
  it('matches Ditto\'s ThingCreated example: value is the thing JSON at path /', () => {
    const thing = {
      thingId: 'org.eclipse.ditto:fancy-thing_53',
      policyId: 'org.eclipse.ditto:the_policy_id',
      attributes: { location: { latitude: 44.673856, longitude: 8.261719 } },
      features: { accelerometer: { properties: { x: 3.141, y: 2.718, z: 1, unit: 'g' }, desiredProperties: { x: 4, y: 3, z: 5, unit: 'g' } } },
    };
    const event: ThingEvent = {
      ...auth, type: 'thing.event', channel: 'twin', thingId: 'org.eclipse.ditto:fancy-thing', action: 'created', path: '/', value: thing, revision: 1,
      headers: { 'correlation-id': '<preserved-command-correlation-id>' },
    };
    const envelope = toDittoProtocol(event, { correlationId: 'unused' });
    expect(JSON.stringify(envelope)).to.equal(JSON.stringify({
      topic: 'org.eclipse.ditto/fancy-thing/things/twin/events/created',
      headers: { 'correlation-id': '<preserved-command-correlation-id>' },
      path: '/',
      value: thing,
      revision: 1,
    }));
  });

  it('matches Ditto\'s AttributeModified example, adding the generated correlation-id', () => {
    const event: ThingEvent = {
      ...auth, type: 'thing.event', channel: 'twin', thingId: 'com.acme:xdk_53', action: 'modified', path: '/attributes/location',
      value: { latitude: 44.673856, longitude: 8.261719 }, revision: 1, headers: {},
    };
    expect(JSON.stringify(toDittoProtocol(event, { correlationId: 'gen-1' }))).to.equal(
      '{"topic":"com.acme/xdk_53/things/twin/events/modified","headers":{"correlation-id":"gen-1"},"path":"/attributes/location","value":{"latitude":44.673856,"longitude":8.261719},"revision":1}',
    );
  });

  it('matches Ditto\'s merged-at-/attributes/location example with the merge-patch content type', () => {
    const event: ThingEvent = {
      ...auth, type: 'thing.event', channel: 'twin', thingId: 'com.acme:xdk_53', action: 'merged', path: '/attributes/location',
      value: { latitude: 44.673856, longitude: 8.261719 }, revision: 42, timestamp: '2021-01-18T09:42:12Z', headers: { 'correlation-id': 'c' },
    };
    expect(JSON.stringify(toDittoProtocol(event, { correlationId: 'x' }))).to.equal(
      '{"topic":"com.acme/xdk_53/things/twin/events/merged","headers":{"correlation-id":"c","content-type":"application/merge-patch+json"},"path":"/attributes/location","value":{"latitude":44.673856,"longitude":8.261719},"revision":42,"timestamp":"2021-01-18T09:42:12Z"}',
    );
  });

  it('matches Ditto\'s ThingDeleted example: no value', () => {
    const event: ThingEvent = { ...auth, type: 'thing.event', channel: 'twin', thingId: 'com.acme:xdk_53', action: 'deleted', path: '/', revision: 1, headers: {}, value: { ignored: true } };
    expect(JSON.stringify(toDittoProtocol(event, { correlationId: 'c' }))).to.equal(
      '{"topic":"com.acme/xdk_53/things/twin/events/deleted","headers":{"correlation-id":"c"},"path":"/","revision":1}',
    );
  });

  it('never leaks credentials or internal headers, keeps ditto-originator, and places extra before revision', () => {
    const event: ThingEvent = {
      ...auth, type: 'thing.event', channel: 'live', thingId: 'a:b', action: 'modified', path: '/attributes/x', value: 1, revision: 3,
      headers: { Authorization: 'Bearer secret', 'twinlink-trace': 'x', 'ditto-read-subjects': 's', 'ditto-originator': 'nginx:ditto', 'x-custom': 'v' },
    };
    const envelope = toDittoProtocol(event, { correlationId: 'c', extra: { attributes: { y: 2 } }, timestamp: '2024-01-01T00:00:00.000Z' });
    expect(envelope.headers).to.deep.equal({ 'ditto-originator': 'nginx:ditto', 'x-custom': 'v', 'correlation-id': 'c' });
    expect(Object.keys(envelope)).to.deep.equal(['topic', 'headers', 'path', 'value', 'extra', 'revision', 'timestamp']);
    expect(envelope.topic).to.equal('a/b/things/live/events/modified');
  });

  it('addresses live messages to the inbox or outbox of the thing or feature, with a content-type', () => {
    const base = { ...auth, type: 'thing.message' as const, thingId: 'ns:t', subject: 'ask/question', headers: {} };
    expect(toDittoProtocol({ ...base, direction: 'to', value: 'hi' }, { correlationId: 'c' })).to.deep.include({
      topic: 'ns/t/things/live/messages/ask/question', path: '/inbox/messages/ask/question', value: 'hi',
    });
    const fromFeature = toDittoProtocol({ ...base, direction: 'from', featureId: 'lamp', contentType: 'text/plain' }, { correlationId: 'c' });
    expect(fromFeature.path).to.equal('/features/lamp/outbox/messages/ask/question');
    expect(fromFeature.headers['content-type']).to.equal('text/plain');
  });

  it('builds announcements: policy announcements at / and connection announcements with openedAt', () => {
    const policy: Signal = { ...auth, type: 'policy.announcement', policyId: 'ns:p', name: 'subjectDeletion', value: { subjectIds: ['s'] }, headers: {} };
    expect(toDittoProtocol(policy, { correlationId: 'c' })).to.deep.equal({
      topic: 'ns/p/policies/announcements/subjectDeletion', headers: { 'correlation-id': 'c' }, path: '/', value: { subjectIds: ['s'] },
    });
    const opened: Signal = { ...auth, type: 'connection.announcement', connectionId: 'c1', name: 'opened', headers: {}, timestamp: '2024-05-01T00:00:00Z' };
    expect(toDittoProtocol(opened, { correlationId: 'c' })).to.deep.include({ topic: '_/c1/connections/announcements/opened', value: { openedAt: '2024-05-01T00:00:00Z' } });
  });

  it('builds live commands with merge content type for merge', () => {
    const command: Signal = { ...auth, type: 'thing.command', thingId: 'ns:t', action: 'merge', path: '/attributes', value: { a: 1 }, headers: { 'correlation-id': 'k' } };
    expect(toDittoProtocol(command, { correlationId: 'c' })).to.deep.equal({
      topic: 'ns/t/things/live/commands/merge', headers: { 'correlation-id': 'k', 'content-type': 'application/merge-patch+json' }, path: '/attributes', value: { a: 1 },
    });
  });
});
