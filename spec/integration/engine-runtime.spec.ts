import { expect } from 'chai';
import { createEngine, type TwinlinkEngine } from '../../src/engine/engine.ts';
import type { ConnectionConfig } from '../../src/config/types.ts';
import { ConnectionError, ErrorCode } from '../../src/errors.ts';
import { startTokenServer, type TokenServer } from '../helpers/token-server.ts';
import { startWebhookServer, type WebhookServer, type RecordedRequest } from '../helpers/webhook-server.ts';
import { configOf, counterModified, eventually, outboundCount, scrape, valuesOf, within, type ConnectionYaml } from '../helpers/engine-harness.ts';
import { valueOf } from '../helpers/prometheus-text.ts';

/**
 * Two connections share one credential and one webhook: `steady` on path /steady, `changing` on
 * /changing (or wherever a spec moves it). Every spec changes `changing` at runtime between events
 * and checks that `steady` received every event, in order, with no extra token request.
 */
describe('engine reconfiguration at runtime (end to end)', () => {
  let tokens: TokenServer;
  let hook: WebhookServer;
  let engine: TwinlinkEngine;
  let sent: number;

  beforeEach(async () => {
    tokens = await startTokenServer();
    hook = await startWebhookServer();
    engine = createEngine({ config: configOf([steadyYaml(), changingYaml()]) });
    await engine.start();
    sent = 0;
  });
  afterEach(async () => {
    await engine.stop({ drainTimeout: 50 });
    await Promise.all([tokens.close(), hook.close()]);
  });

  function steadyYaml(): ConnectionYaml {
    return { id: 'steady', uri: hook.url, tokenEndpoint: tokens.tokenEndpoint, address: 'POST:/steady' };
  }
  function changingYaml(overrides: Partial<ConnectionYaml> = {}): ConnectionYaml {
    return { id: 'changing', uri: hook.url, tokenEndpoint: tokens.tokenEndpoint, address: 'POST:/changing', ...overrides };
  }
  /** A definition as the connections API would hand it over: parsed by the real loader. */
  function definition(yaml: ConnectionYaml): ConnectionConfig {
    return configOf([yaml]).connections[0] as ConnectionConfig;
  }

  const at = (path: string): RecordedRequest[] => hook.requests.filter((request) => request.url === path);

  /** Dispatches the next numbered event and waits until `steady` (and `alsoAt` paths) received it. */
  async function next(...alsoAt: string[]): Promise<number> {
    sent += 1;
    const n = sent;
    engine.dispatch(counterModified('org.acme:lamp', n));
    await eventually(async () => [...alsoAt, '/steady'].every((path) => valuesOf(at(path)).includes(n)), `event ${n} at /steady ${alsoAt.join(' ')}`);
    return n;
  }

  /** `steady` saw 1..sent in order, and the shared credential was fetched once. */
  function expectSteadyUndisturbed(): void {
    expect(valuesOf(at('/steady'))).to.deep.equal(Array.from({ length: sent }, (_, i) => i + 1));
    expect(tokens.requests).to.have.length(1);
  }

  it('starts both connections with one token request for the shared credential', async () => {
    await next('/changing');
    expectSteadyUndisturbed();
  });

  it('adds a connection that receives the events dispatched after it', async () => {
    await next('/changing');
    await engine.addConnection(definition({ id: 'added', uri: hook.url, address: 'POST:/added' }));
    expect(engine.connections().map((c) => c.id)).to.have.members(['steady', 'changing', 'added']);
    await next('/changing', '/added');
    await next('/added');
    expect(valuesOf(at('/added'))).to.deep.equal([2, 3]);
    expectSteadyUndisturbed();
  });

  it('updates a connection: later events use the new definition, the other connection keeps flowing', async () => {
    await next('/changing');
    await engine.updateConnection(definition(changingYaml({ address: 'PUT:/moved' })));
    expect(engine.connection('changing')?.targets[0]?.address).to.equal('PUT:/moved');
    await next('/moved');
    await next('/moved');
    expect(valuesOf(at('/changing'))).to.deep.equal([1]);
    expect(valuesOf(at('/moved'))).to.deep.equal([2, 3]);
    expect(at('/moved').every((request) => request.method === 'PUT')).to.equal(true);
    expectSteadyUndisturbed();
    await eventually(async () => engine.status('changing').state === 'authenticated', 'the updated connection authenticated');
    // Its metrics live on under the same id: Prometheus series and Ditto's documents alike.
    await eventually(async () => (await outboundCount(engine.registry, 'changing', 'PUT:/moved', 'published')) === 2, 'the new target counted');
    expect(await outboundCount(engine.registry, 'changing', 'POST:/changing', 'published')).to.equal(1);
    expect(valueOf(await scrape(engine.registry), 'twinlink_connection_state', { connection: 'changing', state: 'authenticated' })).to.equal(1);
    expect(engine.metrics('changing').connectionMetrics.outbound.published.success.PT1M).to.equal(3);
  });

  it('closes a connection (nothing is sent to it) and opens it again, without touching the other', async () => {
    await next('/changing');
    await engine.close('changing');
    expect(engine.status('changing')).to.include({ state: 'closed', connectionStatus: 'closed' });
    await next();
    await next();
    await engine.open('changing');
    await eventually(async () => engine.status('changing').state === 'authenticated', 'reopened');
    await next('/changing');
    expect(valuesOf(at('/changing'))).to.deep.equal([1, 4]);
    expectSteadyUndisturbed();
  });

  it('removes a connection: it is gone, and the shared credential keeps serving the other one', async () => {
    await next('/changing');
    await engine.removeConnection('changing');
    expect(() => engine.status('changing')).to.throw(ConnectionError).with.property('code', ErrorCode.CONNECTION_NOT_FOUND);
    expect(engine.connections().map((c) => c.id)).to.deep.equal(['steady']);
    await next();
    await next();
    expect(valuesOf(at('/changing'))).to.deep.equal([1]);
    expectSteadyUndisturbed();
    // The id is free again.
    await engine.addConnection(definition(changingYaml()));
    await next('/changing');
    expect(valuesOf(at('/changing'))).to.deep.equal([1, 4]);
  });

  it('delivers what a removed connection had in flight and queued before it goes', async () => {
    await next('/changing');
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    hook.handle(async (request) => {
      if (request.url === '/changing') await held;
      return { status: 200 };
    });
    await next('/changing'); // event 2 is in flight at /changing (held) …
    await next(); // … and event 3 waits in its queue (parallelism 1)
    expect(valuesOf(at('/changing'))).to.deep.equal([1, 2]);
    const removal = engine.removeConnection('changing');
    release();
    await within(removal, 'the removal');
    expect(valuesOf(at('/changing'))).to.deep.equal([1, 2, 3]);
    expectSteadyUndisturbed();
  });

  it('a connection added with connectionStatus closed receives nothing until opened', async () => {
    await engine.addConnection(definition({ id: 'dormant', uri: hook.url, address: 'POST:/dormant', connectionStatus: 'closed' }));
    expect(engine.status('dormant').state).to.equal('closed');
    await next('/changing');
    await engine.open('dormant');
    await eventually(async () => engine.status('dormant').state === 'authenticated', 'opened');
    await next('/dormant');
    expect(valuesOf(at('/dormant'))).to.deep.equal([2]);
    expectSteadyUndisturbed();
  });
});
