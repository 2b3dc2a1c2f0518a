import { expect } from 'chai';
import { DittoApiError } from '../../src/things/ditto-api-error.ts';
import { THING_ROOT, parseThingPath } from '../../src/things/thing-path.ts';
import { ThingStore } from '../../src/things/thing-store.ts';
import type { Caller } from '../../src/things/thing-store.ts';

const creator: Caller = { subject: 'nginx:ditto', headers: { 'correlation-id': 'c-1' } };
const stranger: Caller = { subject: 'nginx:stranger' };
const seedPolicy = {
  entries: {
    DEFAULT: {
      subjects: { '{{ request:subjectId }}': { type: 'the creator' }, 'integration:ditto': { type: 'the connection' } },
      resources: { 'policy:/': { grant: ['READ', 'WRITE'], revoke: [] }, 'thing:/': { grant: ['READ', 'WRITE'], revoke: [] } },
    },
  },
};

function newStore(): ThingStore {
  let n = 0;
  return new ThingStore({ defaultNamespace: 'org.acme', clock: { now: () => Date.UTC(2024, 0, 1) }, generateName: () => `thing-${++n}` });
}

function expectApiError(fn: () => unknown, status: number, error: string): void {
  expect(fn).to.throw(DittoApiError).that.satisfies((e: DittoApiError) => {
    expect({ status: e.status, error: e.error }).to.deep.equal({ status, error });
    return true;
  });
}

describe('ThingStore', () => {
  it('creates a thing with the seed policy: created event at / with the thing as value, revision 1, READ for creator and connection', () => {
    const store = newStore();
    const { event, created, thing } = store.create(creator, { _policy: seedPolicy });
    expect(created).to.equal(true);
    expect(thing).to.deep.equal({ thingId: 'org.acme:thing-1', policyId: 'org.acme:thing-1' });
    expect(event).to.deep.include({
      type: 'thing.event', channel: 'twin', thingId: 'org.acme:thing-1', action: 'created', path: '/', revision: 1,
      value: { thingId: 'org.acme:thing-1', policyId: 'org.acme:thing-1' },
      headers: { 'correlation-id': 'c-1' },
      readGrantedSubjects: ['integration:ditto', 'nginx:ditto'], readRevokedSubjects: [],
      timestamp: '2024-01-01T00:00:00.000Z',
    });
    expect(store.policy('org.acme:thing-1')).to.not.equal(undefined);
  });

  it('gives only the creator READ without _policy (default policy stored under the thing id)', () => {
    const store = newStore();
    const { event } = store.create(creator, { attributes: { a: 1 } }, 'org.acme:x');
    expect(event.readGrantedSubjects).to.deep.equal(['nginx:ditto']);
    expect(event.value).to.deep.equal({ thingId: 'org.acme:x', policyId: 'org.acme:x', attributes: { a: 1 } });
    expectApiError(() => store.retrieve(stranger, 'org.acme:x'), 404, 'things:thing.notfound');
  });

  it('emits the matching event, path, value and increasing revision for each kind of change', () => {
    const store = newStore();
    store.create(creator, { _policy: seedPolicy }, 'org.acme:lamp');
    const steps = [
      store.modify(creator, 'org.acme:lamp', parseThingPath('attributes/location'), 'kitchen'),
      store.modify(creator, 'org.acme:lamp', parseThingPath('attributes/location'), 'hall'),
      store.modify(creator, 'org.acme:lamp', parseThingPath('features/light'), { properties: { on: false } }),
      store.modify(creator, 'org.acme:lamp', parseThingPath('features/light/properties/on'), true),
      store.merge(creator, 'org.acme:lamp', THING_ROOT, { attributes: { location: null, floor: 2 } }),
      store.merge(creator, 'org.acme:lamp', parseThingPath('features/light/properties'), { dim: 50 }),
      store.remove(creator, 'org.acme:lamp', parseThingPath('features/light/properties/on')),
      store.modify(creator, 'org.acme:lamp', parseThingPath('definition'), 'org.acme:lamp:1.0.0'),
      store.put(creator, 'org.acme:lamp', { attributes: { fresh: true } }),
      store.remove(creator, 'org.acme:lamp', THING_ROOT),
    ].map(({ event }) => ({ action: event.action, path: event.path, value: event.value, revision: event.revision }));
    expect(steps).to.deep.equal([
      { action: 'created', path: '/attributes/location', value: 'kitchen', revision: 2 },
      { action: 'modified', path: '/attributes/location', value: 'hall', revision: 3 },
      { action: 'created', path: '/features/light', value: { properties: { on: false } }, revision: 4 },
      { action: 'modified', path: '/features/light/properties/on', value: true, revision: 5 },
      { action: 'merged', path: '/', value: { attributes: { location: null, floor: 2 } }, revision: 6 },
      { action: 'merged', path: '/features/light/properties', value: { dim: 50 }, revision: 7 },
      { action: 'deleted', path: '/features/light/properties/on', value: undefined, revision: 8 },
      { action: 'created', path: '/definition', value: 'org.acme:lamp:1.0.0', revision: 9 },
      { action: 'modified', path: '/', value: { thingId: 'org.acme:lamp', policyId: 'org.acme:lamp', attributes: { fresh: true } }, revision: 10 },
      { action: 'deleted', path: '/', value: undefined, revision: 11 },
    ]);
    expect(store.thing('org.acme:lamp')).to.equal(undefined);
  });

  it('carries the thing after the change and merge-patch content type on merged events', () => {
    const store = newStore();
    store.create(creator, { attributes: { a: 1, b: 2 } }, 'org.acme:m');
    const { event, thing } = store.merge(creator, 'org.acme:m', THING_ROOT, { attributes: { a: null, c: { d: 1 } } });
    expect(thing).to.deep.equal({ thingId: 'org.acme:m', policyId: 'org.acme:m', attributes: { b: 2, c: { d: 1 } } });
    expect(event.thing).to.deep.equal(thing);
    expect(event.headers).to.deep.equal({ 'correlation-id': 'c-1', 'content-type': 'application/merge-patch+json' });
  });

  it('continues the revision of a deleted thing when it is created again', () => {
    const store = newStore();
    store.create(creator, {}, 'org.acme:r');
    store.remove(creator, 'org.acme:r');
    expect(store.create(creator, {}, 'org.acme:r').event.revision).to.equal(3);
  });

  it('computes the read subjects for the path the event touches', () => {
    const store = newStore();
    store.create(creator, {
      _policy: {
        entries: {
          OWNER: { subjects: { '{{ request:subjectId }}': {} }, resources: { 'thing:/': { grant: ['READ', 'WRITE'] }, 'policy:/': { grant: ['READ', 'WRITE'] } } },
          CONN: { subjects: { 'integration:ditto': {} }, resources: { 'thing:/': { grant: ['READ'] }, 'thing:/attributes/secret': { revoke: ['READ'] } } },
        },
      },
    }, 'org.acme:s');
    const open = store.modify(creator, 'org.acme:s', parseThingPath('attributes/location'), 'x').event;
    const secret = store.modify(creator, 'org.acme:s', parseThingPath('attributes/secret'), 'y').event;
    expect([open.readGrantedSubjects, open.readRevokedSubjects]).to.deep.equal([['integration:ditto', 'nginx:ditto'], []]);
    expect([secret.readGrantedSubjects, secret.readRevokedSubjects]).to.deep.equal([['nginx:ditto'], ['integration:ditto']]);
  });

  describe('enforcement', () => {
    function lockedStore(): ThingStore {
      const store = newStore();
      store.create(creator, {
        attributes: { a: 1 },
        _policy: {
          entries: {
            OWNER: { subjects: { '{{ request:subjectId }}': {} }, resources: { 'thing:/': { grant: ['READ', 'WRITE'] }, 'policy:/': { grant: ['READ', 'WRITE'] } } },
            VIEWER: { subjects: { 'nginx:viewer': {} }, resources: { 'thing:/': { grant: ['READ'] } } },
          },
        },
      }, 'org.acme:l');
      return store;
    }

    it('hides a thing the caller may not read as 404 things:thing.notfound', () => {
      const store = lockedStore();
      expectApiError(() => store.retrieve(stranger, 'org.acme:l'), 404, 'things:thing.notfound');
      expectApiError(() => store.modify(stranger, 'org.acme:l', parseThingPath('attributes/a'), 2), 404, 'things:thing.notfound');
      expectApiError(() => store.remove(stranger, 'org.acme:l'), 404, 'things:thing.notfound');
    });

    it('refuses changes by a reader with 403 <kind>.notmodifiable', () => {
      const store = lockedStore();
      const viewer = { subject: 'nginx:viewer' };
      expect(store.retrieve(viewer, 'org.acme:l', parseThingPath('attributes/a'))).to.equal(1);
      expectApiError(() => store.modify(viewer, 'org.acme:l', parseThingPath('attributes/a'), 2), 403, 'things:attribute.notmodifiable');
      expectApiError(() => store.put(viewer, 'org.acme:l', {}), 403, 'things:thing.notmodifiable');
      expectApiError(() => store.merge(viewer, 'org.acme:l', THING_ROOT, { attributes: { a: 3 } }), 403, 'things:thing.notmodifiable');
    });

    it('answers 404 with the kind of the missing part', () => {
      const store = lockedStore();
      expectApiError(() => store.retrieve(creator, 'org.acme:l', parseThingPath('attributes/missing')), 404, 'things:attribute.notfound');
      expectApiError(() => store.retrieve(creator, 'org.acme:l', parseThingPath('features')), 404, 'things:features.notfound');
      expectApiError(() => store.modify(creator, 'org.acme:l', parseThingPath('features/x/properties/y'), 1), 404, 'things:feature.notfound');
      expectApiError(() => store.remove(creator, 'org.acme:l', parseThingPath('features/x')), 404, 'things:feature.notfound');
    });
  });

  describe('validation', () => {
    it('rejects invalid ids, mismatching body ids, duplicates and wrong shapes', () => {
      const store = newStore();
      expectApiError(() => store.create(creator, {}, 'no-colon'), 400, 'things:id.invalid');
      expectApiError(() => store.create(creator, { thingId: 'org.acme:other' }, 'org.acme:one'), 400, 'things:id.notsettable');
      store.create(creator, {}, 'org.acme:one');
      expectApiError(() => store.create(creator, {}, 'org.acme:one'), 409, 'things:thing.conflict');
      expectApiError(() => store.modify(creator, 'org.acme:one', parseThingPath('attributes'), [1]), 400, 'json.invalid');
      expectApiError(() => store.create(creator, { colour: 'red' }), 400, 'json.invalid');
      expectApiError(() => store.put(creator, 'org.acme:one', { _policy: seedPolicy }), 400, 'things:thing.invalid');
    });

    it('rejects paths a thing does not have', () => {
      expectApiError(() => parseThingPath('colour'), 404, 'things:route.notfound');
      expectApiError(() => parseThingPath('attributes//x'), 400, 'json.pointer.invalid');
    });
  });

  it('answers extraFields lookups with the selected fields', () => {
    const store = newStore();
    store.create(creator, { attributes: { location: 'hall', other: 1 } }, 'org.acme:e');
    expect(store.extraFields('org.acme:e', ['attributes/location', '_revision'])).to.deep.equal({ attributes: { location: 'hall' }, _revision: 1 });
    expect(store.extraFields('org.acme:none', ['attributes'])).to.equal(undefined);
  });
});
