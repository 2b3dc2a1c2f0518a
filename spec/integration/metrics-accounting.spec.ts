import { expect } from 'chai';
import { createEngine, type TwinlinkEngine } from '../../src/engine/engine.ts';
import { OUTBOUND_OUTCOMES, TERMINAL_OUTCOMES } from '../../src/metrics/names.ts';
import { startTokenServer, type TokenServer } from '../helpers/token-server.ts';
import { deferred, startWebhookServer, type WebhookServer } from '../helpers/webhook-server.ts';
import { parsePrometheus, samples, valueOf, type ParsedFamily } from '../helpers/prometheus-text.ts';
import { configOf, counterModified, eventually, outboundCount, within } from '../helpers/engine-harness.ts';

const OUTBOUND = 'twinlink_outbound_messages_total';

/**
 * One engine, mixed traffic, one scrape. Connection `mixed` (OAuth, parallelism 4, namespace
 * org.acme) has a target per fate: `POST:/all` publishes everything, `POST:/big` filters by RQL,
 * `POST:/reject` gets 400s, `POST:/things/{{ header:x-route }}` drops events without that header,
 * and `POST:/secret` is for a subject only one event grants. Connection `tiny` (no auth, namespace
 * org.flood, parallelism 1) overflows the bounded queue behind a held request. Then every
 * (connection, target) must satisfy dispatched = Σ terminal outcomes.
 */
describe('metrics accounting after mixed traffic (end to end)', () => {
  let tokens: TokenServer;
  let hook: WebhookServer;
  let engine: TwinlinkEngine;
  let families: Map<string, ParsedFamily>;
  let exposition: string;
  const EVENTS = 10;
  const QUEUE = 50;
  const FLOOD = 60;
  const ACME = '_/_/things/twin/events?namespaces=org.acme';

  before(async () => {
    tokens = await startTokenServer();
    hook = await startWebhookServer();
    const hold = deferred<void>();
    hook.handle(async (request) => {
      if (request.url === '/reject') return { status: 400 };
      if (request.url === '/tiny') await hold.promise;
      return { status: 200 };
    });
    const config = configOf(
      [
        {
          id: 'mixed',
          uri: hook.url,
          tokenEndpoint: tokens.tokenEndpoint,
          parallelism: 4,
          address: 'POST:/all',
          topics: [ACME],
          targetExtra: '        issuedAcknowledgementLabel: "{{connection:id}}:all"',
          moreTargets: [
            target('POST:/big', `${ACME}&filter=gt(attributes/counter,7)`),
            target('POST:/reject'),
            target('POST:/things/{{ header:x-route }}'),
            target('POST:/secret', ACME, 'integration:other'),
          ].join('\n'),
        },
        { id: 'tiny', uri: hook.url, address: 'POST:/tiny', topics: ['_/_/things/twin/events?namespaces=org.flood'] },
      ],
      // The queue bound is engine-wide: `mixed` never queues more than 29, `tiny` gets a flood.
      { httpPush: `    maxQueueSize: ${QUEUE}` },
    );
    engine = createEngine({ config });
    await engine.start();
    for (let n = 1; n <= EVENTS; n += 1) {
      // Every other event carries the header the placeholder address needs; all grant integration:ditto.
      // Event 1 also grants integration:other; event 2 grants it and revokes it again.
      engine.dispatch(counterModified('org.acme:lamp', n, {
        headers: n % 2 === 0 ? { 'x-route': `r${n}`, 'correlation-id': `c${n}` } : { 'correlation-id': `c${n}` },
        readGrantedSubjects: ['integration:ditto', ...(n <= 2 ? ['integration:other'] : [])],
        readRevokedSubjects: n === 2 ? ['integration:other'] : [],
      }));
    }
    // tiny: one held in flight, QUEUE queued, the rest dropped at once. Release, then let all settle.
    for (let n = 1; n <= FLOOD; n += 1) engine.dispatch(counterModified('org.flood:pump', n));
    await within(hook.waitForRequests(1), 'traffic');
    hold.resolve();
    await eventually(async () => {
      const text = await engine.registry.metrics();
      const parsed = parsePrometheus(text);
      return ['mixed', 'tiny'].every((connection) =>
        samples(parsed, OUTBOUND, { connection, outcome: 'dispatched' }).every((dispatched) => {
          const target = dispatched.labels?.target ?? '';
          return Number(dispatched.value) === terminalSum(parsed, connection, target);
        }),
      ) && (valueOf(parsed, OUTBOUND, { connection: 'tiny', target: 'POST:/tiny', outcome: 'published' }) ?? 0) === QUEUE + 1;
    }, 'every event to reach a terminal outcome');
    exposition = await engine.registry.metrics();
    families = parsePrometheus(exposition);
  });
  after(async () => {
    await engine.stop({ drainTimeout: 50 });
    await Promise.all([tokens.close(), hook.close()]);
  });

  function target(address: string, topic = ACME, subject = 'integration:ditto'): string {
    return `      - address: "${address}"\n        topics: ["${topic}"]\n        authorizationContext: ["${subject}"]`;
  }

  function terminalSum(parsed: Map<string, ParsedFamily>, connection: string, address: string): number {
    return TERMINAL_OUTCOMES.reduce((sum, outcome) => sum + (valueOf(parsed, OUTBOUND, { connection, target: address, outcome }) ?? 0), 0);
  }

  /**
   * `_count` values of a histogram's series whose label text contains `labelText`. Read from the
   * exposition itself: the parser keeps neither labels nor counts of histogram series.
   */
  const histogramCounts = (name: string, labelText: string): number[] =>
    exposition
      .split('\n')
      .filter((line) => line.startsWith(`${name}_count{`) && line.includes(labelText))
      .map((line) => Number(line.slice(line.lastIndexOf(' ') + 1)));

  const outcome = (connection: string, address: string, name: string): number | undefined =>
    valueOf(families, OUTBOUND, { connection, target: address, outcome: name });

  it('exposes text the Prometheus parser accepts, with the twinlink_ prefix everywhere', () => {
    expect(families.size).to.be.greaterThan(10);
    for (const name of families.keys()) expect(name).to.match(/^twinlink_/);
  });

  it('accounts every dispatched event in exactly one terminal outcome, per connection and target', () => {
    const dispatched = samples(families, OUTBOUND, { outcome: 'dispatched' });
    expect(dispatched.map((sample) => `${sample.labels?.connection} ${sample.labels?.target}`).sort()).to.deep.equal([
      'mixed POST:/all',
      'mixed POST:/big',
      'mixed POST:/reject',
      'mixed POST:/secret',
      'mixed POST:/things/{{ header:x-route }}',
      'tiny POST:/tiny',
    ]);
    for (const sample of dispatched) {
      const { connection = '', target: address = '' } = sample.labels ?? {};
      expect(terminalSum(families, connection, address), `${connection} ${address}`).to.equal(Number(sample.value));
    }
  });

  it('counts each fate where it belongs', () => {
    expect(outcome('mixed', 'POST:/all', 'dispatched')).to.equal(EVENTS);
    expect(outcome('mixed', 'POST:/all', 'published')).to.equal(EVENTS);
    expect(outcome('mixed', 'POST:/all', 'acknowledged')).to.equal(EVENTS);
    expect(outcome('mixed', 'POST:/big', 'filtered')).to.equal(7);
    expect(outcome('mixed', 'POST:/big', 'published')).to.equal(3);
    expect(outcome('mixed', 'POST:/reject', 'failed')).to.equal(EVENTS);
    expect(outcome('mixed', 'POST:/reject', 'retried') ?? 0).to.equal(0);
    expect(outcome('mixed', 'POST:/things/{{ header:x-route }}', 'dropped')).to.equal(EVENTS / 2);
    expect(outcome('mixed', 'POST:/things/{{ header:x-route }}', 'published')).to.equal(EVENTS / 2);
    // Routing hands a target only the events that concern its subjects (as Ditto does): the eight
    // that never name integration:other are not dispatched to POST:/secret at all; the one that
    // grants and revokes it is dispatched and refused.
    expect(outcome('mixed', 'POST:/secret', 'dispatched')).to.equal(2);
    expect(outcome('mixed', 'POST:/secret', 'unauthorized')).to.equal(1);
    expect(outcome('mixed', 'POST:/secret', 'published')).to.equal(1);
    expect(outcome('tiny', 'POST:/tiny', 'dispatched')).to.equal(FLOOD);
    expect(outcome('tiny', 'POST:/tiny', 'dropped')).to.equal(FLOOD - QUEUE - 1);
    expect(outcome('tiny', 'POST:/tiny', 'published')).to.equal(QUEUE + 1);
    // Labels carry the address template, never a resolved per-event path.
    expect(exposition).to.not.include('/things/r2');
    const paths = hook.requests.map((request) => request.url);
    expect(paths.filter((path) => path.startsWith('/things/')).sort()).to.deep.equal(['/things/r10', '/things/r2', '/things/r4', '/things/r6', '/things/r8']);
  });

  it('uses only the documented outcome label values', () => {
    for (const sample of samples(families, OUTBOUND)) expect(OUTBOUND_OUTCOMES).to.include(sample.labels?.outcome);
  });

  it('shows the token lifecycle: one successful initial request and a future expiry', () => {
    expect(tokens.requests).to.have.length(1);
    expect(valueOf(families, 'twinlink_token_requests_total', { connection: 'mixed', outcome: 'success' })).to.equal(1);
    expect(valueOf(families, 'twinlink_token_refreshes_total', { connection: 'mixed', trigger: 'initial' })).to.equal(1);
    expect(valueOf(families, 'twinlink_token_expiry_seconds', { connection: 'mixed' })).to.be.greaterThan(0);
    expect(histogramCounts('twinlink_token_request_duration_seconds', 'connection="mixed"')).to.deep.equal([1]);
    // No token metrics for the connection without credentials.
    expect(samples(families, 'twinlink_token_requests_total', { connection: 'tiny' })).to.have.length(0);
  });

  it('shows each connection in exactly one machine state', () => {
    expect(valueOf(families, 'twinlink_connection_state', { connection: 'mixed', state: 'authenticated' })).to.equal(1);
    expect(valueOf(families, 'twinlink_connection_state', { connection: 'tiny', state: 'authenticated' })).to.equal(1);
    for (const connection of ['mixed', 'tiny']) {
      const total = samples(families, 'twinlink_connection_state', { connection }).reduce((sum, sample) => sum + Number(sample.value), 0);
      expect(total, connection).to.equal(1);
    }
  });

  it('reports empty queues and no requests in flight once traffic settled, and publish durations by status class', () => {
    expect(valueOf(families, 'twinlink_queue_size', { connection: 'tiny' })).to.equal(0);
    expect(valueOf(families, 'twinlink_in_flight_requests', { connection: 'mixed' })).to.equal(0);
    expect(histogramCounts('twinlink_publish_duration_seconds', 'connection="mixed",target="POST:/reject"')).to.deep.equal([EVENTS]);
    expect(histogramCounts('twinlink_publish_duration_seconds', 'target="POST:/reject",status_class="4xx"')).to.deep.equal([EVENTS]);
    expect(histogramCounts('twinlink_publish_duration_seconds', 'target="POST:/all",status_class="2xx"')).to.deep.equal([EVENTS]);
  });

  it("builds Ditto's metrics document with per-address counts in the last minute", () => {
    const document = engine.metrics('mixed');
    expect(document.connectionId).to.equal('mixed');
    expect(document.containsFailures).to.equal(true);
    const all = document.targetMetrics.addressMetrics['POST:/all'];
    expect(all?.dispatched.success.PT1M).to.equal(EVENTS);
    expect(all?.published.success.PT1M).to.equal(EVENTS);
    expect(all?.acknowledged.success.PT1M).to.equal(EVENTS);
    expect(all?.published.success.lastMessageAt).to.be.a('string');
    expect(document.targetMetrics.addressMetrics['POST:/big']?.filtered.success.PT1H).to.equal(7);
    expect(document.targetMetrics.addressMetrics['POST:/reject']?.published.failure.PT24H).to.equal(EVENTS);
    expect(document.connectionMetrics.outbound.dispatched.success.PT1M).to.equal(EVENTS * 4 + 2);
    expect(engine.metrics('tiny').targetMetrics.addressMetrics['POST:/tiny']?.dropped.failure.PT1M).to.equal(FLOOD - QUEUE - 1);
  });

  it("keeps Ditto's logs with failures and drops, naming address, thing and correlation id", () => {
    const { connectionId, connectionLogs } = engine.logs('mixed');
    expect(connectionId).to.equal('mixed');
    const rejected = connectionLogs.find((entry) => entry.address === 'POST:/reject' && entry.level === 'failure');
    expect(rejected).to.include({ category: 'target', entityId: 'org.acme:lamp' });
    expect(rejected?.message).to.include('status 400');
    expect(rejected?.correlationId).to.match(/^c\d+$/);
    const dropped = connectionLogs.find((entry) => entry.type === 'dropped');
    expect(dropped?.address).to.equal('POST:/things/{{ header:x-route }}');
    expect(JSON.stringify(engine.logs('tiny'))).to.include('queue full');
  });

  it('builds the status document: open, authenticated, with a valid token and no secret', () => {
    const status = engine.status('mixed');
    expect(status).to.include({ connectionId: 'mixed', connectionStatus: 'open', liveStatus: 'open', state: 'authenticated' });
    expect(status.targetStatus.map((t) => t.address)).to.include('POST:/things/{{ header:x-route }}');
    expect(status.token?.state).to.equal('valid');
    expect(Date.parse(status.token?.expiresAt ?? '')).to.be.greaterThan(Date.now());
    expect(JSON.stringify(status)).to.not.include('my-client-secret');
  });

  it('resets the Ditto metrics on request without touching the Prometheus counters', async () => {
    engine.resetMetrics('tiny');
    expect(engine.metrics('tiny').targetMetrics.addressMetrics['POST:/tiny']?.dropped.failure.PT1M).to.equal(0);
    expect(await outboundCount(engine.registry, 'tiny', 'POST:/tiny', 'dropped')).to.equal(FLOOD - QUEUE - 1);
  });
});
