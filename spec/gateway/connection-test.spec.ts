import { expect } from 'chai';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { FakeEngine } from './fake-engine.ts';
import { createTestCertificates } from '../helpers/tls.ts';
import { startTokenServer } from '../helpers/token-server.ts';
import type { TokenServer } from '../helpers/token-server.ts';
import { startWebhookServer } from '../helpers/webhook-server.ts';
import type { WebhookServer } from '../helpers/webhook-server.ts';
import { parseConfigText } from '../../src/config/load.ts';
import type { ConnectionConfig, EngineSettings, TwinlinkConfig } from '../../src/config/types.ts';
import { testConnection } from '../../src/gateway/connection-test.ts';
import { createHttpServer } from '../../src/gateway/http-server.ts';
import { DittoApiError } from '../../src/things/ditto-api-error.ts';
import { ThingStore } from '../../src/things/thing-store.ts';

const SEED_BODY = 'grant_type=client_credentials&client_id=my-client-id&client_secret=my-client-secret&scope=my-scope';
const DEVOPS = `Basic ${Buffer.from('devops:foobar').toString('base64')}`;

/** A config with one connection (the seed's, pointed at `uri` and `tokenEndpoint`), through the real loader. */
function configFor(uri: string, tokenEndpoint: string | undefined, engineYaml = ''): TwinlinkConfig {
  const credentials = tokenEndpoint === undefined ? '' : `
    credentials:
      type: oauth-client-credentials
      tokenEndpoint: "${tokenEndpoint}"
      clientId: my-client-id
      clientSecret: my-client-secret
      requestedScopes: my-scope`;
  return parseConfigText(`
engine:
  oauth2:
    enforceHttps: false
${engineYaml}
connections:
  - id: http_oauth2
    connectionType: http-push
    connectionStatus: open
    uri: "${uri}"
    targets:
      - address: "POST:/6148b899-736f-47e6-9382-90b1d721630e"
        topics: ["_/_/things/twin/events"]
        authorizationContext: ["integration:ditto"]${credentials}
`, { source: 'test.yaml', env: {} });
}

function only(config: TwinlinkConfig): [ConnectionConfig, EngineSettings] {
  const [connection] = config.connections;
  if (!connection) throw new Error('no connection');
  return [connection, config.engine];
}

async function failure(promise: Promise<unknown>): Promise<DittoApiError> {
  try {
    await promise;
  } catch (error) {
    expect(error).to.be.instanceOf(DittoApiError);
    return error as DittoApiError;
  }
  throw new Error('expected the connection test to fail');
}

/** A port nothing listens on (a server bound it, then let it go). */
async function closedPort(): Promise<number> {
  const server = await startWebhookServer();
  await server.close();
  return server.port;
}

describe('testConnection (POST /api/2/connections?dry-run=true)', () => {
  let tokens: TokenServer;
  let hook: WebhookServer;
  beforeEach(async () => {
    tokens = await startTokenServer({ path: '/785e80cd-e6e6-452a-be97-a59c53edb4d9' });
    hook = await startWebhookServer();
  });
  afterEach(async () => {
    await tokens.close();
    await hook.close();
  });

  it("fetches one token with the seed's exact request, reaches the target and publishes nothing", async () => {
    const result = await testConnection(...only(configFor(hook.url, tokens.tokenEndpoint)));
    expect(result).to.deep.equal({
      connectionId: 'http_oauth2', status: 200, testResult: 'ok',
      checks: [
        { check: 'token', detail: `access token obtained from ${tokens.tokenEndpoint}` },
        { check: 'target', detail: `${hook.url} accepts connections` },
      ],
    });
    expect(tokens.requests.map((r) => [r.method, r.path, r.body])).to.deep.equal([['POST', '/785e80cd-e6e6-452a-be97-a59c53edb4d9', SEED_BODY]]);
    expect(hook.requests).to.have.length(0);
  });

  it('only reaches the target when the connection has no credentials', async () => {
    const result = await testConnection(...only(configFor(hook.url, undefined)));
    expect(result.checks.map((c) => c.check)).to.deep.equal(['target']);
    expect(tokens.requests).to.have.length(0);
  });

  it('answers 400 connectivity:connection.failed when the token endpoint rejects the credentials, without the secret', async () => {
    tokens.enqueue({ status: 401, body: { error: 'invalid_client', error_description: 'bad secret' } });
    const error = await failure(testConnection(...only(configFor(hook.url, tokens.tokenEndpoint))));
    expect(error.toBody()).to.deep.include({ status: 400, error: 'connectivity:connection.failed' });
    expect(error.message).to.include('ERR_TOKEN_REJECTED').and.include(tokens.tokenEndpoint).and.include('invalid_client');
    expect(JSON.stringify(error.toBody())).to.not.include('my-client-secret');
  });

  it('answers 502 naming the token endpoint when it does not answer', async () => {
    const endpoint = `http://127.0.0.1:${await closedPort()}/oauth2/token`;
    const error = await failure(testConnection(...only(configFor(hook.url, endpoint))));
    expect(error.toBody()).to.deep.include({ status: 502, error: 'connectivity:connection.failed' });
    expect(error.message).to.include('The token request failed').and.include(endpoint).and.include('ECONNREFUSED');
  });

  it('answers 502 naming the target when nothing listens there (after the token was obtained)', async () => {
    await hook.stop();
    const error = await failure(testConnection(...only(configFor(hook.url, tokens.tokenEndpoint))));
    expect(error.toBody()).to.deep.include({ status: 502, error: 'connectivity:connection.failed' });
    expect(error.message).to.equal(`The target ${hook.url} is not reachable: ECONNREFUSED`);
    expect(tokens.requests).to.have.length(1);
  });

  it('refuses hosts the engine host filter blocks, before any request', async () => {
    const config = configFor(hook.url, tokens.tokenEndpoint, '  blockedSubnets: ["10.0.0.0/8"]');
    const error = await failure(testConnection(...only(config)));
    expect(error.toBody()).to.deep.include({ status: 400, error: 'connectivity:connection.configuration.invalid' });
    expect(error.message).to.include('127.0.0.1');
    expect(tokens.requests).to.have.length(0);
  });

  describe('with an https target', () => {
    let secureHook: WebhookServer;
    let ca: string;
    before(async () => {
      const certificates = await createTestCertificates();
      ca = certificates.ca;
      secureHook = await startWebhookServer({ tls: certificates });
    });
    after(() => secureHook.close());

    it('completes the TLS handshake with the connection\'s ca', async () => {
      const [connection, settings] = only(configFor(secureHook.url, undefined));
      const result = await testConnection({ ...connection, ca }, settings);
      expect(result.checks).to.deep.equal([{ check: 'target', detail: `${secureHook.url} accepts TLS connections` }]);
    });

    it('answers 502 with the certificate problem when the certificate is not trusted', async () => {
      const error = await failure(testConnection(...only(configFor(secureHook.url, undefined))));
      expect(error.status).to.equal(502);
      // The server's certificate is signed by a CA the connection does not trust.
      expect(error.message).to.equal(`The target ${secureHook.url} is not reachable: UNABLE_TO_VERIFY_LEAF_SIGNATURE`);
    });
  });

  describe('through the connections API', () => {
    let app: FastifyInstance;
    let engine: FakeEngine;
    beforeEach(async () => {
      const config = configFor(hook.url, tokens.tokenEndpoint);
      engine = new FakeEngine();
      app = await createHttpServer({
        engine, store: new ThingStore({ defaultNamespace: 'org.eclipse.ditto' }), logger: pino({ level: 'silent' }),
        auth: () => config.auth, settings: () => config.engine,
      });
    });
    afterEach(() => app.close());

    const body = (tokenEndpoint: string) => ({
      id: 'probe', connectionType: 'http-push', connectionStatus: 'open', uri: hook.url,
      targets: [{ address: 'POST:/x', topics: ['_/_/things/twin/events'], authorizationContext: ['integration:ditto'] }],
      credentials: { type: 'oauth-client-credentials', tokenEndpoint, clientId: 'my-client-id', clientSecret: 'my-client-secret', requestedScopes: 'my-scope' },
    });

    it('answers 200 with the result and creates nothing', async () => {
      const response = await app.inject({ method: 'POST', url: '/api/2/connections?dry-run=true', headers: { authorization: DEVOPS }, payload: body(tokens.tokenEndpoint) });
      expect(response.statusCode).to.equal(200);
      expect(response.json()).to.deep.include({ connectionId: 'probe', status: 200, testResult: 'ok' });
      expect(tokens.requests).to.have.length(1);
      expect(engine.connection('probe')).to.equal(undefined);
    });

    it("answers the failure in Ditto's error shape", async () => {
      tokens.enqueue({ status: 400, body: { error: 'invalid_scope' } });
      const response = await app.inject({ method: 'POST', url: '/api/2/connections?dry-run=true', headers: { authorization: DEVOPS }, payload: body(tokens.tokenEndpoint) });
      expect(response.statusCode).to.equal(400);
      expect(response.json()).to.deep.include({ status: 400, error: 'connectivity:connection.failed' });
      expect(response.json().message).to.include('invalid_scope');
      expect(response.body).to.not.include('my-client-secret');
      expect(engine.connection('probe')).to.equal(undefined);
    });
  });
});
