import { expect } from 'chai';
import sinon from 'sinon';
import { Subject } from 'rxjs';
import { createEngine, type TwinlinkEngine } from '../../src/engine/engine.ts';
import type { Signal } from '../../src/protocol/signal.ts';
import type { ConnectionConfig } from '../../src/config/types.ts';
import { deferred, startWebhookServer, type WebhookServer } from '../helpers/webhook-server.ts';
import {
  configOf,
  counterModified,
  eventually,
  outboundCount,
  until,
  valuesOf,
  within,
  type ConnectionYaml,
  type EngineYaml,
} from '../helpers/engine-harness.ts';

describe('engine publishing (end to end against a local webhook)', () => {
  let hook: WebhookServer;
  let engine: TwinlinkEngine | undefined;

  beforeEach(async () => {
    hook = await startWebhookServer();
  });
  afterEach(async () => {
    await engine?.stop({ drainTimeout: 50 });
    engine = undefined;
    await hook.close();
  });

  const plain = (overrides: Partial<ConnectionYaml> = {}): ConnectionYaml => ({ id: 'push', uri: hook.url, ...overrides });

  async function started(connections: ConnectionYaml[], overrides: EngineYaml = {}): Promise<TwinlinkEngine> {
    engine = createEngine({ config: configOf(connections, overrides) });
    await engine.start();
    return engine;
  }

  const count = (outcome: string, connection = 'push', target = 'POST:/events'): Promise<number> =>
    outboundCount((engine as TwinlinkEngine).registry, connection, target, outcome);

  it('publishes a steady stream in order over one kept-alive socket', async () => {
    const running = await started([plain()]);
    const signals = new Subject<Signal>();
    running.connect(signals);
    // Each event goes out once the previous one arrived: a steady, not a burst, load.
    for (let n = 1; n <= 30; n += 1) {
      signals.next(counterModified('org.acme:lamp', n));
      await within(hook.waitForRequests(n), `event ${n}`);
    }
    expect(valuesOf(hook.requests)).to.deep.equal(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(new Set(hook.requests.map((request) => request.remotePort)).size).to.equal(1);
    await eventually(async () => (await count('published')) === 30, 'the last response handled');
    expect(await count('failed')).to.equal(0);
  });

  it('queues events while the target is down and delivers them in order once it is back (parallelism 1)', async () => {
    const running = await started([plain()], { retry: '{ maxAttempts: 1000, initialDelay: 10ms, maxDelay: 20ms }' });
    await hook.stop();
    for (let n = 1; n <= 5; n += 1) running.dispatch(counterModified('org.acme:lamp', n));
    // The first event is being retried against the closed port; the others wait behind it.
    await eventually(async () => (await count('retried')) >= 2, 'retries against the stopped target');
    expect(hook.requests).to.have.length(0);
    await hook.restart();
    const requests = await within(hook.waitForRequests(5), 'the five queued events');
    expect(valuesOf(requests)).to.deep.equal([1, 2, 3, 4, 5]);
    await eventually(async () => (await count('published')) === 5, 'the last response handled');
    expect(await count('failed')).to.equal(0);
  });

  it('retries a 503 that carries Retry-After: 0 and delivers the event', async () => {
    const running = await started([plain()]);
    hook.handle((request) => (request.index === 0 ? { status: 503, headers: { 'retry-after': '0' } } : { status: 200 }));
    running.dispatch(counterModified('org.acme:lamp', 1));
    const requests = await within(hook.waitForRequests(2), 'the retry');
    expect(valuesOf(requests)).to.deep.equal([1, 1]);
    await eventually(async () => (await count('published')) === 1, 'the event published');
    expect(await count('retried')).to.equal(1);
    expect(await count('failed')).to.equal(0);
  });

  describe('with fake timers', () => {
    let clock: sinon.SinonFakeTimers | undefined;
    afterEach(() => {
      clock?.restore();
      clock = undefined;
    });

    it('waits the Retry-After: 1 of a 503 before retrying, not the shorter computed backoff', async () => {
      // A large cap so Retry-After is not clipped; the computed backoff would be at most 10 ms.
      const running = await started([plain()], { retry: '{ maxAttempts: 3, initialDelay: 10ms, maxDelay: 1h }' });
      hook.handle((request) => (request.index === 0 ? { status: 503, headers: { 'retry-after': '1' } } : { status: 200 }));
      clock = sinon.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
      running.dispatch(counterModified('org.acme:lamp', 1));
      await within(hook.waitForRequests(1), 'the first attempt');
      await eventually(async () => (await count('retried')) === 1, 'the 503 seen');
      await clock.tickAsync(999);
      expect(hook.requests).to.have.length(1);
      await clock.tickAsync(1);
      await within(hook.waitForRequests(2), 'the retry after one second');
      clock.restore();
      clock = undefined;
      await eventually(async () => (await count('published')) === 1, 'the event published');
    });
  });

  it('retries a target slower than idleTimeout, then fails the event and accounts every attempt', async () => {
    const release = deferred<void>();
    hook.handle(async () => {
      await release.promise;
      return { status: 200 };
    });
    const running = await started([plain({ idleTimeout: '50ms' })], { retry: '{ maxAttempts: 3, initialDelay: 10ms, maxDelay: 20ms }' });
    running.dispatch(counterModified('org.acme:lamp', 1));
    await eventually(async () => (await count('failed')) === 1, 'the event to fail');
    release.resolve();
    expect(hook.requests).to.have.length(3);
    expect(await count('retried')).to.equal(2);
    expect(await count('published')).to.equal(0);
    expect(await count('dispatched')).to.equal(1);
    const log = running.logs('push');
    expect(JSON.stringify(log)).to.include('failed after 3 attempt(s): timeout');
  });

  it('does not retry a 400: the event fails at once and the next one still goes out', async () => {
    hook.handle((request) => (request.index === 0 ? { status: 400 } : { status: 200 }));
    const running = await started([plain()]);
    running.dispatch(counterModified('org.acme:lamp', 1));
    running.dispatch(counterModified('org.acme:lamp', 2));
    const requests = await within(hook.waitForRequests(2), 'both events');
    expect(valuesOf(requests)).to.deep.equal([1, 2]);
    await eventually(async () => (await count('published')) === 1, 'the second published');
    expect(await count('failed')).to.equal(1);
    expect(await count('retried')).to.equal(0);
    expect(running.status('push').state).to.equal('authenticated');
  });

  it('keeps as many connection log entries as engine.connectionLogs allows', async () => {
    hook.handle((request) => (request.index < 3 ? { status: 400 } : { status: 200 }));
    const running = await started([plain()], { engine: '  connectionLogs: { successCapacity: 1, failureCapacity: 2 }' });
    for (let n = 1; n <= 6; n += 1) running.dispatch(counterModified('org.acme:lamp', n));
    await within(hook.waitForRequests(6), 'all six events');
    await eventually(async () => (await count('published')) === 3, 'three published');
    const entries = running.logs('push').connectionLogs.filter((entry) => entry.category === 'target');
    expect(entries.filter((entry) => entry.level === 'failure')).to.have.length(2);
    expect(entries.filter((entry) => entry.level === 'success')).to.have.length(1);
  });

  it('drops the newest events when the queue is full, and the counts add up', async () => {
    const release = deferred<void>();
    hook.handle(async () => {
      await release.promise;
      return { status: 200 };
    });
    const running = await started([plain()], { httpPush: '    maxQueueSize: 3' });
    for (let n = 1; n <= 10; n += 1) running.dispatch(counterModified('org.acme:lamp', n));
    // One in flight, three queued, six dropped: decided synchronously at dispatch.
    expect(await count('dropped')).to.equal(6);
    await within(hook.waitForRequests(1), 'the first event in flight');
    release.resolve();
    await within(hook.waitForRequests(4), 'the queued events');
    await eventually(async () => (await count('published')) === 4, 'four published');
    expect(valuesOf(hook.requests)).to.deep.equal([1, 2, 3, 4]);
    expect(await count('dispatched')).to.equal(10);
    expect((await count('published')) + (await count('dropped'))).to.equal(10);
    const target = running.metrics('push');
    expect(JSON.stringify(target)).to.include('POST:/events');
  });

  it('stop() finishes queued and in-flight events within the drain timeout and reports them delivered', async () => {
    const release = deferred<void>();
    hook.handle(async () => {
      await release.promise;
      return { status: 200 };
    });
    const running = await started([plain()]);
    for (let n = 1; n <= 3; n += 1) running.dispatch(counterModified('org.acme:lamp', n));
    await within(hook.waitForRequests(1), 'the first event in flight');
    const stopping = running.stop({ drainTimeout: 3_000 });
    release.resolve();
    expect(await within(stopping, 'the drain')).to.deep.equal({ delivered: 3, failed: 0, undelivered: 0 });
    engine = undefined;
    expect(valuesOf(hook.requests)).to.deep.equal([1, 2, 3]);
  });

  it('stop() gives up at the drain timeout and reports what it could not deliver', async () => {
    hook.handle(() => ({ hang: true }));
    const running = await started([plain()]);
    for (let n = 1; n <= 3; n += 1) running.dispatch(counterModified('org.acme:lamp', n));
    await within(hook.waitForRequests(1), 'the first event in flight');
    expect(await within(running.stop({ drainTimeout: 50 }), 'the drain')).to.deep.equal({ delivered: 0, failed: 0, undelivered: 3 });
    engine = undefined;
  });

  it('keeps at most parallelism requests in flight', async () => {
    const release = deferred<void>();
    hook.handle(async () => {
      await release.promise;
      return { status: 200 };
    });
    const running = await started([plain({ parallelism: 4 })]);
    for (let n = 1; n <= 12; n += 1) running.dispatch(counterModified('org.acme:lamp', n));
    await within(hook.waitForRequests(4), 'four requests in flight');
    await until(() => hook.concurrent === 4, 'four concurrent requests');
    expect(hook.requests).to.have.length(4);
    release.resolve();
    await within(hook.waitForRequests(12), 'all twelve');
    expect(hook.maxConcurrent).to.equal(4);
  });

  describe('updateConnection with events queued', () => {
    /** The first request is held until `release`; the rest answer at once. */
    function holdFirst(): { release: () => void } {
      const gate = deferred<void>();
      hook.handle(async (request) => {
        if (request.index === 0) await gate.promise;
        return { status: 200 };
      });
      return { release: () => gate.resolve() };
    }
    const definitionOf = (yaml: ConnectionYaml): ConnectionConfig => configOf([yaml]).connections[0] as ConnectionConfig;

    it('hands the queued events to the new definition: each delivered once, in order, accounted once', async () => {
      const { release } = holdFirst();
      const running = await started([plain()]);
      for (let n = 1; n <= 4; n += 1) running.dispatch(counterModified('org.acme:lamp', n));
      await within(hook.waitForRequests(1), 'the first event in flight');
      await running.updateConnection(definitionOf(plain({ parallelism: 2 })));
      release();
      await within(hook.waitForRequests(4), 'all four events');
      expect(valuesOf(hook.requests)).to.deep.equal([1, 2, 3, 4]);
      await eventually(async () => (await count('published')) === 4, 'four published');
      expect(await count('dispatched')).to.equal(4);
      expect(await count('dropped')).to.equal(0);
    });

    it('re-runs queued events through a changed target: dropped for the old address, published at the new one', async () => {
      const { release } = holdFirst();
      const running = await started([plain()]);
      for (let n = 1; n <= 3; n += 1) running.dispatch(counterModified('org.acme:lamp', n));
      await within(hook.waitForRequests(1), 'the first event in flight');
      await running.updateConnection(definitionOf(plain({ address: 'POST:/v2' })));
      release();
      await within(hook.waitForRequests(3), 'all three events');
      expect(hook.requests.map((request) => `${request.url} ${valuesOf([request])[0]}`)).to.have.members(['/events 1', '/v2 2', '/v2 3']);
      await eventually(async () => (await count('published', 'push', 'POST:/v2')) === 2, 'two published at /v2');
      expect([await count('dispatched'), await count('published'), await count('dropped')]).to.deep.equal([3, 1, 2]);
      expect(await count('dispatched', 'push', 'POST:/v2')).to.equal(2);
      expect(JSON.stringify(running.logs('push'))).to.include('reconfigured: target changed');
    });

    it("stop() gives a replaced definition's in-flight request only its own drain timeout", async () => {
      holdFirst(); // never released
      const running = await started([plain()]);
      running.dispatch(counterModified('org.acme:lamp', 1));
      await within(hook.waitForRequests(1), 'the event in flight');
      await running.updateConnection(definitionOf(plain({ parallelism: 2 })));
      // Without the shortened deadline this would wait DEFAULT_DRAIN_TIMEOUT (10 s) for the old runtime.
      await within(running.stop({ drainTimeout: 50 }), 'stop', 5_000);
      engine = undefined;
    });
  });
});

