import { expect } from 'chai';
import { ErrorCode, PlaceholderError } from '../../src/errors.ts';
import { compileTemplate } from '../../src/placeholders/compile-template.ts';
import type { PlaceholderContext } from '../../src/placeholders/placeholder-resolvers.ts';
import type { Signal } from '../../src/protocol/signal.ts';

const auth = { readGrantedSubjects: [], readRevokedSubjects: [] };
const event: Signal = {
  ...auth, type: 'thing.event', channel: 'twin', thingId: 'org.eclipse.ditto:fancy-thing', action: 'modified',
  path: '/features/lamp/properties/on', value: true, revision: 2,
  headers: { 'correlation-id': 'corr-1', 'X-Device': '  Device-7:abc  ', 'ditto-originator': 'nginx:ditto', 'response-required': 'true' },
};
const ctx: PlaceholderContext = { signal: event, connectionId: 'http_oauth2', now: Date.UTC(2024, 0, 2, 3, 4, 5, 6) };
const resolve = (template: string, c: PlaceholderContext = ctx): string | undefined => compileTemplate(template).resolve(c);

describe('placeholder templates', () => {
  const table: [string, string | undefined][] = [
    ['plain text', 'plain text'],
    ['{{thing:id}}', 'org.eclipse.ditto:fancy-thing'],
    ['{{ thing:namespace }}/{{ thing:name }}', 'org.eclipse.ditto/fancy-thing'],
    ['{{ entity:id }}|{{ entity:namespace }}|{{ entity:name }}', 'org.eclipse.ditto:fancy-thing|org.eclipse.ditto|fancy-thing'],
    ['{{ feature:id }}', 'lamp'],
    ['{{ topic:full }}', 'org.eclipse.ditto/fancy-thing/things/twin/events/modified'],
    ['{{ topic:namespace }} {{ topic:entityName }} {{ topic:group }} {{ topic:channel }} {{ topic:criterion }} {{ topic:action }}', 'org.eclipse.ditto fancy-thing things twin events modified'],
    ['{{ topic:subject }}', undefined],
    ['{{ topic:subject | fn:default(topic:action) }}', 'modified'],
    ['{{ header:correlation-id }}', 'corr-1'],
    ['{{ header:x-device }}', '  Device-7:abc  '],
    ['{{ header:missing }}', undefined],
    ['{{ header:missing | fn:default("fallback") }}', 'fallback'],
    ["{{ header:missing | fn:default('fb') | fn:upper() }}", 'FB'],
    ['{{ time:now }}', '2024-01-02T03:04:05.006Z'],
    ['{{ time:now_epoch_millis }}', String(Date.UTC(2024, 0, 2, 3, 4, 5, 6))],
    ['{{ request:subjectId }}', 'nginx:ditto'],
    ['{{ connection:id }}:pushed', 'http_oauth2:pushed'],
    ['{{ resource:path }}', '/features/lamp/properties/on'],
    ['{{ header:x-device | fn:trim | fn:lower }}', 'device-7:abc'],
    ["{{ header:x-device | fn:trim | fn:substring-before(':') }}", 'Device-7'],
    ["{{ header:x-device | fn:trim | fn:substring-after(':') }}", 'abc'],
    ["{{ thing:id | fn:substring-before('#') }}", undefined],
    ["{{ thing:name | fn:replace('-', '_') }}", 'fancy_thing'],
    ['{{ thing:id | fn:url-encode }}', 'org.eclipse.ditto%3Afancy-thing'],
    ["{{ header:x-device | fn:url-encode | fn:url-decode }}", '  Device-7:abc  '],
    ['{{ thing:name | fn:base64-encode }}', 'ZmFuY3ktdGhpbmc='],
    ['{{ thing:name | fn:base64-encode | fn:base64-decode }}', 'fancy-thing'],
    ['{{ thing:name | fn:delete() }}', undefined],
    ["{{ thing:name | fn:delete() | fn:default('x') }}", undefined],
    ["{{ thing:name | fn:filter(header:response-required,'eq','true') }}", 'fancy-thing'],
    ["{{ thing:name | fn:filter(header:response-required,'eq','false') }}", undefined],
    ["{{ thing:name | fn:filter(header:response-required,'exists') }}", 'fancy-thing'],
    ["{{ thing:name | fn:filter(header:nope,'exists','false') }}", 'fancy-thing'],
    ["{{ thing:name | fn:filter('like','fancy*|other') }}", 'fancy-thing'],
    ["{{ thing:name | fn:filter('like','x?') }}", undefined],
    ["{{ thing:name | fn:filter('ne','fancy-thing') | fn:default('no') }}", 'no'],
    ["{{ fn:default('lead') }}", 'lead'],
    ["{{ header:missing | fn:default('a}}b') }}", 'a}}b'],
    ['a {{thing:name}} b {{header:missing}}', undefined],
  ];
  for (const [template, expected] of table) {
    it(`resolves ${template} to ${JSON.stringify(expected)}`, () => expect(resolve(template)).to.equal(expected));
  }

  it('resolves nothing for things when the signal is a policy announcement, but entity: and policy: work', () => {
    const policy: PlaceholderContext = { ...ctx, signal: { ...auth, headers: {}, type: 'policy.announcement', policyId: 'ns:pol', name: 'subjectDeletion' } };
    expect(resolve('{{ thing:id }}', policy)).to.equal(undefined);
    expect(resolve('{{ entity:name }}/{{ policy:namespace }}', policy)).to.equal('pol/ns');
    expect(resolve('{{ topic:channel }}', policy)).to.equal('none');
  });

  it('reads header: from the envelope headers when given (so a generated correlation-id resolves)', () => {
    expect(resolve('{{ header:correlation-id }}', { ...ctx, signal: { ...event, headers: {} }, headers: { 'correlation-id': 'gen' } })).to.equal('gen');
  });

  it('applies the encoder to placeholder values only and lists the placeholders used', () => {
    const compiled = compileTemplate('/a b/{{ thing:id }}/{{ header:x-device }}');
    expect(compiled.placeholders).to.deep.equal(['thing:id', 'header:x-device']);
    expect(compiled.isStatic).to.equal(false);
    expect(compiled.resolve(ctx, (v) => `<${v.trim()}>`)).to.equal('/a b/<org.eclipse.ditto:fancy-thing>/<Device-7:abc>');
  });

  const malformed: [string, number, string][] = [
    ['{{ thing:id', 0, "without closing"],
    ['x {{ }}', 2, 'empty'],
    ['{{ nope:id }}', 3, "unknown placeholder 'nope:id'"],
    ['{{ thing:uuid }}', 3, "unknown placeholder 'thing:uuid'"],
    ['{{ topic:bogus }}', 3, 'unknown placeholder'],
    ['{{ thing:id | fn:shout }}', 14, "unknown function 'fn:shout'"],
    ['{{ thing:id | lower }}', 14, 'must be a function'],
    ['{{ thing:id | }}', 14, 'empty pipeline step'],
    ["{{ thing:id | fn:default('a', 'b') }}", 14, 'takes 1 argument'],
    ['{{ thing:id | fn:upper(\'x\') }}', 14, 'takes 0 argument'],
    ["{{ thing:id | fn:replace('a') }}", 14, 'takes 2 argument'],
    ["{{ thing:id | fn:default('open) }}", 0, 'without closing'],
    ['{{ thingid }}', 3, 'not a placeholder'],
    ["{{ thing:id | fn:filter('gt','1') }}", 24, 'operator'],
    ["{{ thing:id | fn:substring-before(thing:id) }}", 34, 'quoted string'],
    ['{{ {{ thing:id }} }}', 3, 'nested'],
    ["{{ thing:id | fn:default(bogus:x) }}", 25, "unknown placeholder 'bogus:x'"],
  ];
  for (const [template, position, message] of malformed) {
    it(`rejects ${template} with PlaceholderError at ${position}`, () => {
      let error: unknown;
      try { compileTemplate(template); } catch (e) { error = e; }
      expect(error).to.be.instanceOf(PlaceholderError);
      expect((error as PlaceholderError).code).to.equal(ErrorCode.PLACEHOLDER_INVALID);
      expect((error as PlaceholderError).message).to.include(message);
      expect((error as PlaceholderError).position).to.equal(position);
    });
  }

  it('refuses placeholders outside the allowed prefixes', () => {
    expect(() => compileTemplate('{{ time:now }}', ['thing'])).to.throw(PlaceholderError, 'not allowed');
  });
});
