import { expect } from 'chai';
import { Counter, Registry } from 'prom-client';
import { createMetrics, type TwinlinkMetrics } from '../../src/metrics/metrics.ts';
import {
  CONNECTION_STATES,
  MetricName,
  OUTBOUND_OUTCOMES,
  PUBLISH_DURATION_BUCKETS,
  REFRESH_TRIGGERS,
  TERMINAL_OUTCOMES,
  statusClassOf,
  type OutboundOutcome,
} from '../../src/metrics/names.ts';
import { ErrorCode, TwinlinkError } from '../../src/errors.ts';
import { parsePrometheus, samples, valueOf, type ParsedFamily } from '../helpers/prometheus-text.ts';

async function scrape(metrics: TwinlinkMetrics): Promise<Map<string, ParsedFamily>> {
  return parsePrometheus(await metrics.registry.metrics());
}

/** Histogram samples from prom-client's JSON (the text parser drops labels of labelled histograms). */
async function histogramValues(registry: Registry, name: string, labels: Record<string, string>): Promise<Map<string, number>> {
  const metric = registry.getSingleMetric(name);
  if (!metric) throw new Error(`${name} is not registered`);
  const { values } = await metric.get();
  const found = new Map<string, number>();
  for (const value of values as { labels: Record<string, string | number>; value: number; metricName?: string }[]) {
    if (!Object.entries(labels).every(([k, v]) => value.labels[k] === v)) continue;
    const key = value.metricName?.endsWith('_bucket') ? `le=${String(value.labels.le)}` : (value.metricName ?? name);
    found.set(key, value.value);
  }
  return found;
}

/** Deterministic pseudo-random numbers (mulberry32), so the simulated traffic is reproducible. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('createMetrics', () => {
  it('creates its own registry with the Node process metrics prefixed twinlink_', async () => {
    const metrics = createMetrics();
    expect(metrics.registry).to.be.instanceOf(Registry);
    const families = await scrape(metrics);
    expect(families.has('twinlink_process_cpu_user_seconds_total')).to.equal(true);
    expect(families.has('twinlink_nodejs_heap_size_used_bytes')).to.equal(true);
    expect(families.has('process_cpu_user_seconds_total')).to.equal(false);
  });

  it('uses an injected registry and exposes every pinned metric with its type', async () => {
    const registry = new Registry();
    const metrics = createMetrics(registry, { defaultMetrics: false });
    expect(metrics.registry).to.equal(registry);
    metrics.outbound('c1', 'POST:/a', 'dispatched');
    metrics.publishDuration('c1', 'POST:/a', '2xx', 0.02);
    metrics.setConnectionState('c1', 'authenticated');
    metrics.queueSize('c1', 3);
    metrics.inFlight('c1', 1);
    metrics.tokenRequest('c1', 'success', 0.1);
    metrics.tokenRefresh('c1', 'initial');
    metrics.trackTokenExpiry('c1', () => Date.now() + 60_000);
    const families = await scrape(metrics);
    const types: Record<string, string> = {
      [MetricName.CONNECTION_STATE]: 'GAUGE',
      [MetricName.OUTBOUND_MESSAGES]: 'COUNTER',
      [MetricName.PUBLISH_DURATION]: 'HISTOGRAM',
      [MetricName.QUEUE_SIZE]: 'GAUGE',
      [MetricName.IN_FLIGHT_REQUESTS]: 'GAUGE',
      [MetricName.TOKEN_REQUESTS]: 'COUNTER',
      [MetricName.TOKEN_REFRESHES]: 'COUNTER',
      [MetricName.TOKEN_EXPIRY]: 'GAUGE',
      [MetricName.TOKEN_REQUEST_DURATION]: 'HISTOGRAM',
    };
    for (const [name, type] of Object.entries(types)) {
      expect(families.get(name)?.type, name).to.equal(type);
      expect(families.get(name)?.help, name).to.not.equal('');
    }
    expect(families.has('twinlink_process_cpu_user_seconds_total')).to.equal(false);
  });

  it('counts every dispatched event in exactly one terminal outcome after simulated traffic', async () => {
    const metrics = createMetrics(new Registry(), { defaultMetrics: false });
    const next = random(7);
    const targets = [
      ['orders', 'POST:/orders/{{ thing:id }}'],
      ['orders', 'PUT:/audit'],
      ['billing', 'POST:/invoices'],
    ] as const;
    const expected = new Map<string, Record<OutboundOutcome, number>>();
    const count = (connection: string, target: string, outcome: OutboundOutcome) => {
      const key = `${connection} ${target}`;
      const row = expected.get(key) ?? (Object.fromEntries(OUTBOUND_OUTCOMES.map((o) => [o, 0])) as Record<OutboundOutcome, number>);
      row[outcome] += 1;
      expected.set(key, row);
      // Half the counts go through the handle, half through the label-taking method.
      if (next() < 0.5) metrics.outbound(connection, target, outcome);
      else metrics.target(connection, target).count(outcome);
    };
    for (let event = 0; event < 5000; event++) {
      const [connection, target] = targets[Math.floor(next() * targets.length)] ?? targets[0];
      count(connection, target, 'dispatched');
      const fate = next();
      if (fate < 0.1) count(connection, target, 'filtered');
      else if (fate < 0.15) count(connection, target, 'unauthorized');
      else {
        count(connection, target, 'mapped');
        if (fate < 0.2) count(connection, target, 'dropped');
        else {
          while (next() < 0.2) count(connection, target, 'retried');
          if (fate < 0.3) count(connection, target, 'failed');
          else {
            count(connection, target, 'published');
            if (next() < 0.5) count(connection, target, 'acknowledged');
          }
        }
      }
      // Scrape mid-traffic too: flushing must neither lose nor double counts.
      if (event === 2500) await scrape(metrics);
    }
    const families = await scrape(metrics);
    let total = 0;
    for (const [connection, target] of new Set(targets)) {
      const labels = { connection, target };
      const dispatched = valueOf(families, MetricName.OUTBOUND_MESSAGES, { ...labels, outcome: 'dispatched' }) ?? Number.NaN;
      const terminal = TERMINAL_OUTCOMES.reduce((sum, outcome) => sum + (valueOf(families, MetricName.OUTBOUND_MESSAGES, { ...labels, outcome }) ?? Number.NaN), 0);
      expect(terminal, `${connection} ${target}`).to.equal(dispatched);
      for (const outcome of OUTBOUND_OUTCOMES) {
        expect(valueOf(families, MetricName.OUTBOUND_MESSAGES, { ...labels, outcome }), outcome).to.equal(expected.get(`${connection} ${target}`)?.[outcome]);
      }
      total += dispatched;
    }
    expect(total).to.equal(5000);
  });

  it('shows every outcome of a target at 0 once the target is known', async () => {
    const metrics = createMetrics(new Registry(), { defaultMetrics: false });
    metrics.target('c1', 'POST:/a');
    const families = await scrape(metrics);
    const found = samples(families, MetricName.OUTBOUND_MESSAGES, { connection: 'c1', target: 'POST:/a' });
    expect(found.map((s) => s.labels?.outcome).sort()).to.deep.equal([...OUTBOUND_OUTCOMES].sort());
    expect(found.every((s) => Number(s.value) === 0)).to.equal(true);
  });

  it('sets the state gauge to 1 for the current state and 0 for the others', async () => {
    const metrics = createMetrics(new Registry(), { defaultMetrics: false });
    metrics.setConnectionState('c1', 'connecting');
    metrics.setConnectionState('c1', 'backoff');
    const families = await scrape(metrics);
    for (const state of CONNECTION_STATES) {
      expect(valueOf(families, MetricName.CONNECTION_STATE, { connection: 'c1', state }), state).to.equal(state === 'backoff' ? 1 : 0);
    }
  });

  it('moves the state gauge to the new state when it changes between scrapes', async () => {
    const metrics = createMetrics(new Registry(), { defaultMetrics: false });
    metrics.setConnectionState('c1', 'connecting');
    metrics.setConnectionState('c2', 'closed');
    await scrape(metrics);
    metrics.setConnectionState('c1', 'authenticated');
    const families = await scrape(metrics);
    for (const state of CONNECTION_STATES) {
      expect(valueOf(families, MetricName.CONNECTION_STATE, { connection: 'c1', state }), state).to.equal(state === 'authenticated' ? 1 : 0);
      expect(valueOf(families, MetricName.CONNECTION_STATE, { connection: 'c2', state }), state).to.equal(state === 'closed' ? 1 : 0);
    }
  });

  it('reports the latest queue size and in-flight count at scrape time, and nothing before they are set', async () => {
    const metrics = createMetrics(new Registry(), { defaultMetrics: false });
    metrics.setConnectionState('c1', 'closed');
    let families = await scrape(metrics);
    expect(valueOf(families, MetricName.QUEUE_SIZE, { connection: 'c1' })).to.equal(undefined);
    for (let n = 1; n <= 10; n++) metrics.queueSize('c1', n);
    metrics.queueSize('c1', 4);
    metrics.inFlight('c1', 2);
    families = await scrape(metrics);
    expect(valueOf(families, MetricName.QUEUE_SIZE, { connection: 'c1' })).to.equal(4);
    expect(valueOf(families, MetricName.IN_FLIGHT_REQUESTS, { connection: 'c1' })).to.equal(2);
  });

  it('computes the token expiry at scrape time from the getter and the injected clock', async () => {
    let now = 1_000_000;
    let expiresAt: number | undefined;
    const metrics = createMetrics(new Registry(), { defaultMetrics: false, clock: { now: () => now } });
    metrics.trackTokenExpiry('c1', () => expiresAt);
    let families = await scrape(metrics);
    expect(valueOf(families, MetricName.TOKEN_EXPIRY, { connection: 'c1' }), 'no token yet').to.equal(undefined);
    expiresAt = now + 300_000;
    families = await scrape(metrics);
    expect(valueOf(families, MetricName.TOKEN_EXPIRY, { connection: 'c1' })).to.equal(300);
    now += 299_500;
    families = await scrape(metrics);
    expect(valueOf(families, MetricName.TOKEN_EXPIRY, { connection: 'c1' })).to.equal(0.5);
    now += 10_500;
    families = await scrape(metrics);
    expect(valueOf(families, MetricName.TOKEN_EXPIRY, { connection: 'c1' }), 'expired').to.equal(-10);
    expiresAt = undefined;
    families = await scrape(metrics);
    expect(valueOf(families, MetricName.TOKEN_EXPIRY, { connection: 'c1' }), 'token dropped').to.equal(undefined);
  });

  it('counts token requests by outcome and refreshes by trigger, with the request durations', async () => {
    const metrics = createMetrics(new Registry(), { defaultMetrics: false });
    metrics.tokenRefresh('c1', 'initial');
    metrics.tokenRequest('c1', ErrorCode.TOKEN_ENDPOINT, 0.2);
    metrics.tokenRequest('c1', ErrorCode.TOKEN_ENDPOINT, 0.3);
    metrics.tokenRefresh('c1', 'preemptive');
    metrics.tokenRefresh('c1', 'preemptive');
    metrics.tokenRequest('c1', 'success', 0.05);
    const families = await scrape(metrics);
    expect(valueOf(families, MetricName.TOKEN_REQUESTS, { connection: 'c1', outcome: 'success' })).to.equal(1);
    expect(valueOf(families, MetricName.TOKEN_REQUESTS, { connection: 'c1', outcome: 'ERR_TOKEN_ENDPOINT' })).to.equal(2);
    const refreshes = Object.fromEntries(REFRESH_TRIGGERS.map((trigger) => [trigger, valueOf(families, MetricName.TOKEN_REFRESHES, { connection: 'c1', trigger })]));
    expect(refreshes).to.deep.equal({ initial: 1, preemptive: 2, expired: 0, unauthorized: 0 });
    const durations = await histogramValues(metrics.registry, MetricName.TOKEN_REQUEST_DURATION, { connection: 'c1' });
    expect(durations.get(`${MetricName.TOKEN_REQUEST_DURATION}_count`)).to.equal(3);
    expect(durations.get(`${MetricName.TOKEN_REQUEST_DURATION}_sum`)).to.be.closeTo(0.55, 1e-9);
  });

  it('shows token request success at 0 after only failures, so failure ratios have a denominator', async () => {
    const metrics = createMetrics(new Registry(), { defaultMetrics: false });
    metrics.tokenRequest('c1', ErrorCode.TOKEN_REJECTED, 0.1);
    const families = await scrape(metrics);
    expect(valueOf(families, MetricName.TOKEN_REQUESTS, { connection: 'c1', outcome: 'success' })).to.equal(0);
  });

  it('buckets publish durations from 1 ms to 30 s by status class', async () => {
    const metrics = createMetrics(new Registry(), { defaultMetrics: false });
    expect(PUBLISH_DURATION_BUCKETS[0]).to.equal(0.001);
    expect(PUBLISH_DURATION_BUCKETS.at(-1)).to.equal(30);
    metrics.publishDuration('c1', 'POST:/a', statusClassOf(201), 0.0008);
    metrics.target('c1', 'POST:/a').publishDuration('2xx', 0.3);
    metrics.publishDuration('c1', 'POST:/a', statusClassOf(undefined), 45);
    await scrape(metrics); // the exposition must parse
    const ok = await histogramValues(metrics.registry, MetricName.PUBLISH_DURATION, { connection: 'c1', target: 'POST:/a', status_class: '2xx' });
    expect(ok.get('le=0.001')).to.equal(1);
    expect(ok.get('le=0.25')).to.equal(1);
    expect(ok.get('le=0.5')).to.equal(2);
    const failed = await histogramValues(metrics.registry, MetricName.PUBLISH_DURATION, { connection: 'c1', target: 'POST:/a', status_class: 'error' });
    expect(failed.get('le=30')).to.equal(0);
    expect(failed.get('le=+Inf')).to.equal(1);
  });

  it('lets two engines share one registry: metrics are reused and both count', async () => {
    const registry = new Registry();
    const first = createMetrics(registry);
    const second = createMetrics(registry);
    first.outbound('c1', 'POST:/a', 'dispatched', 2);
    second.outbound('c2', 'POST:/b', 'dispatched', 3);
    second.outbound('c1', 'POST:/a', 'dispatched');
    const families = parsePrometheus(await registry.metrics());
    expect(valueOf(families, MetricName.OUTBOUND_MESSAGES, { connection: 'c1', outcome: 'dispatched' })).to.equal(3);
    expect(valueOf(families, MetricName.OUTBOUND_MESSAGES, { connection: 'c2', outcome: 'dispatched' })).to.equal(3);
    expect(families.has('twinlink_process_cpu_user_seconds_total')).to.equal(true);
  });

  it('refuses a registry that holds a twinlink name as another kind of metric', () => {
    const registry = new Registry();
    new Counter({ name: MetricName.QUEUE_SIZE, help: 'not ours', labelNames: ['connection'], registers: [registry] });
    expect(() => createMetrics(registry, { defaultMetrics: false }))
      .to.throw(TwinlinkError)
      .with.property('code', ErrorCode.METRIC_CONFLICT);
  });

  it('removes every series of a removed connection and keeps the others', async () => {
    const metrics = createMetrics(new Registry(), { defaultMetrics: false });
    for (const id of ['gone', 'kept']) {
      metrics.outbound(id, 'POST:/a', 'dispatched');
      metrics.publishDuration(id, 'POST:/a', '5xx', 0.1);
      metrics.setConnectionState(id, 'authenticated');
      metrics.queueSize(id, 1);
      metrics.inFlight(id, 1);
      metrics.tokenRequest(id, 'success', 0.1);
      metrics.tokenRefresh(id, 'initial');
      metrics.trackTokenExpiry(id, () => Date.now() + 1000);
    }
    await scrape(metrics);
    metrics.removeConnection('gone');
    metrics.outbound('kept', 'POST:/a', 'published');
    const text = await metrics.registry.metrics();
    parsePrometheus(text);
    expect(text).to.not.include('connection="gone"');
    expect(text).to.include('connection="kept"');
    const families = parsePrometheus(text);
    expect(valueOf(families, MetricName.OUTBOUND_MESSAGES, { connection: 'kept', outcome: 'published' })).to.equal(1);
  });

  it('stops feeding a registry after dispose, leaving other instances working', async () => {
    const registry = new Registry();
    const first = createMetrics(registry, { defaultMetrics: false });
    const second = createMetrics(registry, { defaultMetrics: false });
    first.queueSize('c1', 5);
    second.queueSize('c2', 6);
    first.dispose();
    first.queueSize('c1', 7);
    const families = parsePrometheus(await registry.metrics());
    expect(valueOf(families, MetricName.QUEUE_SIZE, { connection: 'c1' })).to.equal(undefined);
    expect(valueOf(families, MetricName.QUEUE_SIZE, { connection: 'c2' })).to.equal(6);
  });
});

describe('statusClassOf', () => {
  const table: [number | undefined, string][] = [
    [100, '1xx'], [200, '2xx'], [204, '2xx'], [302, '3xx'], [401, '4xx'], [429, '4xx'], [503, '5xx'], [599, '5xx'],
    [undefined, 'error'], [0, 'error'], [99, 'error'], [600, 'error'], [200.5, 'error'],
  ];
  for (const [status, expected] of table) {
    it(`classifies ${String(status)} as ${expected}`, () => {
      expect(statusClassOf(status)).to.equal(expected);
    });
  }
});
