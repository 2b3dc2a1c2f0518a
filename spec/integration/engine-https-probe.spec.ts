import { expect } from 'chai';
import { createEngine, type TwinlinkEngine } from '../../src/engine/engine.ts';
import { parseConfigText } from '../../src/config/load.ts';
import type { ConnectionConfig, TwinlinkConfig } from '../../src/config/types.ts';
import { createTestCertificates, type TestCertificates } from '../helpers/tls.ts';
import { startTokenServer, type TokenServer } from '../helpers/token-server.ts';
import { startWebhookServer, type WebhookServer } from '../helpers/webhook-server.ts';
import { connectionYaml, counterModified, engineYaml, eventually, outboundCount, scrape, until, valuesOf, within, type ConnectionYaml } from '../helpers/engine-harness.ts';
import { valueOf } from '../helpers/prometheus-text.ts';

/**
 * `connecting` for an https target: the engine reaches `authenticated` only after a TCP connect and
 * TLS handshake with the connection's `ca` succeeded; until then events queue and nothing is sent.
 */
describe('engine with an https target (reachability probe, end to end)', () => {
  let certs: TestCertificates;
  let hook: WebhookServer;
  let tokens: TokenServer | undefined;
  let engine: TwinlinkEngine | undefined;

  before(async () => {
    certs = await createTestCertificates();
  });
  beforeEach(async () => {
    hook = await startWebhookServer({ tls: { key: certs.key, cert: certs.cert } });
  });
  afterEach(async () => {
    await engine?.stop({ drainTimeout: 50 });
    engine = undefined;
    await hook.close();
    await tokens?.close();
    tokens = undefined;
  });

  /** The YAML of one connection, with the test CA as its `ca` when `trusted`. */
  function yamlOf(options: ConnectionYaml & { trusted: boolean }): string {
    const { trusted, ...connection } = options;
    return `${connectionYaml(connection)}${trusted ? `\n    ca: ${JSON.stringify(certs.ca)}` : ''}`;
  }
  function configOf(options: ConnectionYaml & { trusted: boolean }): TwinlinkConfig {
    return parseConfigText(`${engineYaml()}connections:${yamlOf(options)}\n`, { source: 'test.yaml', env: {} });
  }
  async function started(config: TwinlinkConfig): Promise<TwinlinkEngine> {
    engine = createEngine({ config });
    await engine.start();
    return engine;
  }
  const stateOf = (id: string): string => engine?.status(id).state ?? 'none';

  it('authenticates with the right ca (token endpoint over TLS too) and publishes', async () => {
    tokens = await startTokenServer({ tls: { key: certs.key, cert: certs.cert } });
    const running = await started(configOf({ id: 'secure', uri: hook.url, tokenEndpoint: tokens.tokenEndpoint, trusted: true }));
    await until(() => stateOf('secure') === 'authenticated', 'authenticated');
    running.dispatch(counterModified('org.acme:lamp', 1));
    const [request] = await within(hook.waitForRequests(1), 'the event');
    expect(request?.headers.authorization).to.match(/^Bearer /);
    expect(valuesOf(hook.requests)).to.deep.equal([1]);
  });

  it('stays in backoff with the TLS reason and publishes nothing while the certificate is not trusted, then flows once the ca is added', async () => {
    // A plain-http token endpoint: the token is fine, only the target's certificate is not.
    tokens = await startTokenServer();
    const yaml = { id: 'untrusted', uri: hook.url, tokenEndpoint: tokens.tokenEndpoint };
    const running = await started(configOf({ ...yaml, trusted: false }));
    await until(() => stateOf('untrusted') === 'backoff', 'backoff');
    const status = running.status('untrusted');
    expect(status.statusDetails).to.equal(`target ${hook.url} unreachable, retrying: UNABLE_TO_VERIFY_LEAF_SIGNATURE`);
    expect(status.liveStatus).to.equal('failed');
    expect(status.token?.state).to.equal('valid');

    running.dispatch(counterModified('org.acme:lamp', 1));
    // Queued, not sent: the publisher is paused while the target is unreachable.
    await eventually(async () => valueOf(await scrape(running.registry), 'twinlink_queue_size', { connection: 'untrusted' }) === 1, 'the queued event');
    expect(hook.requests).to.have.length(0);

    // The fixed definition takes the queued event over: it goes out first, then the new one.
    const fixed = configOf({ ...yaml, trusted: true }).connections[0] as ConnectionConfig;
    await running.updateConnection(fixed);
    await until(() => stateOf('untrusted') === 'authenticated', 'authenticated after adding the ca');
    running.dispatch(counterModified('org.acme:lamp', 2));
    await within(hook.waitForRequests(2), 'the queued event and the new one');
    expect(valuesOf(hook.requests)).to.deep.equal([1, 2]);
    expect(running.status('untrusted').statusDetails).to.equal('publishing with a valid access token');
    await eventually(async () => (await outboundCount(running.registry, 'untrusted', 'POST:/events', 'published')) === 2, 'both published');
    expect(await outboundCount(running.registry, 'untrusted', 'POST:/events', 'dispatched')).to.equal(2);
    expect(await outboundCount(running.registry, 'untrusted', 'POST:/events', 'dropped') ?? 0).to.equal(0);
  });

  it('does not probe a plain http target: it authenticates as soon as the token is valid', async () => {
    tokens = await startTokenServer();
    const plain = await startWebhookServer();
    try {
      const running = await started(configOf({ id: 'plain', uri: plain.url, tokenEndpoint: tokens.tokenEndpoint, trusted: false }));
      await until(() => stateOf('plain') === 'authenticated', 'authenticated');
      running.dispatch(counterModified('org.acme:lamp', 1));
      await within(plain.waitForRequests(1), 'the event');
    } finally {
      await engine?.stop({ drainTimeout: 50 });
      engine = undefined;
      await plain.close();
    }
  });
});
