import { expect } from 'chai';
import type { TargetConfig } from '../../src/config/types.ts';
import { RoutingIndex, type RouteMatch } from '../../src/engine/routing-index.ts';
import { isAuthorized } from '../../src/pipeline/authorize.ts';
import { matchesKindAndNamespace, namespaceOf, parseTopicSubscription, topicKindOf } from '../../src/pipeline/target-topics.ts';
import type { Signal } from '../../src/protocol/signal.ts';

// Deterministic pseudo-random numbers, so a failure reproduces.
function rng(seed: number): () => number {
  let s = seed;
  return () => { s = (s * 1103515245 + 12345) & 0x7fffffff; return s / 0x7fffffff; };
}

const TOPICS = ['_/_/things/twin/events', '_/_/things/live/events', '_/_/things/live/messages', '_/_/things/live/commands', '_/_/policies/announcements', '_/_/connections/announcements'];

interface Fixture { readonly id: string; readonly targets: TargetConfig[] }

function buildFixtures(count: number, random: () => number): Fixture[] {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;
  return Array.from({ length: count }, (_, i) => {
    const targets = Array.from({ length: 1 + Math.floor(random() * 2) }, () => {
      const topics = Array.from({ length: 1 + Math.floor(random() * 2) }, () => {
        const r = random();
        // Mostly the connection's own namespace, some shared, a few unrestricted.
        const ns = r < 0.7 ? `?namespaces=ns${i}` : r < 0.85 ? `?namespaces=shared,ns${i}` : '';
        return `${pick(TOPICS)}${ns}`;
      });
      const subjects = random() < 0.9 ? [`subject:${i}`] : ['subject:shared', `subject:${i}`];
      return { address: 'POST:/x', topics, authorizationContext: subjects, headerMapping: {}, payloadMapping: [] };
    });
    return { id: `conn-${i}`, targets };
  });
}

function randomSignal(random: () => number, count: number): Signal {
  const n = Math.floor(random() * count);
  const ns = random() < 0.2 ? 'shared' : `ns${n}`;
  const granted = random() < 0.3 ? ['subject:shared', `subject:${n}`] : [`subject:${n}`, `subject:${Math.floor(random() * count)}`];
  const revoked = random() < 0.1 ? [`subject:${n}`] : [];
  const base = { headers: {}, readGrantedSubjects: granted, readRevokedSubjects: revoked };
  const kind = Math.floor(random() * 6);
  switch (kind) {
    case 0: return { ...base, type: 'thing.event', channel: 'twin', thingId: `${ns}:t`, action: 'modified', path: '/', value: {}, revision: 1 };
    case 1: return { ...base, type: 'thing.event', channel: 'live', thingId: `${ns}:t`, action: 'created', path: '/', value: {}, revision: 1 };
    case 2: return { ...base, type: 'thing.message', thingId: `${ns}:t`, subject: 'hello', direction: 'to' };
    case 3: return { ...base, type: 'thing.command', thingId: `${ns}:t`, action: 'modify', path: '/attributes', value: {} };
    case 4: return { ...base, type: 'policy.announcement', policyId: `${ns}:p`, name: 'subjectDeletion' };
    default: return { ...base, type: 'connection.announcement', connectionId: `conn-${n}`, name: 'opened' };
  }
}

/** Every target checked one by one, with the same predicates the pipeline applies. */
function bruteForce(fixtures: readonly Fixture[]): (signal: Signal) => RouteMatch[] {
  const compiled = fixtures.flatMap(({ id, targets }) => targets.map((t, targetIndex) => ({
    id, targetIndex, subscriptions: t.topics.map(parseTopicSubscription), authorization: { connectionId: id, subjects: new Set(t.authorizationContext) },
  })));
  return (signal) => {
    const kind = topicKindOf(signal);
    const namespace = namespaceOf(signal);
    return compiled
      .filter((t) => t.subscriptions.some((s) => matchesKindAndNamespace(s, kind, namespace)) && isAuthorized(signal, t.authorization))
      .map((t) => ({ connectionId: t.id, targetIndex: t.targetIndex }));
  };
}

const key = (m: RouteMatch): string => `${m.connectionId}#${m.targetIndex}`;

describe('routing index', () => {
  const random = rng(42);
  const fixtures = buildFixtures(3000, random);
  const index = new RoutingIndex();
  for (const { id, targets } of fixtures) targets.forEach((t, i) => index.add(id, i, t));

  it('routes each of 2,000 random signals to exactly the authorized, matching targets among 3,000 connections', () => {
    let delivered = 0;
    const expectedFor = bruteForce(fixtures);
    for (let i = 0; i < 2000; i++) {
      const signal = randomSignal(random, fixtures.length);
      const expected = expectedFor(signal).map(key).sort();
      const actual = index.match(signal).map(key).sort();
      expect(actual, JSON.stringify(signal)).to.deep.equal(expected);
      delivered += actual.length;
    }
    expect(delivered).to.be.greaterThan(100); // the fixture really exercises matches
  });

  it('forgets a removed connection and routes to it again after re-adding', () => {
    const target = { topics: ['_/_/things/twin/events?namespaces=only.here'], authorizationContext: ['subject:x'] };
    const local = new RoutingIndex();
    local.add('a', 0, target);
    local.add('b', 0, { topics: ['_/_/things/twin/events'], authorizationContext: ['subject:x'] });
    const signal: Signal = { type: 'thing.event', channel: 'twin', thingId: 'only.here:t', action: 'deleted', path: '/', revision: 2, headers: {}, readGrantedSubjects: ['subject:x'], readRevokedSubjects: [] };
    expect(local.match(signal).map(key).sort()).to.deep.equal(['a#0', 'b#0']);
    local.remove('a');
    expect(local.match(signal).map(key)).to.deep.equal(['b#0']);
    expect(local.size).to.equal(1);
    local.add('a', 0, target);
    expect(local.match(signal).map(key).sort()).to.deep.equal(['a#0', 'b#0']);
    expect(local.match({ ...signal, thingId: 'elsewhere:t' }).map(key)).to.deep.equal(['b#0']);
  });

  it('hands targets whose shared subject is revoked to onRevoked instead of matching them', () => {
    const local = new RoutingIndex();
    local.add('a', 0, { topics: ['_/_/things/twin/events'], authorizationContext: ['s'] });
    local.add('b', 0, { topics: ['_/_/things/twin/events'], authorizationContext: ['t'] });
    local.add('c', 0, { topics: ['_/_/things/twin/events'], authorizationContext: ['u'] });
    const signal: Signal = { type: 'thing.event', channel: 'twin', thingId: 'n:t', action: 'modified', path: '/', value: 1, revision: 1, headers: {}, readGrantedSubjects: ['s', 't'], readRevokedSubjects: ['t'] };
    const revoked: string[] = [];
    expect(local.match(signal, (m) => revoked.push(key(m))).map(key)).to.deep.equal(['a#0']);
    expect(revoked).to.deep.equal(['b#0']);
  });

  it('reports a target matched through two topics once', () => {
    const local = new RoutingIndex();
    local.add('a', 0, { topics: ['_/_/things/twin/events?namespaces=n', '_/_/things/twin/events'], authorizationContext: ['s'] });
    const signal: Signal = { type: 'thing.event', channel: 'twin', thingId: 'n:t', action: 'modified', path: '/', value: 1, revision: 1, headers: {}, readGrantedSubjects: ['s'], readRevokedSubjects: [] };
    expect(local.match(signal)).to.deep.equal([{ connectionId: 'a', targetIndex: 0 }]);
  });
});
