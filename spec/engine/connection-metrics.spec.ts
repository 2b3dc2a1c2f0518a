import { expect } from 'chai';
import { ConnectionMetrics, OUTBOUND_METRIC_TYPES } from '../../src/engine/connection-metrics.ts';
import type { Clock } from '../../src/shared/clock.ts';

/** A clock the spec moves by hand. */
class ManualClock implements Clock {
  constructor(private time: number) {}
  now(): number {
    return this.time;
  }
  advance(ms: number): void {
    this.time += ms;
  }
  set(ms: number): void {
    this.time = ms;
  }
}

const START = Date.UTC(2025, 0, 1, 12, 0, 0);
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const ADDRESS = 'POST:/orders/{{ thing:id }}';

describe('ConnectionMetrics', () => {
  let clock: ManualClock;
  let metrics: ConnectionMetrics;

  beforeEach(() => {
    clock = new ManualClock(START);
    metrics = new ConnectionMetrics('shop', { clock, addresses: [ADDRESS] });
  });

  it("renders Ditto's document shape with zeros before any traffic", () => {
    const zero = { PT1M: 0, PT1H: 0, PT24H: 0, lastMessageAt: null };
    const zeros = Object.fromEntries(OUTBOUND_METRIC_TYPES.map((type) => [type, { success: zero, failure: zero }]));
    expect(metrics.toDocument()).to.deep.equal({
      connectionId: 'shop',
      containsFailures: false,
      connectionMetrics: { inbound: {}, outbound: zeros },
      sourceMetrics: { addressMetrics: {} },
      targetMetrics: { addressMetrics: { [ADDRESS]: zeros } },
    });
    expect(Object.keys(metrics.toDocument().connectionMetrics.outbound)).to.deep.equal(['dispatched', 'filtered', 'mapped', 'dropped', 'published', 'acknowledged']);
  });

  it('counts successes and failures per type with the time of the last message', () => {
    const orders = metrics.forAddress(ADDRESS);
    orders.record('dispatched', true);
    orders.record('dispatched', true);
    clock.advance(1500);
    orders.record('published', false);
    metrics.record(ADDRESS, 'published', true, 3);
    const doc = metrics.toDocument();
    const target = doc.targetMetrics.addressMetrics[ADDRESS];
    expect(target?.dispatched.success).to.deep.equal({ PT1M: 2, PT1H: 2, PT24H: 2, lastMessageAt: '2025-01-01T12:00:00.000Z' });
    expect(target?.published.failure).to.deep.equal({ PT1M: 1, PT1H: 1, PT24H: 1, lastMessageAt: '2025-01-01T12:00:01.500Z' });
    expect(target?.published.success.PT1M).to.equal(3);
    expect(target?.filtered.success.lastMessageAt).to.equal(null);
    expect(doc.containsFailures).to.equal(true);
  });

  it('lets counts leave the minute after a minute, the hour after an hour and the day after a day', () => {
    metrics.record(ADDRESS, 'mapped', true);
    const mapped = () => metrics.toDocument().targetMetrics.addressMetrics[ADDRESS]?.mapped.success;
    clock.advance(59 * SECOND);
    expect(mapped()).to.include({ PT1M: 1, PT1H: 1, PT24H: 1 });
    clock.advance(1 * SECOND);
    expect(mapped()).to.include({ PT1M: 0, PT1H: 1, PT24H: 1 });
    clock.set(START + 59 * MINUTE);
    expect(mapped()).to.include({ PT1M: 0, PT1H: 1, PT24H: 1 });
    clock.set(START + HOUR);
    expect(mapped()).to.include({ PT1M: 0, PT1H: 0, PT24H: 1 });
    clock.set(START + 23 * HOUR);
    expect(mapped()).to.include({ PT1M: 0, PT1H: 0, PT24H: 1 });
    clock.set(START + 24 * HOUR);
    expect(mapped()).to.deep.equal({ PT1M: 0, PT1H: 0, PT24H: 0, lastMessageAt: '2025-01-01T12:00:00.000Z' });
  });

  it('slides: each window holds only the traffic of its most recent span', () => {
    // One message every 10 s for 3 hours.
    for (let t = 0; t < 3 * HOUR; t += 10 * SECOND) {
      clock.set(START + t);
      metrics.record(ADDRESS, 'dispatched', true);
    }
    const dispatched = metrics.toDocument().targetMetrics.addressMetrics[ADDRESS]?.dispatched.success;
    expect(dispatched?.PT1M).to.equal(6);
    expect(dispatched?.PT1H).to.equal(360);
    expect(dispatched?.PT24H).to.equal(3 * 360);
  });

  it('reuses ring slots when time wraps around, without leaking old counts', () => {
    metrics.record(ADDRESS, 'dropped', false, 5);
    clock.advance(24 * HOUR); // the same slot of every ring, one full turn later
    metrics.record(ADDRESS, 'dropped', false, 1);
    expect(metrics.toDocument().targetMetrics.addressMetrics[ADDRESS]?.dropped.failure).to.include({ PT1M: 1, PT1H: 1, PT24H: 1 });
  });

  it('does not let a clock stepping back overwrite newer counts', () => {
    clock.advance(5 * MINUTE);
    metrics.record(ADDRESS, 'dispatched', true);
    clock.advance(-3 * MINUTE);
    metrics.record(ADDRESS, 'dispatched', true);
    clock.advance(3 * MINUTE);
    expect(metrics.toDocument().targetMetrics.addressMetrics[ADDRESS]?.dispatched.success.PT1M).to.equal(2);
  });

  it('sums every address into the connection-wide outbound metrics', () => {
    metrics.record(ADDRESS, 'published', true, 2);
    clock.advance(5 * SECOND);
    metrics.record('PUT:/audit', 'published', true, 3);
    const doc = metrics.toDocument();
    expect(Object.keys(doc.targetMetrics.addressMetrics)).to.deep.equal([ADDRESS, 'PUT:/audit']);
    expect(doc.connectionMetrics.outbound.published.success).to.deep.equal({ PT1M: 5, PT1H: 5, PT24H: 5, lastMessageAt: '2025-01-01T12:00:05.000Z' });
    expect(doc.containsFailures).to.equal(false);
  });

  it('clears every count on reset, keeping the addresses listed, and keeps working for held handles', () => {
    const orders = metrics.forAddress(ADDRESS);
    orders.record('acknowledged', false, 4);
    metrics.reset();
    let doc = metrics.toDocument();
    expect(doc.targetMetrics.addressMetrics[ADDRESS]?.acknowledged.failure).to.deep.equal({ PT1M: 0, PT1H: 0, PT24H: 0, lastMessageAt: null });
    expect(doc.containsFailures).to.equal(false);
    orders.record('acknowledged', true);
    doc = metrics.toDocument();
    expect(doc.targetMetrics.addressMetrics[ADDRESS]?.acknowledged.success.PT1M).to.equal(1);
  });

  it('forgets a removed address', () => {
    metrics.record('PUT:/audit', 'dispatched', true);
    metrics.removeAddress('PUT:/audit');
    expect(Object.keys(metrics.toDocument().targetMetrics.addressMetrics)).to.deep.equal([ADDRESS]);
  });

  it('serialises to JSON without loss', () => {
    metrics.record(ADDRESS, 'filtered', true);
    const doc = metrics.toDocument();
    expect(JSON.parse(JSON.stringify(doc))).to.deep.equal(doc);
  });
});
