import { expect } from 'chai';
import { PublishError } from '../../src/errors.ts';
import { createGotTransport } from '../../src/connection/got-transport.ts';
import {
  createHttpPublisher,
  type CircuitEvent,
  type HttpPublisher,
  type HttpPublisherOptions,
  type PublishOutcome,
} from '../../src/connection/http-publisher.ts';
import type { Transport } from '../../src/connection/transport.ts';
import type { Acknowledgement } from '../../src/engine/types.ts';
import type { ConnectionConfig, HttpPushSettings } from '../../src/config/types.ts';
import { deferred, startWebhookServer, type WebhookServer } from '../helpers/webhook-server.ts';
import { FakeTokenSource, connectionConfig, fakeTime, message, pushSettings } from './support.ts';

/** Records outcomes and lets a spec wait for one. */
class Recorder {
  readonly outcomes: PublishOutcome[] = [];
  readonly acks: Acknowledgement[] = [];
  readonly circuit: CircuitEvent[] = [];
  private waiters: { test: (o: PublishOutcome[]) => boolean; resolve: () => void }[] = [];

  readonly onOutcome = (outcome: PublishOutcome): void => {
    this.outcomes.push(outcome);
    for (const waiter of [...this.waiters]) {
      if (waiter.test(this.outcomes)) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  };

  /** Resolves once `count` outcomes of the kind have been reported. */
  until(kind: PublishOutcome['outcome'], count = 1): Promise<void> {
    const test = (all: PublishOutcome[]): boolean => all.filter((o) => o.outcome === kind).length >= count;
    if (test(this.outcomes)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ test, resolve }));
  }

  of(kind: PublishOutcome['outcome']): PublishOutcome[] {
    return this.outcomes.filter((o) => o.outcome === kind);
  }

  /** Terminal outcomes as `kind:n` in report order. */
  terminal(): string[] {
    return this.outcomes.filter((o) => o.outcome !== 'retried').map((o) => `${o.outcome}:${o.message.correlationId.slice(5)}`);
  }
}

describe('http publisher', () => {
  let hook: WebhookServer;
  let transport: Transport;
  let recorder: Recorder;
  let time: ReturnType<typeof fakeTime>;
  let delays: number[];
  let publisher: HttpPublisher | undefined;

  beforeEach(async () => {
    hook = await startWebhookServer();
    transport = createGotTransport({ parallelism: 8, validateCertificates: true, maxResponseBytes: 4096 });
    recorder = new Recorder();
    time = fakeTime();
    delays = [];
  });
  afterEach(async () => {
    const drained = publisher?.drain(0);
    await time.fake.tickAsync(0);
    await drained;
    publisher = undefined;
    transport.close();
    await hook.close();
  });

  function create(
    options: { connection?: Partial<ConnectionConfig> & { parallelism?: number; idleTimeout?: number }; settings?: Partial<HttpPushSettings> } & Partial<Omit<HttpPublisherOptions, 'connection' | 'settings'>> = {},
  ): HttpPublisher {
    const { connection, settings, ...rest } = options;
    publisher = createHttpPublisher({
      connection: connectionConfig({ uri: hook.url, ...connection }),
      settings: pushSettings(settings),
      transport,
      unauthorizedStatuses: [401],
      clock: time.clock,
      random: () => 0.5,
      timers: {
        setTimeout: (callback, ms) => {
          delays.push(ms);
          return time.timers.setTimeout(callback, ms);
        },
        clearTimeout: time.timers.clearTimeout,
      },
      onOutcome: recorder.onOutcome,
      onAcknowledgement: (ack) => recorder.acks.push(ack),
      onCircuit: (event) => recorder.circuit.push(event),
      ...rest,
    });
    return publisher;
  }

  it('publishes with the bearer token, the Ditto content type and the body, in order', async () => {
    const tokens = new FakeTokenSource();
    tokens.issue('t-1');
    const p = create({ tokenSource: tokens });
    for (let n = 1; n <= 5; n++) p.enqueue(message(n));
    await recorder.until('published', 5);
    expect(hook.requests.map((r) => r.url)).to.deep.equal([1, 2, 3, 4, 5].map((n) => `/events?n=${n}`));
    const [first] = hook.requests;
    expect(first?.method).to.equal('POST');
    expect(first?.headers.authorization).to.equal('Bearer t-1');
    expect(first?.headers['content-type']).to.equal('application/vnd.eclipse.ditto+json');
    expect(JSON.parse(first?.text ?? '')).to.deep.equal(JSON.parse(message(1).body ?? ''));
    expect(recorder.terminal()).to.deep.equal(['published:1', 'published:2', 'published:3', 'published:4', 'published:5']);
    expect(recorder.of('published')[0]).to.include({ statusCode: 200, attempts: 1, targetIndex: 0, targetAddress: 'POST:/events' });
  });

  it('waits for the first token and then publishes with it', async () => {
    const tokens = new FakeTokenSource();
    const p = create({ tokenSource: tokens });
    p.enqueue(message(1));
    expect(hook.requests).to.have.length(0);
    tokens.issue('late');
    await recorder.until('published');
    expect(hook.requests[0]?.headers.authorization).to.equal('Bearer late');
  });

  it('fails a message with reason `token unavailable` when no token comes', async () => {
    const tokens = new FakeTokenSource();
    tokens.unavailable = true;
    create({ tokenSource: tokens }).enqueue(message(1));
    await recorder.until('failed');
    expect(recorder.of('failed')[0]?.reason).to.equal('token unavailable');
    expect(hook.requests).to.have.length(0);
  });

  it('sends Basic credentials from the uri userinfo on connections without OAuth credentials', async () => {
    create({ connection: { uri: hook.url.replace('://', '://alice:s3cret@') } }).enqueue(message(1));
    await recorder.until('published');
    expect(hook.requests[0]?.headers.authorization).to.equal(`Basic ${Buffer.from('alice:s3cret').toString('base64')}`);
  });

  it('sends no body for omitRequestBody verbs', async () => {
    create().enqueue(message(1, { method: 'DELETE', body: 'should not be sent' }));
    await recorder.until('published');
    expect(hook.requests[0]?.method).to.equal('DELETE');
    expect(hook.requests[0]?.body.length).to.equal(0);
  });

  it('delivers events queued while the target was down once it is up, in order with parallelism 1', async () => {
    await hook.stop();
    const p = create({ settings: { retry: { maxAttempts: 10, initialDelay: 100, maxDelay: 1000, statuses: [503] } } });
    for (let n = 1; n <= 3; n++) p.enqueue(message(n));
    await recorder.until('retried');
    expect(recorder.of('retried')[0]).to.include({ reason: 'ECONNREFUSED', attempts: 1 });
    // Message 1 holds the only slot while it waits: 2 and 3 are still queued behind it.
    expect(p.queueSize).to.equal(2);
    await hook.restart();
    await time.fake.tickAsync(1000);
    await recorder.until('published', 3);
    expect(hook.requests.map((r) => r.url)).to.deep.equal(['/events?n=1', '/events?n=2', '/events?n=3']);
    expect(recorder.terminal()).to.deep.equal(['published:1', 'published:2', 'published:3']);
  });

  it('honours Retry-After of a 503 before retrying', async () => {
    let calls = 0;
    hook.handle(() => (++calls === 1 ? { status: 503, headers: { 'retry-after': '7' } } : { status: 200 }));
    create().enqueue(message(1));
    await recorder.until('retried');
    expect(recorder.of('retried')[0]).to.include({ reason: 'status 503', statusCode: 503 });
    expect(delays).to.deep.equal([7000]);
    await time.fake.tickAsync(6999);
    expect(hook.requests).to.have.length(1);
    await time.fake.tickAsync(1);
    await recorder.until('published');
    expect(hook.requests).to.have.length(2);
  });

  it('backs off with full jitter when there is no Retry-After, and caps Retry-After at maxDelay', async () => {
    hook.handle((req) => (req.url.endsWith('n=1') ? { status: 502 } : { status: 429, headers: { 'retry-after': '3600' } }));
    create({ settings: { retry: { maxAttempts: 3, initialDelay: 100, maxDelay: 10_000, statuses: [429, 502] } } }).enqueue(message(1));
    await recorder.until('retried');
    await time.fake.tickAsync(50);
    await recorder.until('retried', 2);
    await time.fake.tickAsync(100);
    await recorder.until('failed');
    expect(delays).to.deep.equal([50, 100]); // random 0.5 × 100, × 200
    publisher?.enqueue(message(2));
    await recorder.until('retried', 3);
    expect(delays.at(-1)).to.equal(10_000);
  });

  it('retries a target slower than the timeout, then fails the message with reason timeout', async () => {
    hook.handle(() => ({ hang: true }));
    create({ connection: { idleTimeout: 200 }, settings: { retry: { maxAttempts: 2, initialDelay: 100, maxDelay: 100, statuses: [] } } }).enqueue(
      message(1, { acknowledgementLabel: 'conn-1:pushed' }),
    );
    await recorder.until('retried');
    expect(recorder.of('retried')[0]?.reason).to.equal('timeout');
    await time.fake.tickAsync(100);
    await recorder.until('failed');
    expect(recorder.of('failed')[0]).to.include({ reason: 'timeout', attempts: 2 });
    expect(hook.requests).to.have.length(2);
    expect(recorder.acks).to.have.length(1);
    expect(recorder.acks[0]).to.include({ label: 'conn-1:pushed', status: 408, success: false, correlationId: 'corr-1' });
    expect(publisher?.counts).to.deep.equal({ enqueued: 1, published: 0, failed: 1, dropped: 0, retried: 1, handedOver: 0 });
  });

  it('fails other 4xx at once and acknowledges with the status and the response body', async () => {
    hook.handle(() => ({ status: 400, headers: { 'content-type': 'application/json' }, body: '{"error":"bad"}' }));
    create().enqueue(message(1, { acknowledgementLabel: 'l' }));
    await recorder.until('failed');
    expect(recorder.of('retried')).to.have.length(0);
    expect(recorder.of('failed')[0]).to.include({ reason: 'status 400', statusCode: 400 });
    expect(recorder.acks[0]).to.deep.include({ status: 400, success: false, entityId: 'org.acme:t1', payload: { error: 'bad' } });
  });

  it('fails a message at once when the transport reports a failure no retry can fix (blocked host)', async () => {
    let attempts = 0;
    create({
      transport: {
        request: async () => {
          attempts += 1;
          throw new PublishError('POST http://blocked.example/ failed: ERR_HOST_BLOCKED', { reason: 'ERR_HOST_BLOCKED', retryable: false });
        },
        close: () => undefined,
      },
    }).enqueue(message(1));
    await recorder.until('failed');
    expect(attempts).to.equal(1);
    expect(recorder.of('retried')).to.have.length(0);
    expect(recorder.of('failed')[0]).to.include({ reason: 'ERR_HOST_BLOCKED' });
  });

  it('acknowledges a published message positively with the response status', async () => {
    hook.handle(() => ({ status: 202, body: 'accepted' }));
    create().enqueue(message(1, { acknowledgementLabel: 'conn-1:pushed' }));
    await recorder.until('published');
    expect(recorder.acks).to.deep.equal([
      { label: 'conn-1:pushed', connectionId: 'conn-1', correlationId: 'corr-1', targetAddress: 'POST:/events', status: 202, success: true, entityId: 'org.acme:t1', payload: 'accepted' },
    ]);
  });

  describe('with a full queue', () => {
    it('drops the newest events, counts, and negatively acknowledges them; counts add up', async () => {
      const release = deferred<void>();
      hook.handle(async () => {
        await release.promise;
        return { status: 200 };
      });
      const p = create({ settings: { maxQueueSize: 3 } });
      const accepted = Array.from({ length: 10 }, (_, i) => p.enqueue(message(i + 1, { acknowledgementLabel: 'l' })));
      expect(accepted).to.deep.equal([true, true, true, true, false, false, false, false, false, false]);
      expect(p.queueSize).to.equal(3);
      expect(p.inFlight).to.equal(1);
      expect(recorder.of('dropped').map((o) => o.reason)).to.deep.equal(Array(6).fill('queue full'));
      expect(recorder.acks.map((a) => [a.status, a.success])).to.deep.equal(Array(6).fill([503, false]));
      release.resolve();
      await recorder.until('published', 4);
      const counts = p.counts;
      expect(counts).to.include({ enqueued: 10, published: 4, dropped: 6, failed: 0 });
      expect(counts.published + counts.dropped + counts.failed + p.queueSize + p.inFlight).to.equal(counts.enqueued);
    });

    it('drops the oldest queued events with the drop-oldest policy', async () => {
      const release = deferred<void>();
      hook.handle(async () => {
        await release.promise;
        return { status: 200 };
      });
      const p = create({ settings: { maxQueueSize: 3, overflow: 'drop-oldest' } });
      for (let n = 1; n <= 7; n++) p.enqueue(message(n));
      release.resolve();
      await recorder.until('published', 4);
      expect(recorder.terminal()).to.deep.equal(['dropped:2', 'dropped:3', 'dropped:4', 'published:1', 'published:5', 'published:6', 'published:7']);
    });
  });

  describe('when the target refuses the token', () => {
    it('reports it once, retries with the new token, and publishes', async () => {
      hook.handle((req) => (req.headers.authorization === 'Bearer old' ? { status: 401 } : { status: 200 }));
      const tokens = new FakeTokenSource();
      tokens.issue('old');
      create({ tokenSource: tokens }).enqueue(message(1));
      await recorder.until('published');
      expect(tokens.unauthorizedReports.map((t) => t.value)).to.deep.equal(['old']);
      expect(hook.requests.map((r) => r.headers.authorization)).to.deep.equal(['Bearer old', 'Bearer token-1']);
      expect(recorder.of('retried').map((o) => o.reason)).to.deep.equal(['status 401']);
    });

    it('fails the message after one retry when the new token is refused too', async () => {
      hook.handle(() => ({ status: 401 }));
      const tokens = new FakeTokenSource();
      tokens.issue('old');
      create({ tokenSource: tokens, settings: { retry: { maxAttempts: 5, initialDelay: 1, maxDelay: 1, statuses: [401] } } }).enqueue(message(1));
      await recorder.until('failed');
      expect(hook.requests).to.have.length(2);
      expect(tokens.unauthorizedReports).to.have.length(1);
      expect(recorder.of('failed')[0]).to.include({ reason: 'status 401', statusCode: 401 });
    });
  });

  it('never has more than parallelism requests in flight', async () => {
    const release = deferred<void>();
    hook.handle(async () => {
      await release.promise;
      return { status: 200 };
    });
    const p = create({ connection: { parallelism: 3 } });
    for (let n = 1; n <= 20; n++) p.enqueue(message(n));
    await hook.waitForRequests(3);
    expect(p.inFlight).to.equal(3);
    expect(p.queueSize).to.equal(17);
    release.resolve();
    await recorder.until('published', 20);
    expect(hook.maxConcurrent).to.equal(3);
  });

  it('holds events while paused and sends them on resume', async () => {
    const p = create();
    p.pause();
    p.enqueue(message(1));
    p.enqueue(message(2));
    expect(p.queueSize).to.equal(2);
    expect(p.inFlight).to.equal(0);
    p.resume();
    await recorder.until('published', 2);
    expect(hook.requests.map((r) => r.url)).to.deep.equal(['/events?n=1', '/events?n=2']);
  });

  describe('circuit breaker', () => {
    it('opens after consecutive failures, lets one probe through after the delay, and closes on success', async () => {
      let healthy = false;
      hook.handle(() => ({ status: healthy ? 200 : 500 }));
      const p = create({
        settings: { circuitBreakerThreshold: 2, retry: { maxAttempts: 1, initialDelay: 100, maxDelay: 1000, statuses: [] } },
        circuitBackoff: { initialDelay: 1000, maxDelay: 8000 },
      });
      for (let n = 1; n <= 4; n++) p.enqueue(message(n));
      await recorder.until('failed', 2);
      expect(recorder.circuit).to.have.length(1);
      expect(recorder.circuit[0]).to.include({ state: 'open', consecutiveFailures: 2, reason: 'status 500', probeDelayMs: 500 });
      expect(p.circuit).to.equal('open');
      expect(p.queueSize).to.equal(2);
      expect(hook.requests).to.have.length(2);

      // The probe fails: the circuit opens again with a longer delay.
      await time.fake.tickAsync(500);
      await recorder.until('failed', 3);
      expect(hook.requests).to.have.length(3);
      expect(recorder.circuit.map((c) => [c.state, c.probeDelayMs])).to.deep.equal([['open', 500], ['open', 1000]]);

      healthy = true;
      await time.fake.tickAsync(1000);
      await recorder.until('published', 1);
      expect(recorder.circuit.at(-1)?.state).to.equal('closed');
      expect(p.circuit).to.equal('closed');
      expect(recorder.terminal()).to.deep.equal(['failed:1', 'failed:2', 'failed:3', 'published:4']);
    });
  });

  describe('drain', () => {
    it('finishes the queue and in-flight requests and reports them delivered', async () => {
      const release = deferred<void>();
      hook.handle(async () => {
        await release.promise;
        return { status: 200 };
      });
      const p = create();
      for (let n = 1; n <= 3; n++) p.enqueue(message(n));
      const report = p.drain(5000);
      expect(p.enqueue(message(4))).to.equal(false);
      release.resolve();
      expect(await report).to.deep.equal({ delivered: 3, failed: 0, undelivered: 1 });
      expect(recorder.terminal()).to.deep.equal(['dropped:4', 'published:1', 'published:2', 'published:3']);
      expect(recorder.of('dropped')[0]?.reason).to.equal('stopped');
    });

    it('drops what is left at the deadline as shutdown and reports it undelivered', async () => {
      hook.handle(() => ({ hang: true }));
      const p = create();
      for (let n = 1; n <= 3; n++) p.enqueue(message(n));
      await hook.waitForRequests(1);
      const report = p.drain(1000);
      await time.fake.tickAsync(1000);
      expect(await report).to.deep.equal({ delivered: 0, failed: 0, undelivered: 3 });
      expect(recorder.of('dropped').map((o) => o.reason)).to.deep.equal(['shutdown', 'shutdown', 'shutdown']);
      expect(p.counts).to.include({ enqueued: 3, dropped: 3 });
    });

    it('wakes a message waiting for a retry and drops it at the deadline', async () => {
      hook.handle(() => ({ status: 503, headers: { 'retry-after': '60' } }));
      const p = create({ settings: { retry: { maxAttempts: 5, initialDelay: 100, maxDelay: 120_000, statuses: [503] } } });
      p.enqueue(message(1));
      await recorder.until('retried');
      const report = p.drain(200);
      await time.fake.tickAsync(200);
      expect(await report).to.deep.equal({ delivered: 0, failed: 0, undelivered: 1 });
      expect(hook.requests).to.have.length(1);
    });
  });
});
