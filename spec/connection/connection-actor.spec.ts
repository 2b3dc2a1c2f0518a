import { expect } from 'chai';
import net, { type AddressInfo } from 'node:net';
import sinon from 'sinon';
import type { EngineSettings, HttpPushSettings } from '../../src/config/types.ts';
import { createConnectionActor, type ConnectionActor, type ConnectionSnapshot } from '../../src/connection/connection-actor.ts';
import { createGotTransport } from '../../src/connection/got-transport.ts';
import type { PublishOutcome } from '../../src/connection/http-publisher.ts';
import { ErrorCode } from '../../src/errors.ts';
import { startWebhookServer, type WebhookServer } from '../helpers/webhook-server.ts';
import { defaultEngineSettings } from '../../src/config/schema.ts';
import { FakeTokenSource, connectionConfig, fakeTime, message, pushSettings } from './support.ts';

function engineSettings(httpPush: Partial<HttpPushSettings> = {}): EngineSettings {
  return { ...defaultEngineSettings(), httpPush: pushSettings(httpPush) };
}

const credentials = {
  type: 'oauth-client-credentials' as const,
  tokenEndpoint: 'https://idp.example/token',
  clientId: 'id',
  clientSecret: 'secret',
  clientAuthenticationMethod: 'client_secret_post' as const,
};

describe('connection actor', () => {
  let hook: WebhookServer;
  let outcomes: PublishOutcome[];
  let conn: ConnectionActor | undefined;
  let time: ReturnType<typeof fakeTime>;

  beforeEach(async () => {
    hook = await startWebhookServer();
    outcomes = [];
    time = fakeTime();
  });
  afterEach(async () => {
    const drained = conn?.drain(0);
    await time.fake.tickAsync(0);
    await drained;
    conn = undefined;
    await hook.close();
  });

  function create(options: { withToken?: FakeTokenSource; settings?: Partial<HttpPushSettings>; closed?: boolean } = {}): ConnectionActor {
    conn = createConnectionActor({
      connection: connectionConfig({ uri: hook.url, credentials: options.withToken ? credentials : undefined, connectionStatus: options.closed ? 'closed' : 'open' }),
      settings: engineSettings(options.settings),
      transport: createGotTransport({ parallelism: 1, validateCertificates: true, maxResponseBytes: 1024 }),
      tokenSource: options.withToken,
      clock: time.clock,
      timers: time.timers,
      random: () => 0.5,
      onOutcome: (o) => outcomes.push(o),
    });
    return conn;
  }

  const published = async (count: number): Promise<void> => {
    await hook.waitForRequests(count);
    while (outcomes.filter((o) => o.outcome === 'published').length < count) await new Promise((resolve) => setImmediate(resolve));
  };

  it('publishes at once without credentials and reports open', async () => {
    const c = create();
    expect(c.snapshot()).to.include({ state: 'authenticated', dittoStatus: 'open', statusDetails: 'publishing' });
    c.enqueue(message(1));
    await published(1);
    expect(await c.drain(1000)).to.deep.equal({ delivered: 0, failed: 0, undelivered: 0 });
    conn = undefined;
  });

  it('queues events while the token endpoint is down at start and delivers them in order after it recovers', async () => {
    const tokens = new FakeTokenSource();
    const c = create({ withToken: tokens });
    const states: ConnectionSnapshot['state'][] = [];
    c.state$.subscribe((s) => states.push(s.state));
    tokens.status$.next({ state: 'backoff', since: 0, lastError: { code: ErrorCode.TOKEN_ENDPOINT, message: 'connect ECONNREFUSED' } });
    expect(c.snapshot()).to.include({ state: 'backoff', dittoStatus: 'failed' });
    expect(c.snapshot().statusDetails).to.contain('ECONNREFUSED');
    for (let n = 1; n <= 3; n++) c.enqueue(message(n));
    expect(c.snapshot().queueSize).to.equal(3);
    expect(hook.requests).to.have.length(0);
    tokens.issue('fresh');
    expect(c.snapshot().state).to.equal('authenticated');
    await published(3);
    expect(hook.requests.map((r) => r.url)).to.deep.equal(['/events?n=1', '/events?n=2', '/events?n=3']);
    expect(hook.requests[0]?.headers.authorization).to.equal('Bearer fresh');
    expect(states).to.deep.equal(['connecting', 'backoff', 'authenticated']);
  });

  it('reports misconfigured with the RFC 6749 error when the credentials are rejected', () => {
    const tokens = new FakeTokenSource();
    const c = create({ withToken: tokens });
    tokens.status$.next({
      state: 'failed',
      since: 0,
      lastError: { code: ErrorCode.TOKEN_REJECTED, message: 'rejected', error: 'invalid_client', errorDescription: 'bad secret' },
    });
    expect(c.snapshot()).to.include({ state: 'failed', dittoStatus: 'misconfigured', statusDetails: 'access token refused: invalid_client: bad secret' });
  });

  it('moves to backoff when the circuit opens and back once a probe succeeds', async () => {
    let healthy = false;
    hook.handle(() => ({ status: healthy ? 200 : 500 }));
    const c = create({ settings: { circuitBreakerThreshold: 1, retry: { maxAttempts: 1, initialDelay: 10, maxDelay: 10, statuses: [] } } });
    c.enqueue(message(1));
    c.enqueue(message(2));
    while (c.snapshot().state !== 'backoff') await new Promise((resolve) => setImmediate(resolve));
    expect(c.snapshot().statusDetails).to.contain('status 500');
    healthy = true;
    await time.fake.tickAsync(60_000);
    await published(1);
    expect(c.snapshot().state).to.equal('authenticated');
  });

  it('starts closed for connectionStatus closed and publishes after open()', async () => {
    const c = create({ closed: true });
    c.enqueue(message(1));
    expect(c.snapshot()).to.include({ state: 'closed', dittoStatus: 'closed', queueSize: 1 });
    c.open();
    await published(1);
  });

  it('drains at once when nothing was ever queued and drops a later message as stopped', async () => {
    const c = create();
    expect(await c.drain(5000)).to.deep.equal({ delivered: 0, failed: 0, undelivered: 0 });
    expect(c.enqueue(message(1))).to.equal(false);
    expect(outcomes.map((o) => [o.outcome, o.reason])).to.deep.equal([['dropped', 'stopped']]);
    expect(hook.requests).to.have.length(0);
  });
});

describe('connection actor with an https target', () => {
  let silent: net.Server;
  let accepted: net.Socket[];
  let fake: sinon.SinonFakeTimers;
  let conn: ConnectionActor | undefined;

  beforeEach(async () => {
    accepted = [];
    // Accepts TCP and never answers the TLS handshake: only the probe's timeout ends the wait.
    silent = net.createServer((socket) => accepted.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    fake = sinon.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'], shouldClearNativeTimers: true });
  });
  afterEach(async () => {
    const drained = conn?.drain(0);
    await fake.tickAsync(0);
    await drained;
    conn = undefined;
    fake.restore();
    for (const socket of accepted) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });

  function create(idleTimeout: number | undefined, requestTimeout = 60_000): ConnectionActor {
    conn = createConnectionActor({
      connection: connectionConfig({ uri: `https://127.0.0.1:${(silent.address() as AddressInfo).port}/hook`, idleTimeout }),
      settings: engineSettings({ requestTimeout }),
      transport: createGotTransport({ parallelism: 1, validateCertificates: true, maxResponseBytes: 1024 }),
      random: () => 0.5,
      onOutcome: () => undefined,
    });
    return conn;
  }

  async function timesOutAfter(ms: number): Promise<void> {
    const c = conn as ConnectionActor;
    while (accepted.length === 0) await new Promise((resolve) => setImmediate(resolve));
    await fake.tickAsync(ms - 1);
    expect(c.snapshot().state).to.equal('connecting');
    await fake.tickAsync(1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(c.snapshot().state).to.equal('backoff');
    expect(c.snapshot().statusDetails).to.equal(`target https://127.0.0.1:${(silent.address() as AddressInfo).port} unreachable, retrying: timeout`);
  }

  it('stays connecting while the probe runs, publishing nothing', async () => {
    const c = create(undefined);
    c.enqueue(message(1));
    expect(c.snapshot()).to.include({ state: 'connecting', dittoStatus: 'unknown', queueSize: 1 });
    expect(c.snapshot().statusDetails).to.match(/^checking that https:\/\/127\.0\.0\.1:\d+ is reachable$/);
  });

  it('gives the probe the idleTimeout of the connection', async () => {
    create(2_000);
    await timesOutAfter(2_000);
  });

  it('gives the probe the engine request timeout, capped at ten seconds', async () => {
    create(undefined, 60_000);
    await timesOutAfter(10_000);
  });
});
