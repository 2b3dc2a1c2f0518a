import { expect } from 'chai';
import { TestScheduler } from 'rxjs/testing';
import { authorize, isAuthorized } from '../../src/pipeline/authorize.ts';
import { filterByTopic } from '../../src/pipeline/filter-by-topic.ts';
import { applyPayloadMapping, type NamedMapper } from '../../src/pipeline/apply-payload-mapping.ts';
import { parseTopicSubscription } from '../../src/pipeline/target-topics.ts';
import { mapToDittoProtocol } from '../../src/pipeline/to-ditto-protocol.ts';
import type { Signal } from '../../src/protocol/signal.ts';
import { dittoMapperFactory } from '../../src/pipeline/payload-mapper.ts';
import { fixedClock, thingEvent } from './pipeline-fixtures.ts';

const newScheduler = (): TestScheduler => new TestScheduler((actual, expected) => { expect(actual).to.deep.equal(expected); });

describe('pipeline operators', () => {
  it('filterByTopic passes matching signals in order, reports the others, and subscribes once', () => {
    const a = thingEvent({ thingId: 'org.a:1' });
    const b = thingEvent({ thingId: 'org.b:1' });
    const live = thingEvent({ thingId: 'org.a:2', channel: 'live' });
    const c = thingEvent({ thingId: 'org.a:3', value: 'no' });
    const subs = [parseTopicSubscription('_/_/things/twin/events?namespaces=org.a&filter=ne(attributes/counter,"no")')];
    const filtered: Signal[] = [];
    newScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-a-b-l-c-|', { a, b, l: live, c });
      const out = source.pipe(filterByTopic(subs, { clock: fixedClock }, (s) => filtered.push(s)));
      expectObservable(out).toBe('-a-------|', { a: { signal: a, subscription: subs[0] } });
      expectSubscriptions(source.subscriptions).toBe('^--------!');
    });
    expect(filtered).to.deep.equal([b, live, c]);
  });

  it('filterByTopic lets filters read extraFields from the host lookup and hands them on', () => {
    const subs = [parseTopicSubscription('_/_/things/twin/events?extraFields=attributes/location&filter=eq(attributes/location,"kitchen")')];
    const lookup = (thingId: string, fields: readonly string[]) => (thingId.endsWith(':k') && fields[0] === 'attributes/location' ? { attributes: { location: 'kitchen' } } : { attributes: { location: 'hall' } });
    const k = thingEvent({ thingId: 'ns:k' });
    const h = thingEvent({ thingId: 'ns:h' });
    newScheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold('kh|', { k, h }).pipe(filterByTopic(subs, { clock: fixedClock, extraFields: lookup })))
        .toBe('k-|', { k: { signal: k, subscription: subs[0], extra: { attributes: { location: 'kitchen' } } } });
    });
  });

  it('authorize keeps items whose context shares a granted, unrevoked subject', () => {
    const ok = { signal: thingEvent({ readGrantedSubjects: ['x', 'integration:ditto'] }) };
    const none = { signal: thingEvent({ readGrantedSubjects: ['other'] }) };
    const revoked = { signal: thingEvent({ readGrantedSubjects: ['integration:ditto'], readRevokedSubjects: ['integration:ditto'] }) };
    const rejected: Signal[] = [];
    newScheduler().run(({ cold, expectObservable }) => {
      const out = cold('onr|', { o: ok, n: none, r: revoked }).pipe(authorize({ connectionId: 'c', subjects: new Set(['integration:ditto']) }, (s) => rejected.push(s)));
      expectObservable(out).toBe('o--|', { o: ok });
    });
    expect(rejected).to.deep.equal([none.signal, revoked.signal]);
  });

  it('connection announcements reach only the connection they are about; policy announcements the announced subjects', () => {
    const base = { headers: {}, readGrantedSubjects: [], readRevokedSubjects: [] };
    const target = { connectionId: 'c1', subjects: new Set(['s1']) };
    expect(isAuthorized({ ...base, type: 'connection.announcement', connectionId: 'c1', name: 'opened' }, target)).to.equal(true);
    expect(isAuthorized({ ...base, type: 'connection.announcement', connectionId: 'c2', name: 'opened' }, target)).to.equal(false);
    expect(isAuthorized({ ...base, type: 'policy.announcement', policyId: 'n:p', name: 'subjectDeletion', readGrantedSubjects: ['s1'] }, target)).to.equal(true);
    expect(isAuthorized({ ...base, type: 'policy.announcement', policyId: 'n:p', name: 'subjectDeletion', readGrantedSubjects: ['s2'] }, target)).to.equal(false);
  });

  it('mapToDittoProtocol + applyPayloadMapping emit one item per mapped message and drop failing mappers', () => {
    const sub = parseTopicSubscription('_/_/things/twin/events');
    const good = thingEvent();
    const bad = thingEvent({ thingId: 'ns:explode' });
    const mappers: NamedMapper[] = [
      { id: 'Ditto', mapper: dittoMapperFactory({}, { connectionId: 'c', mappingId: 'Ditto' }) },
      { id: 'twice', mapper: { map: (s) => { if (s.type === 'thing.event' && s.thingId === 'ns:explode') throw new Error('boom'); return [{ contentType: 'text/plain', body: 'x' }]; } } },
    ];
    const reasons: string[] = [];
    newScheduler().run(({ cold, expectObservable }) => {
      const out = cold('g---b--|', { g: { signal: good, subscription: sub }, b: { signal: bad, subscription: sub } }).pipe(
        mapToDittoProtocol(fixedClock),
        applyPayloadMapping(mappers, (_i, r) => { if (!r.ok) reasons.push(r.reason); }),
      );
      expectObservable(out).toBe('(gx)---|', {
        g: { signal: good, subscription: sub, correlationId: good.headers['correlation-id'], envelope: { topic: 'org.eclipse.ditto/fancy-thing/things/twin/events/modified', headers: { 'correlation-id': good.headers['correlation-id'] }, path: '/attributes/counter', value: good.value, revision: good.revision, timestamp: good.timestamp }, message: { contentType: 'application/vnd.eclipse.ditto+json', body: JSON.stringify({ topic: 'org.eclipse.ditto/fancy-thing/things/twin/events/modified', headers: { 'correlation-id': good.headers['correlation-id'] }, path: '/attributes/counter', value: good.value, revision: good.revision, timestamp: good.timestamp }) } },
        x: { signal: good, subscription: sub, correlationId: good.headers['correlation-id'], envelope: { topic: 'org.eclipse.ditto/fancy-thing/things/twin/events/modified', headers: { 'correlation-id': good.headers['correlation-id'] }, path: '/attributes/counter', value: good.value, revision: good.revision, timestamp: good.timestamp }, message: { contentType: 'text/plain', body: 'x' } },
      });
    });
    expect(reasons).to.deep.equal(["payload mapper 'twice' failed: boom"]);
  });
});
