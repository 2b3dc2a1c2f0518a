import { expect } from 'chai';
import { of } from 'rxjs';
import { createEngine, type TwinlinkEngine } from '../../src/engine/engine.ts';
import { ConnectionError, ErrorCode, TwinlinkError } from '../../src/errors.ts';
import type { Acknowledgement, ConnectionStatusDocument } from '../../src/engine/types.ts';
import { SEED_ACCESS_TOKEN, startTokenServer, type TokenServer } from '../helpers/token-server.ts';
import { startWebhookServer, type WebhookServer } from '../helpers/webhook-server.ts';
import { configOf, connectionYaml, counterModified, firstMatch, thingCreated, until, within, type ConnectionYaml } from '../helpers/engine-harness.ts';

describe('createEngine', () => {
  let tokens: TokenServer;
  let hook: WebhookServer;
  let engine: TwinlinkEngine | undefined;

  beforeEach(async () => {
    tokens = await startTokenServer({ path: '/785e80cd-e6e6-452a-be97-a59c53edb4d9' });
    hook = await startWebhookServer();
  });
  afterEach(async () => {
    await engine?.stop({ drainTimeout: 100 });
    engine = undefined;
    await Promise.all([tokens.close(), hook.close()]);
  });

  /** The seed's connection pointed at the local servers. */
  const seed = (overrides: Partial<ConnectionYaml> = {}): ConnectionYaml => ({
    id: 'http_oauth2',
    uri: hook.url,
    tokenEndpoint: tokens.tokenEndpoint,
    address: 'POST:/6148b899-736f-47e6-9382-90b1d721630e',
    ...overrides,
  });

  async function started(connections: ConnectionYaml[], overrides: { httpPush?: string; oauth2?: string } = {}): Promise<TwinlinkEngine> {
    engine = createEngine({ config: configOf(connections, overrides) });
    await engine.start();
    return engine;
  }

  describe('the seed scenario', () => {
    it('requests a token exactly as the seed shows, then publishes the thing-created event with it', async () => {
      const running = await started([seed()]);
      running.dispatch(thingCreated('org.acme:lamp', { headers: { 'correlation-id': 'seed-1' } }));
      const [request] = await within(hook.waitForRequests(1), 'the published event');

      expect(tokens.requests).to.have.length(1);
      const tokenRequest = tokens.requests[0];
      expect(tokenRequest?.method).to.equal('POST');
      expect(tokenRequest?.path).to.equal('/785e80cd-e6e6-452a-be97-a59c53edb4d9');
      expect(tokenRequest?.headers.accept).to.equal('application/json');
      expect(tokenRequest?.headers['content-type']).to.equal('application/x-www-form-urlencoded');
      expect(tokenRequest?.body).to.equal('grant_type=client_credentials&client_id=my-client-id&client_secret=my-client-secret&scope=my-scope');
      expect(tokenRequest?.headers).to.not.have.property('authorization');

      expect(request?.method).to.equal('POST');
      expect(request?.url).to.equal('/6148b899-736f-47e6-9382-90b1d721630e');
      expect(request?.headers['content-type']).to.equal('application/vnd.eclipse.ditto+json');
      expect(request?.headers.authorization).to.equal(`Bearer ${SEED_ACCESS_TOKEN}`);
      const envelope = JSON.parse(request?.text ?? '') as Record<string, unknown>;
      expect(envelope).to.include({ topic: 'org.acme/lamp/things/twin/events/created', path: '/', revision: 1 });
      expect(envelope.value).to.deep.equal({ thingId: 'org.acme:lamp', policyId: 'org.acme:lamp' });
      expect(envelope.headers).to.include({ 'correlation-id': 'seed-1' });
    });

    it('reuses the cached token for the next event: one token request for two publishes', async () => {
      const running = await started([seed()]);
      running.dispatch(thingCreated('org.acme:lamp'));
      await within(hook.waitForRequests(1), 'the first event');
      running.dispatch(counterModified('org.acme:lamp', 2));
      const requests = await within(hook.waitForRequests(2), 'the second event');
      expect(tokens.requests).to.have.length(1);
      expect(requests[1]?.headers.authorization).to.equal(`Bearer ${SEED_ACCESS_TOKEN}`);
      expect(JSON.parse(requests[1]?.text ?? '')).to.include({ topic: 'org.acme/lamp/things/twin/events/modified', path: '/attributes/counter', value: 2 });
    });

    it('sends 200 events dispatched at once on a cold cache with parallelism 8 after exactly one token request', async () => {
      // Hold the token response until every event waits for it: they must all share this one request.
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      tokens.enqueue(async () => {
        await held;
        return { status: 200, body: { access_token: SEED_ACCESS_TOKEN, expires_in: 1048576, token_type: 'bearer' } };
      });
      const running = await started([seed({ parallelism: 8 })]);
      for (let n = 1; n <= 200; n += 1) running.dispatch(counterModified('org.acme:lamp', n));
      await within(tokens.waitForRequests(1), 'the token request');
      release();
      const requests = await within(hook.waitForRequests(200), '200 published events');
      expect(tokens.requests).to.have.length(1);
      expect(requests.every((request) => request.headers.authorization === `Bearer ${SEED_ACCESS_TOKEN}`)).to.equal(true);
      expect(hook.maxConcurrent).to.be.at.most(8);
    });
  });

  describe('lifecycle', () => {
    it('refuses dispatch before start with ERR_ENGINE_STOPPED, and sends nothing', async () => {
      engine = createEngine({ config: configOf([seed()]) });
      const attempt = (): void => engine?.dispatch(thingCreated('org.acme:lamp'));
      expect(attempt).to.throw(TwinlinkError).with.property('code', ErrorCode.ENGINE_STOPPED);
      expect(tokens.requests).to.have.length(0);
    });

    it('refuses dispatch and runtime changes after stop with ERR_ENGINE_STOPPED', async () => {
      const running = await started([seed()]);
      await running.stop({ drainTimeout: 100 });
      expect(() => running.dispatch(thingCreated('org.acme:lamp'))).to.throw(TwinlinkError).with.property('code', ErrorCode.ENGINE_STOPPED);
      const error = await running.addConnection(configOf([seed({ id: 'late' })]).connections[0] as never).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(TwinlinkError).with.property('code', ErrorCode.ENGINE_STOPPED);
      // A second stop is harmless.
      expect(await running.stop()).to.deep.equal({ delivered: 0, failed: 0, undelivered: 0 });
    });

    it('lists its connections before and after start', async () => {
      engine = createEngine({ config: configOf([seed(), seed({ id: 'second' })]) });
      expect(engine.connections().map((c) => c.id)).to.deep.equal(['http_oauth2', 'second']);
      await engine.start();
      expect(engine.connections().map((c) => c.id)).to.have.members(['http_oauth2', 'second']);
      expect(engine.connection('second')?.uri).to.equal(hook.url);
      expect(engine.connection('nope')).to.equal(undefined);
    });

    it('answers unknown connection ids with ConnectionError ERR_CONNECTION_NOT_FOUND', async () => {
      const running = await started([seed()]);
      expect(() => running.status('nope')).to.throw(ConnectionError).with.property('code', ErrorCode.CONNECTION_NOT_FOUND);
      const error = await running.removeConnection('nope').catch((e: unknown) => e);
      expect(error).to.be.instanceOf(ConnectionError).with.property('code', ErrorCode.CONNECTION_NOT_FOUND);
    });

    it('refuses to add a connection whose id exists with ERR_CONNECTION_EXISTS', async () => {
      const running = await started([seed()]);
      const duplicate = configOf([seed()]).connections[0];
      const error = await running.addConnection(duplicate as never).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(ConnectionError).with.property('code', ErrorCode.CONNECTION_EXISTS);
    });

    it('dispatches every signal of a stream given to connect()', async () => {
      const running = await started([seed()]);
      running.connect(of(counterModified('org.acme:lamp', 1), counterModified('org.acme:lamp', 2)));
      const requests = await within(hook.waitForRequests(2), 'two events from the stream');
      expect(requests.map((request) => (JSON.parse(request.text) as { value: number }).value)).to.deep.equal([1, 2]);
    });
  });

  describe('routing', () => {
    it('sends nothing for an event whose policy does not grant the target subject', async () => {
      const running = await started([seed()]);
      running.dispatch(thingCreated('org.acme:secret', { readGrantedSubjects: ['someone:else'] }));
      running.dispatch(thingCreated('org.acme:revoked', { readGrantedSubjects: ['integration:ditto'], readRevokedSubjects: ['integration:ditto'] }));
      running.dispatch(thingCreated('org.acme:visible'));
      const requests = await within(hook.waitForRequests(1), 'the authorized event');
      await running.stop({ drainTimeout: 1000 });
      engine = undefined;
      expect(requests.map((request) => (JSON.parse(request.text) as { topic: string }).topic)).to.deep.equal(['org.acme/visible/things/twin/events/created']);
    });

    it('sends only events of the namespaces a target lists', async () => {
      const running = await started([seed({ topics: ['_/_/things/twin/events?namespaces=org.a,org.b'] })]);
      for (const thingId of ['org.c:x', 'org.a:x', 'org.c:y', 'org.b:y']) running.dispatch(thingCreated(thingId));
      await within(hook.waitForRequests(2), 'the two events of listed namespaces');
      await running.stop({ drainTimeout: 1000 });
      engine = undefined;
      expect(hook.requests.map((request) => (JSON.parse(request.text) as { topic: string }).topic)).to.deep.equal([
        'org.a/x/things/twin/events/created',
        'org.b/y/things/twin/events/created',
      ]);
    });
  });

  describe('observables', () => {
    it('emits status documents on statusChanges$ as the connection goes connecting → authenticated', async () => {
      engine = createEngine({ config: configOf([seed()]) });
      const seen: ConnectionStatusDocument[] = [];
      engine.statusChanges$.subscribe((status) => seen.push(status));
      const authenticated = firstMatch(engine.statusChanges$, (status) => status.state === 'authenticated', 'authenticated');
      await engine.start();
      const status = await authenticated;
      expect(status).to.include({ connectionId: 'http_oauth2', connectionStatus: 'open' });
      expect(status.token?.state).to.equal('valid');
      const states = seen.map((s) => s.state).filter((state, index, all) => state !== all[index - 1]);
      expect(states.slice(0, 2)).to.deep.equal(['connecting', 'authenticated']);
      expect(JSON.stringify(seen)).to.not.include('my-client-secret').and.not.include(SEED_ACCESS_TOKEN);
    });

    it('completes statusChanges$ and acknowledgements$ on stop', async () => {
      const running = await started([seed()]);
      let completed = 0;
      running.statusChanges$.subscribe({ complete: () => (completed += 1) });
      running.acknowledgements$.subscribe({ complete: () => (completed += 1) });
      await running.stop({ drainTimeout: 100 });
      expect(completed).to.equal(2);
    });

    it('emits acknowledgements for a target with issuedAcknowledgementLabel: 2xx positive, other statuses negative', async () => {
      hook.handle((request) => (request.url === '/refuse' ? { status: 422, headers: { 'content-type': 'application/json' }, body: '{"why":"no"}' } : { status: 204 }));
      const running = await started([
        seed({ address: 'POST:/accept', targetExtra: '        issuedAcknowledgementLabel: "{{connection:id}}:pushed"' }),
        seed({ id: 'refusing', address: 'POST:/refuse', targetExtra: '        issuedAcknowledgementLabel: "refusing:custom"' }),
      ]);
      const acks: Acknowledgement[] = [];
      running.acknowledgements$.subscribe((ack) => acks.push(ack));
      running.dispatch(thingCreated('org.acme:lamp', { headers: { 'correlation-id': 'ack-1' } }));
      await until(() => acks.length === 2, 'two acknowledgements');
      const byLabel = Object.fromEntries(acks.map((ack) => [ack.label, ack]));
      expect(byLabel['http_oauth2:pushed']).to.deep.include({
        connectionId: 'http_oauth2', correlationId: 'ack-1', status: 204, success: true, entityId: 'org.acme:lamp', targetAddress: 'POST:/accept',
      });
      expect(byLabel['refusing:custom']).to.deep.include({ connectionId: 'refusing', status: 422, success: false, payload: { why: 'no' } });
    });
  });

  describe('two connections sharing one credential', () => {
    it('cause one token request between them', async () => {
      const running = await started([seed({ address: 'POST:/one' }), seed({ id: 'twin', address: 'POST:/two' })]);
      running.dispatch(thingCreated('org.acme:lamp'));
      const requests = await within(hook.waitForRequests(2), 'both connections publishing');
      expect(requests.map((request) => request.url).sort()).to.deep.equal(['/one', '/two']);
      expect(tokens.requests).to.have.length(1);
    });

    it('but a different client id is a different credential with its own token request', async () => {
      const running = await started([seed({ address: 'POST:/one' }), seed({ id: 'other', address: 'POST:/two', clientId: 'other-client' })]);
      running.dispatch(thingCreated('org.acme:lamp'));
      await within(hook.waitForRequests(2), 'both connections publishing');
      expect(tokens.requests.map((request) => request.form.client_id).sort()).to.deep.equal(['my-client-id', 'other-client']);
    });
  });

  it('builds connections without credentials that publish without an Authorization header', async () => {
    const running = await started([{ id: 'plain', uri: hook.url }]);
    running.dispatch(thingCreated('org.acme:lamp'));
    const [request] = await within(hook.waitForRequests(1), 'the event');
    expect(request?.headers).to.not.have.property('authorization');
    expect(tokens.requests).to.have.length(0);
    expect(running.status('plain')).to.include({ state: 'authenticated', connectionStatus: 'open', liveStatus: 'open' });
    expect(running.status('plain')).to.not.have.property('token');
  });

  it('drops (and counts) an event whose pipeline throws, and keeps the target working for the next one', async () => {
    let calls = 0;
    engine = createEngine({
      config: configOf([{ id: 'extra', uri: hook.url, topics: ['_/_/things/twin/events?extraFields=attributes/location'] }]),
      // A host lookup that fails once: a bug outside the pipeline's control, not bad event data.
      extraFields: () => {
        calls += 1;
        if (calls === 1) throw new Error('store unavailable');
        return { attributes: { location: 'kitchen' } };
      },
    });
    await engine.start();
    engine.dispatch(counterModified('org.acme:lamp', 1));
    engine.dispatch(counterModified('org.acme:lamp', 2));
    const [request] = await within(hook.waitForRequests(1), 'the second event');
    expect(JSON.parse(request?.text ?? '{}')).to.deep.include({ revision: 2, extra: { attributes: { location: 'kitchen' } } });
    const logs = engine.logs('extra').connectionLogs;
    expect(logs.some((entry) => entry.type === 'dropped' && entry.message.includes('store unavailable'))).to.equal(true);
    expect(engine.metrics('extra').targetMetrics.addressMetrics['POST:/events']?.dropped.success.PT1M).to.equal(1);
  });

  it('reads its YAML through connectionYaml exactly (guarding the helper itself)', () => {
    expect(connectionYaml({ id: 'x', uri: 'http://127.0.0.1:1' })).to.include('id: x').and.not.include('credentials');
  });
});
