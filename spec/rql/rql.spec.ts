import { expect } from 'chai';
import { ErrorCode, RqlError } from '../../src/errors.ts';
import type { Signal, ThingEvent } from '../../src/protocol/signal.ts';
import { thingViewOf } from '../../src/protocol/thing-view.ts';
import { compileRql } from '../../src/rql/rql-evaluator.ts';
import { parseRql } from '../../src/rql/rql-parser.ts';

const event: ThingEvent = {
  type: 'thing.event', channel: 'twin', thingId: 'org.acme:sensor-1', action: 'modified', path: '/attributes/counter', value: 42,
  revision: 7, timestamp: '2024-01-02T03:04:05Z', headers: { 'Correlation-Id': 'abc' }, readGrantedSubjects: [], readRevokedSubjects: [],
  thing: { thingId: 'org.acme:sensor-1', policyId: 'org.acme:policy', attributes: { counter: 41, location: 'Kitchen', tags: 'a' }, features: { temp: { properties: { value: 21.5 } } } },
};

function test(filter: string, signal: Signal = event): boolean {
  return compileRql(filter).test({ signal, thing: () => thingViewOf(signal), now: () => Date.UTC(2024, 0, 1) });
}

describe('RQL filters', () => {
  const table: [string, boolean][] = [
    ['eq(attributes/counter,42)', true], // the event's value wins over the stored thing
    ['eq(attributes/counter,41)', false],
    ['ne(attributes/counter,41)', true],
    ['ne(attributes/missing,1)', true],
    ['gt(attributes/counter,41)', true], ['gt(attributes/counter,42)', false],
    ['ge(attributes/counter,42)', true], ['lt(attributes/counter,43)', true], ['le(attributes/counter,41)', false],
    ['gt(attributes/location,"A")', true], ['gt(attributes/location,1)', false],
    ['eq(thingId,"org.acme:sensor-1")', true], ['eq(policyId,\'org.acme:policy\')', true],
    ['eq(features/temp/properties/value,21.5)', true], ['eq(/features/temp/properties/value,2.15e1)', true],
    ['in(attributes/location,"Hall","Kitchen")', true], ['in(attributes/location,"Hall")', false],
    ['like(attributes/location,"Kit*")', true], ['like(attributes/location,"K?tchen")', true], ['like(attributes/location,"kit*")', false],
    ['ilike(attributes/location,"kit*")', true], ['like(thingId,"org.acme:*")', true], ['like(thingId,"org.acm*:x")', false],
    ['like(attributes/counter,"4*")', false],
    ['exists(attributes/location)', true], ['exists(attributes/nope)', false], ['exists(features/temp)', true],
    ['and(eq(topic:action,"modified"),exists(attributes))', true], ['and(eq(topic:action,"modified"),eq(_revision,8))', false],
    ['or(eq(topic:action,"created"),eq(topic:channel,"twin"))', true], ['not(eq(topic:criterion,"events"))', false],
    ['eq(topic:full,"org.acme/sensor-1/things/twin/events/modified")', true], ['eq(topic:namespace,"org.acme")', true],
    ['eq(resource:path,"/attributes/counter")', true], ['eq(resource:type,"thing")', true],
    ['eq(header:correlation-id,"abc")', true], ['eq(_revision,7)', true], ['eq(_modified,"2024-01-02T03:04:05Z")', true],
    ['eq(attributes/tags,"a")', true], ['eq(attributes/flag,null)', false],
    ['eq( attributes/counter , 42 )', true], ['eq(attributes/location,"Kit\\"chen")', false],
    ['gt(time:now,"2023")', true],
  ];
  for (const [filter, expected] of table) {
    it(`${filter} is ${expected}`, () => expect(test(filter)).to.equal(expected));
  }

  it('sees deleted paths as absent and merged values merged', () => {
    const deleted: ThingEvent = { ...event, action: 'deleted', path: '/attributes/location', value: undefined } as ThingEvent;
    expect(test('exists(attributes/location)', deleted)).to.equal(false);
    expect(test('eq(attributes/counter,41)', deleted)).to.equal(true);
    const merged: ThingEvent = { ...event, action: 'merged', path: '/attributes', value: { location: null, extra: 'y' } };
    expect(test('and(not(exists(attributes/location)),eq(attributes/extra,"y"),eq(attributes/counter,41))', merged)).to.equal(true);
  });

  it('returns an AST with positions', () => {
    expect(parseRql('and(eq(a,1), exists(b))')).to.deep.equal({
      type: 'logical', op: 'and', position: 0, children: [
        { type: 'comparison', op: 'eq', field: { name: 'a', position: 7 }, value: 1, position: 4 },
        { type: 'exists', field: { name: 'b', position: 20 }, position: 13 },
      ],
    });
  });

  const malformed: [string, number][] = [
    ['', 0], ['eq', 2], ['eq(', 3], ['eq(a)', 4], ['eq(a,)', 5], ['eq(a,1', 6], ['foo(a,1)', 0], ['eq(a,1))', 7],
    ['eq(a,unquoted)', 5], ['eq(a,"open)', 5], ['and()', 4], ['like(a,1)', 7], ['in(a)', 4], ['eq(nope:x,1)', 3],
    ['eq(topic:bogus,1)', 3], ['eq(a,1) trailing', 8], ['not(eq(a,1),eq(b,2))', 11], ['eq(,1)', 3],
  ];
  for (const [filter, position] of malformed) {
    it(`rejects '${filter}' with RqlError at position ${position}`, () => {
      let error: unknown;
      try { compileRql(filter); } catch (e) { error = e; }
      expect(error).to.be.instanceOf(RqlError);
      expect((error as RqlError).code).to.equal(ErrorCode.RQL_INVALID);
      expect((error as RqlError).position).to.equal(position);
    });
  }
});
