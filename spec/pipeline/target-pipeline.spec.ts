import { expect } from 'chai';
import { TestScheduler } from 'rxjs/testing';
import { ErrorCode, PlaceholderError, RqlError, TwinlinkError } from '../../src/errors.ts';
import { MapperRegistry, dittoMapperFactory, normalizedMapperFactory } from '../../src/pipeline/payload-mapper.ts';
import { Subject } from 'rxjs';
import { createTargetPipeline } from '../../src/pipeline/target-pipeline.ts';
import type { OutboundMessage } from '../../src/pipeline/outbound-message.ts';
import type { TargetOutcome } from '../../src/pipeline/target-work.ts';
import type { Signal } from '../../src/protocol/signal.ts';
import { connection, fixedClock, target, thingEvent } from './pipeline-fixtures.ts';

/** The target's pipeline driven synchronously: `buildOutbound(signal)` returns what it emits for that signal. */
function processor(t = target(), extra: Partial<Parameters<typeof connection>[1]> = {}, outcomes: TargetOutcome[] = [], mappers?: MapperRegistry) {
  const operator = createTargetPipeline({ connection: connection([t], extra), targetIndex: 0, clock: fixedClock, onOutcome: (o) => outcomes.push(o), ...(mappers ? { mappers } : {}) });
  const input = new Subject<Signal>();
  let emitted: OutboundMessage[] = [];
  input.pipe(operator).subscribe((message) => emitted.push(message));
  return {
    buildOutbound(signal: Signal): OutboundMessage[] {
      emitted = [];
      input.next(signal);
      return emitted;
    },
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('target pipeline', () => {
  it('turns the seed scenario\'s thing-created event into one Ditto-protocol POST', () => {
    const outcomes: TargetOutcome[] = [];
    const created = thingEvent({
      action: 'created', path: '/', headers: {}, revision: 1, timestamp: undefined,
      value: { thingId: 'org.eclipse.ditto:fancy-thing', policyId: 'org.eclipse.ditto:fancy-thing' },
    });
    const [message, ...rest] = processor(target(), {}, outcomes).buildOutbound(created);
    expect(rest).to.have.length(0);
    expect(message).to.include({ connectionId: 'http_oauth2', targetIndex: 0, method: 'POST', pathAndQuery: '/6148b899-736f-47e6-9382-90b1d721630e', signal: created });
    expect(message?.correlationId).to.match(UUID);
    expect(message?.headers).to.deep.equal({ 'content-type': 'application/vnd.eclipse.ditto+json' });
    expect(JSON.parse(message?.body ?? '')).to.deep.equal({
      topic: 'org.eclipse.ditto/fancy-thing/things/twin/events/created',
      headers: { 'correlation-id': message?.correlationId },
      path: '/',
      value: { thingId: 'org.eclipse.ditto:fancy-thing', policyId: 'org.eclipse.ditto:fancy-thing' },
      revision: 1,
      timestamp: '2024-01-01T00:00:00.000Z',
    });
    expect(outcomes.map((o) => o.outcome)).to.deep.equal(['mapped']);
  });

  it('uses one generated correlation id per signal across targets', () => {
    const signal = thingEvent({ headers: {} });
    const a = processor().buildOutbound(signal)[0];
    const b = processor(target({ address: 'PUT:/other' })).buildOutbound(signal)[0];
    expect(a?.correlationId).to.equal(b?.correlationId);
  });

  it('reports filtered and unauthorized signals and produces nothing for them', () => {
    const outcomes: TargetOutcome[] = [];
    const p = processor(target({ topics: ['_/_/things/twin/events?namespaces=org.eclipse.ditto&filter=gt(attributes/counter,0)'] }), {}, outcomes);
    expect(p.buildOutbound(thingEvent({ thingId: 'other:x' }))).to.deep.equal([]);
    expect(p.buildOutbound(thingEvent({ value: -1 }))).to.deep.equal([]);
    expect(p.buildOutbound(thingEvent({ readGrantedSubjects: ['someone:else'] }))).to.deep.equal([]);
    expect(outcomes.map((o) => o.outcome)).to.deep.equal(['filtered', 'filtered', 'unauthorized']);
  });

  it('resolves address placeholders, encoding them for their position', () => {
    const p = processor(target({ address: 'PUT:/things/{{ thing:id }}/{{ header:x-path }}?source={{ header:x-q }}&ns={{ thing:namespace }}' }));
    const [m] = p.buildOutbound(thingEvent({ headers: { 'x-path': '../a b/c?d#e', 'x-q': 'a&b=c+d /?' } }));
    expect(m?.pathAndQuery).to.equal('/things/org.eclipse.ditto:fancy-thing/..%2Fa%20b%2Fc%3Fd%23e?source=a%26b%3Dc%2Bd%20/?&ns=org.eclipse.ditto');
    expect(m?.method).to.equal('PUT');
  });

  it('drops a message whose address cannot be resolved, with a reason', () => {
    const outcomes: TargetOutcome[] = [];
    expect(processor(target({ address: 'POST:/x/{{ header:missing }}' }), {}, outcomes).buildOutbound(thingEvent())).to.deep.equal([]);
    expect(outcomes.map((o) => [o.outcome, o.reason])).to.deep.equal([['mapped', undefined], ['dropped', "address 'POST:/x/{{ header:missing }}' could not be resolved"]]);
  });

  it('applies headerMapping: unresolvable headers left out, CR/LF values dropped, http.path/http.query replace path and query', () => {
    const p = processor(target({
      address: 'POST:/original?x=1',
      headerMapping: {
        'X-Thing': '{{ thing:id }}', 'x-missing': '{{ header:nope }}', 'x-evil': '{{ header:evil }}',
        'x-corr': '{{ header:correlation-id }}', 'http.path': '/by-ns/{{ thing:namespace }}', 'http.query': 'id={{ thing:name }}&t=a b',
        'content-type': 'application/json',
      },
    }));
    const [m] = p.buildOutbound(thingEvent({ headers: { evil: 'a\r\nInjected: yes' } }));
    expect(m?.headers).to.deep.equal({ 'content-type': 'application/json', 'x-thing': 'org.eclipse.ditto:fancy-thing', 'x-corr': m?.correlationId });
    expect(m?.pathAndQuery).to.equal('/by-ns/org.eclipse.ditto?id=fancy-thing&t=a%20b');
  });

  it('omits the body for verbs in omitRequestBody and resolves the acknowledgement label', () => {
    const p = processor(target({ address: 'GET:/poll', issuedAcknowledgementLabel: '{{connection:id}}:pushed' }));
    const [m] = p.buildOutbound(thingEvent());
    expect(m).to.not.have.property('body');
    expect(m?.acknowledgementLabel).to.equal('http_oauth2:pushed');
  });

  it('runs mappers from mappingDefinitions, a registered custom mapper producing several messages, and the Normalized mapper', () => {
    const registry = new MapperRegistry().register('Ditto', dittoMapperFactory).register('Normalized', normalizedMapperFactory)
      .register('Split', (options) => ({ map: (_s, env) => [1, 2].map((n) => ({ contentType: 'text/plain', body: `${String(options.prefix)}${n}:${env.topic}`, headers: { 'x-part': String(n), 'bad\nname': 'x' } })) }));
    const p = processor(target({ payloadMapping: ['split', 'Normalized'] }), {
      mappingDefinitions: { split: { mappingEngine: 'Split', options: { prefix: '#' } } },
    }, [], registry);
    const signal = thingEvent({ path: '/features/lamp/properties/on', value: true, revision: 9 });
    const messages = p.buildOutbound(signal);
    expect(messages.map((m) => [m.headers['content-type'], m.headers['x-part'], m.body?.slice(0, 3)])).to.deep.equal([
      ['text/plain', '1', '#1:'], ['text/plain', '2', '#2:'], ['application/json', undefined, '{"t'],
    ]);
    expect(JSON.parse(messages[2]?.body ?? '')).to.deep.equal({
      thingId: 'org.eclipse.ditto:fancy-thing',
      features: { lamp: { properties: { on: true } } },
      _revision: 9,
      _modified: '2024-01-01T00:00:00Z',
      _context: { topic: 'org.eclipse.ditto/fancy-thing/things/twin/events/modified', path: '/features/lamp/properties/on', headers: { 'correlation-id': signal.headers['correlation-id'] }, value: true },
    });
  });

  it('drops an event whose mapper throws, with a counted reason', () => {
    const registry = new MapperRegistry().register('Boom', () => ({ map: () => { throw new Error('bad payload'); } }));
    const outcomes: TargetOutcome[] = [];
    expect(processor(target({ payloadMapping: ['Boom'] }), {}, outcomes, registry).buildOutbound(thingEvent())).to.deep.equal([]);
    expect(outcomes).to.have.length(1);
    expect(outcomes[0]).to.include({ outcome: 'dropped', reason: "payload mapper 'Boom' failed: bad payload" });
  });

  it('reports configuration problems when the target is compiled, with codes and positions', () => {
    const rql = (() => { try { processor(target({ topics: ['_/_/things/twin/events?filter=eq(attributes/x,'] })); } catch (e) { return e; } })();
    expect(rql).to.be.instanceOf(RqlError).and.have.property('position', 16);
    const placeholder = (() => { try { processor(target({ address: 'POST:/x/{{ thing:uid }}' })); } catch (e) { return e; } })();
    expect(placeholder).to.be.instanceOf(PlaceholderError).and.have.property('position', 11);
    expect(() => processor(target({ address: 'SEND:/x' }))).to.throw(TwinlinkError, "Expect '<VERB>:/<path>'").with.property('code', ErrorCode.CONFIG_INVALID);
    expect(() => processor(target({ payloadMapping: ['Nope'] }))).to.throw(TwinlinkError, 'unknown mapping engine').with.property('code', ErrorCode.MAPPING_FAILED);
    expect(() => processor(target({ topics: ['_/_/things/twin/event'] }))).to.throw(TwinlinkError).with.property('code', ErrorCode.CONFIG_INVALID);
    expect(() => processor(target({ headerMapping: { 'bad name': 'x' } }))).to.throw(TwinlinkError).with.property('code', ErrorCode.HEADER_INVALID);
  });

  it('emits in marble time: nothing for filtered or unauthorized signals, and ends with its source', () => {
    const t = target({ topics: ['_/_/things/twin/events?filter=ne(attributes/counter,"skip")'], headerMapping: { 'x-id': '{{ thing:name }}' } });
    const signals: Record<string, Signal> = { a: thingEvent(), b: thingEvent({ value: 'skip' }), c: thingEvent({ readGrantedSubjects: [] }), d: thingEvent() };
    const viaFunction = processor(t);
    const outcomes: TargetOutcome[] = [];
    new TestScheduler((actual, expected) => { expect(actual).to.deep.equal(expected); }).run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('a-b-c-d|', signals);
      const out = source.pipe(createTargetPipeline({ connection: connection([t]), targetIndex: 0, clock: fixedClock, onOutcome: (o) => outcomes.push(o) }));
      expectObservable(out).toBe('a-----d|', { a: viaFunction.buildOutbound(signals.a as Signal)[0], d: viaFunction.buildOutbound(signals.d as Signal)[0] });
      expectSubscriptions(source.subscriptions).toBe('^------!');
    });
    expect(outcomes.map((o) => o.outcome)).to.deep.equal(['mapped', 'filtered', 'unauthorized', 'mapped']);
  });
});
