import { expect } from 'chai';
import { createEngine, type TwinlinkEngine } from '../../src/engine/engine.ts';
import { ErrorCode } from '../../src/errors.ts';
import { startTokenServer, tokenReply, type TokenServer } from '../helpers/token-server.ts';
import { deferred, startWebhookServer, type WebhookServer } from '../helpers/webhook-server.ts';
import {
  configOf,
  counterModified,
  eventually,
  firstMatch,
  outboundCount,
  scrape,
  valuesOf,
  within,
  type ConnectionYaml,
  type EngineYaml,
} from '../helpers/engine-harness.ts';
import { valueOf } from '../helpers/prometheus-text.ts';

describe('engine and the token endpoint (end to end)', () => {
  let tokens: TokenServer;
  let hook: WebhookServer;
  let engine: TwinlinkEngine | undefined;

  beforeEach(async () => {
    tokens = await startTokenServer();
    hook = await startWebhookServer();
  });
  afterEach(async () => {
    await engine?.stop({ drainTimeout: 50 });
    engine = undefined;
    await Promise.all([tokens.close(), hook.close()]);
  });

  const oauth = (overrides: Partial<ConnectionYaml> = {}): ConnectionYaml => ({
    id: 'oauth',
    uri: hook.url,
    tokenEndpoint: tokens.tokenEndpoint,
    ...overrides,
  });

  async function started(connections: ConnectionYaml[], overrides: EngineYaml = {}): Promise<TwinlinkEngine> {
    engine = createEngine({ config: configOf(connections, overrides) });
    await engine.start();
    return engine;
  }

  it('answers a 401 from the target with one token refresh and one retry that delivers the event', async () => {
    tokens.enqueue(tokenReply('token-1', { expires_in: 3600 }), tokenReply('token-2', { expires_in: 3600 }));
    hook.handle((request) => (request.headers.authorization === 'Bearer token-1' ? { status: 401 } : { status: 200 }));
    const running = await started([oauth()]);
    running.dispatch(counterModified('org.acme:lamp', 1));
    const requests = await within(hook.waitForRequests(2), 'the refused request and its retry');
    expect(requests.map((request) => request.headers.authorization)).to.deep.equal(['Bearer token-1', 'Bearer token-2']);
    expect(valuesOf(requests)).to.deep.equal([1, 1]);
    expect(tokens.requests).to.have.length(2);
    await eventually(async () => (await outboundCount(running.registry, 'oauth', 'POST:/events', 'published')) === 1, 'the event published');
    const metrics = await scrape(running.registry);
    expect(valueOf(metrics, 'twinlink_token_refreshes_total', { connection: 'oauth', trigger: 'unauthorized' })).to.equal(1);
    expect(valueOf(metrics, 'twinlink_outbound_messages_total', { connection: 'oauth', target: 'POST:/events', outcome: 'failed' })).to.equal(0);
    expect(running.status('oauth').state).to.equal('authenticated');
  });

  it('fails an event refused twice with 401 instead of looping on refreshes', async () => {
    hook.handle(() => ({ status: 401 }));
    const running = await started([oauth()]);
    running.dispatch(counterModified('org.acme:lamp', 1));
    await eventually(async () => (await outboundCount(running.registry, 'oauth', 'POST:/events', 'failed')) === 1, 'the event failed');
    expect(hook.requests).to.have.length(2);
    expect(tokens.requests).to.have.length(2);
  });

  it('queues events while the token endpoint is down at start and delivers them in order once it recovers', async () => {
    const recovered = deferred<void>();
    tokens.enqueue(
      { status: 503, body: { error: 'temporarily_unavailable' } },
      { status: 503 },
      { status: 503 },
      async () => {
        await recovered.promise;
        return tokenReply('late-token', { expires_in: 3600 });
      },
    );
    const running = await started([oauth()]);
    await within(tokens.waitForRequests(4), 'three failed token requests and a fourth');
    const status = running.status('oauth');
    expect(status.state).to.equal('backoff');
    expect(status.token?.lastError?.code).to.equal(ErrorCode.TOKEN_ENDPOINT);
    for (let n = 1; n <= 4; n += 1) running.dispatch(counterModified('org.acme:lamp', n));
    expect(hook.requests).to.have.length(0);
    recovered.resolve();
    const requests = await within(hook.waitForRequests(4), 'the queued events');
    expect(valuesOf(requests)).to.deep.equal([1, 2, 3, 4]);
    expect(requests.every((request) => request.headers.authorization === 'Bearer late-token')).to.equal(true);
    expect(tokens.requests).to.have.length(4);
    await eventually(async () => running.status('oauth').state === 'authenticated', 'authenticated');
  });

  it('reports rejected credentials (invalid_client) as misconfigured/failed with the RFC 6749 error, never the secret', async () => {
    tokens.setDefault({ status: 401, body: { error: 'invalid_client', error_description: 'Client authentication failed' } });
    engine = createEngine({ config: configOf([oauth({ clientSecret: 'super-secret-value' })]) });
    const failed = firstMatch(engine.statusChanges$, (status) => status.state === 'failed', 'the failed state');
    await engine.start();
    const emitted = await failed;
    const status = engine.status('oauth');
    // connectionStatus is the desired status (Ditto's meaning); the live status says what went wrong.
    expect(status.connectionStatus).to.equal('open');
    expect(status.liveStatus).to.equal('misconfigured');
    expect(status.clientStatus[0]?.state).to.equal('misconfigured');
    expect(status.state).to.equal('failed');
    expect(status.statusDetails).to.include('invalid_client: Client authentication failed');
    expect(status.clientStatus[0]?.statusDetails).to.include('invalid_client');
    expect(status.token?.lastError).to.deep.include({
      code: ErrorCode.TOKEN_REJECTED,
      error: 'invalid_client',
      errorDescription: 'Client authentication failed',
    });
    const json = JSON.stringify(status) + JSON.stringify(emitted) + JSON.stringify(engine.logs('oauth'));
    expect(json).to.not.include('super-secret-value');
    expect(tokens.requests[0]?.form.client_secret).to.equal('super-secret-value');

    // Events for a misconfigured connection are held, not sent, and accounted at stop.
    engine.dispatch(counterModified('org.acme:lamp', 1));
    const metrics = await scrape(engine.registry);
    expect(valueOf(metrics, 'twinlink_connection_state', { connection: 'oauth', state: 'failed' })).to.equal(1);
    expect(valueOf(metrics, 'twinlink_token_requests_total', { connection: 'oauth', outcome: ErrorCode.TOKEN_REJECTED })).to.equal(1);
    expect(await engine.stop({ drainTimeout: 50 })).to.deep.equal({ delivered: 0, failed: 0, undelivered: 1 });
    engine = undefined;
    expect(hook.requests).to.have.length(0);
    expect(tokens.requests).to.have.length(1);
  });

  it('reopening a failed connection retries the token request and publishes once the endpoint accepts', async () => {
    tokens.enqueue({ status: 400, body: { error: 'invalid_client' } });
    const running = await started([oauth()]);
    await eventually(async () => running.status('oauth').state === 'failed', 'the failed state');
    running.dispatch(counterModified('org.acme:lamp', 1));
    await running.open('oauth');
    const [request] = await within(hook.waitForRequests(1), 'the held event');
    expect(valuesOf([request as { text: string }])).to.deep.equal([1]);
    expect(tokens.requests).to.have.length(2);
    expect(running.status('oauth').liveStatus).to.equal('open');
  });
});
