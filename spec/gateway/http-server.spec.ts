import { expect } from 'chai';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { FakeEngine } from './fake-engine.ts';
import { parseConfigText } from '../../src/config/load.ts';
import type { ConnectionConfig, TwinlinkConfig } from '../../src/config/types.ts';
import { hashPassword } from '../../src/gateway/basic-auth.ts';
import { createHttpServer } from '../../src/gateway/http-server.ts';
import type { ThingEvent } from '../../src/protocol/signal.ts';
import { ThingStore } from '../../src/things/thing-store.ts';

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const DITTO = basic('ditto', 'ditto');
const DEVOPS = basic('devops', 'foobar');

const seedPolicy = {
  entries: {
    DEFAULT: {
      subjects: { '{{ request:subjectId }}': { type: 'the creator' }, 'integration:ditto': { type: 'the connection' } },
      resources: { 'policy:/': { grant: ['READ', 'WRITE'], revoke: [] }, 'thing:/': { grant: ['READ', 'WRITE'], revoke: [] } },
    },
  },
};

const connectionYaml = `
  - id: http_oauth2
    connectionType: http-push
    connectionStatus: open
    uri: https://webhook.example:443
    targets:
      - address: "POST:/6148b899-736f-47e6-9382-90b1d721630e"
        topics: ["_/_/things/twin/events"]
        authorizationContext: ["integration:ditto"]
    credentials:
      type: oauth-client-credentials
      tokenEndpoint: https://idp.example/token
      clientId: my-client-id
      clientSecret: my-client-secret
      requestedScopes: my-scope`;

const newConnection = {
  id: 'second', connectionType: 'http-push', connectionStatus: 'open', uri: 'https://user:pw@hook.example',
  targets: [{ address: 'POST:/x', topics: ['_/_/things/twin/events'], authorizationContext: ['integration:ditto'] }],
  credentials: { type: 'oauth-client-credentials', tokenEndpoint: 'https://idp.example/token', clientId: 'c', clientSecret: 'top-secret' },
};

describe('gateway HTTP server', () => {
  let app: FastifyInstance;
  let engine: FakeEngine;
  let config: TwinlinkConfig;
  const tested: ConnectionConfig[] = [];

  before(async () => {
    const hash = await hashPassword('hashed-pw');
    config = parseConfigText(`
auth:
  users:
    - { username: ditto, password: ditto, subject: nginx:ditto }
    - { username: other, passwordHash: "${hash}", subject: nginx:other }
  devops: { username: devops, password: foobar }
things: { defaultNamespace: org.acme }
connections:${connectionYaml}
`);
  });

  beforeEach(async () => {
    engine = new FakeEngine(config.connections);
    const store = new ThingStore({ defaultNamespace: config.things.defaultNamespace });
    tested.length = 0;
    // The real dry-run test (token + reach) is specified against local servers in connection-test.spec.ts.
    const testConnection = async (connection: ConnectionConfig) => {
      tested.push(connection);
      return { connectionId: connection.id, status: 200 as const, testResult: 'ok', checks: [] };
    };
    app = await createHttpServer({ engine, store, logger: pino({ level: 'silent' }), auth: () => config.auth, settings: () => config.engine, bodyLimit: 4096, testConnection });
  });
  afterEach(() => app.close());

  const events = (): ThingEvent[] => engine.dispatched as ThingEvent[];

  describe('Things API', () => {
    it('creates a thing with the seed policy: 201, Location, the thing as JSON, and one created event', async () => {
      const response = await app.inject({ method: 'POST', url: '/api/2/things', headers: { authorization: DITTO }, payload: { _policy: seedPolicy } });
      expect(response.statusCode).to.equal(201);
      const thing = response.json<{ thingId: string; policyId: string }>();
      expect(thing.thingId).to.match(/^org\.acme:[0-9a-f-]{36}$/);
      expect(thing).to.deep.equal({ thingId: thing.thingId, policyId: thing.thingId });
      expect(response.headers.location).to.equal(`/api/2/things/${thing.thingId}`);
      expect(events().map((e) => [e.action, e.path, e.revision, e.readGrantedSubjects])).to.deep.equal([['created', '/', 1, ['integration:ditto', 'nginx:ditto']]]);
    });

    it('answers 401 with WWW-Authenticate for missing or wrong credentials', async () => {
      for (const authorization of [undefined, basic('ditto', 'wrong'), basic('nobody', 'ditto'), 'Bearer x']) {
        const response = await app.inject({ method: 'GET', url: '/api/2/things/org.acme:x', headers: authorization ? { authorization } : {} });
        expect(response.statusCode).to.equal(401);
        expect(response.headers['www-authenticate']).to.equal('Basic realm="twinlink"');
        expect(response.json()).to.include({ status: 401, error: 'gateway:authentication.failed' });
      }
    });

    it('accepts a user configured with an scrypt passwordHash', async () => {
      const response = await app.inject({ method: 'PUT', url: '/api/2/things/org.acme:h', headers: { authorization: basic('other', 'hashed-pw') }, payload: {} });
      expect(response.statusCode).to.equal(201);
      expect(events()[0]?.readGrantedSubjects).to.deep.equal(['nginx:other']);
    });

    it('hides things the caller may not read with a Ditto 404 and refuses their changes', async () => {
      await app.inject({ method: 'PUT', url: '/api/2/things/org.acme:mine', headers: { authorization: DITTO }, payload: { attributes: { a: 1 } } });
      const other = { authorization: basic('other', 'hashed-pw') };
      const read = await app.inject({ method: 'GET', url: '/api/2/things/org.acme:mine', headers: other });
      expect(read.statusCode).to.equal(404);
      expect(read.json()).to.deep.equal({
        status: 404, error: 'things:thing.notfound',
        message: "The Thing with ID 'org.acme:mine' could not be found or requester had insufficient permissions to access it.",
        description: 'Check if the ID of your requested Thing was correct and you have sufficient permissions.',
      });
      const write = await app.inject({ method: 'PUT', url: '/api/2/things/org.acme:mine/attributes/a', headers: { ...other, 'content-type': 'application/json' }, payload: '2' });
      expect(write.statusCode).to.equal(404);
      expect(events()).to.have.length(1);
    });

    it('serves the attribute and feature routes with created/modified/deleted events', async () => {
      const h = { authorization: DITTO };
      const base = '/api/2/things/org.acme:lamp';
      const steps = [
        await app.inject({ method: 'PUT', url: base, headers: h, payload: {} }),
        await app.inject({ method: 'PUT', url: `${base}/attributes/location`, headers: { ...h, 'content-type': 'application/json' }, payload: '"kitchen"' }),
        await app.inject({ method: 'PUT', url: `${base}/attributes/location`, headers: { ...h, 'content-type': 'application/json' }, payload: '"hall"' }),
        await app.inject({ method: 'PUT', url: `${base}/features/light`, headers: h, payload: { properties: { on: false } } }),
        await app.inject({ method: 'PUT', url: `${base}/features/light/properties/on`, headers: { ...h, 'content-type': 'application/json' }, payload: 'true' }),
        await app.inject({ method: 'DELETE', url: `${base}/features/light/properties/on`, headers: h }),
        await app.inject({ method: 'PUT', url: base, headers: h, payload: { attributes: { x: 1 } } }),
        await app.inject({ method: 'DELETE', url: base, headers: h }),
      ];
      expect(steps.map((r) => r.statusCode)).to.deep.equal([201, 201, 204, 201, 204, 204, 204, 204]);
      expect(steps[1]!.headers.location).to.equal(`${base}/attributes/location`);
      expect(steps[1]!.json()).to.equal('kitchen');
      expect(events().map((e) => `${e.action} ${e.path} ${e.revision}`)).to.deep.equal([
        'created / 1', 'created /attributes/location 2', 'modified /attributes/location 3', 'created /features/light 4',
        'modified /features/light/properties/on 5', 'deleted /features/light/properties/on 6', 'modified / 7', 'deleted / 8',
      ]);
      const gone = await app.inject({ method: 'GET', url: base, headers: h });
      expect(gone.statusCode).to.equal(404);
    });

    it('reads the thing, parts of it and selected fields', async () => {
      const h = { authorization: DITTO };
      await app.inject({ method: 'PUT', url: '/api/2/things/org.acme:r', headers: h, payload: { attributes: { a: { b: 1 } }, features: { f: { properties: { p: 2 } } } } });
      expect((await app.inject({ url: '/api/2/things/org.acme:r/attributes/a/b', headers: h })).json()).to.equal(1);
      expect((await app.inject({ url: '/api/2/things/org.acme:r/features/f/properties', headers: h })).json()).to.deep.equal({ p: 2 });
      expect((await app.inject({ url: '/api/2/things/org.acme:r?fields=thingId,attributes/a,_revision', headers: h })).json())
        .to.deep.equal({ thingId: 'org.acme:r', attributes: { a: { b: 1 } }, _revision: 1 });
      const missing = await app.inject({ url: '/api/2/things/org.acme:r/attributes/zzz', headers: h });
      expect([missing.statusCode, missing.json().error]).to.deep.equal([404, 'things:attribute.notfound']);
      expect((await app.inject({ url: '/api/2/things?ids=org.acme:r,org.acme:none', headers: h })).json()).to.have.length(1);
    });

    it('merges with PATCH (application/merge-patch+json) into a merged event, and refuses other media types', async () => {
      const h = { authorization: DITTO };
      await app.inject({ method: 'PUT', url: '/api/2/things/org.acme:p', headers: h, payload: { attributes: { a: 1, b: 2 } } });
      const patch = await app.inject({
        method: 'PATCH', url: '/api/2/things/org.acme:p', headers: { ...h, 'content-type': 'application/merge-patch+json' },
        payload: JSON.stringify({ attributes: { a: null, c: 3 } }),
      });
      expect(patch.statusCode).to.equal(204);
      const merged = events()[1]!;
      expect([merged.action, merged.path, merged.value, merged.revision]).to.deep.equal(['merged', '/', { attributes: { a: null, c: 3 } }, 2]);
      expect((await app.inject({ url: '/api/2/things/org.acme:p/attributes', headers: h })).json()).to.deep.equal({ b: 2, c: 3 });
      const wrongType = await app.inject({ method: 'PATCH', url: '/api/2/things/org.acme:p', headers: h, payload: { attributes: {} } });
      expect([wrongType.statusCode, wrongType.json().error]).to.deep.equal([415, 'mediatype.unsupported']);
    });

    it('answers 400 for malformed ids and JSON, 413 for large bodies and too deep nesting', async () => {
      const h = { authorization: DITTO, 'content-type': 'application/json' };
      const badId = await app.inject({ url: '/api/2/things/not-an-id', headers: h });
      expect([badId.statusCode, badId.json().error]).to.deep.equal([400, 'things:id.invalid']);
      const badJson = await app.inject({ method: 'PUT', url: '/api/2/things/org.acme:j', headers: h, payload: '{"attributes":' });
      expect([badJson.statusCode, badJson.json().error]).to.deep.equal([400, 'json.invalid']);
      const deep = await app.inject({ method: 'PUT', url: '/api/2/things/org.acme:j', headers: h, payload: `{"attributes":${'{"a":'.repeat(100)}1${'}'.repeat(100)}}` });
      expect([deep.statusCode, deep.json().error]).to.deep.equal([400, 'json.invalid']);
      const proto = await app.inject({ method: 'PUT', url: '/api/2/things/org.acme:j', headers: h, payload: '{"attributes":{"__proto__":{"x":1}}}' });
      expect(proto.statusCode).to.equal(400);
      const large = await app.inject({ method: 'PUT', url: '/api/2/things/org.acme:j', headers: h, payload: JSON.stringify({ attributes: { a: 'x'.repeat(5000) } }) });
      expect([large.statusCode, large.json().error]).to.deep.equal([413, 'things:thing.toolarge']);
      expect(events()).to.have.length(0);
    });

    it('passes the correlation-id header into the event', async () => {
      await app.inject({ method: 'PUT', url: '/api/2/things/org.acme:c', headers: { authorization: DITTO, 'correlation-id': 'abc' }, payload: {} });
      expect(events()[0]?.headers).to.deep.equal({ 'correlation-id': 'abc' });
    });
  });

  describe('connections API', () => {
    it('requires the devops account', async () => {
      const asUser = await app.inject({ url: '/api/2/connections', headers: { authorization: DITTO } });
      expect(asUser.statusCode).to.equal(401);
      expect(asUser.headers['www-authenticate']).to.equal('Basic realm="twinlink"');
    });

    it('lists and shows connections with credentials redacted', async () => {
      const list = await app.inject({ url: '/api/2/connections', headers: { authorization: DEVOPS } });
      expect(list.statusCode).to.equal(200);
      expect(list.body).to.not.include('my-client-secret');
      expect(list.json()[0].credentials.clientSecret).to.equal('***');
      const one = await app.inject({ url: '/api/2/connections/http_oauth2', headers: { authorization: DEVOPS } });
      expect(one.json()).to.include({ id: 'http_oauth2', uri: 'https://webhook.example:443' });
      expect(one.json().credentials).to.include({ clientId: 'my-client-id', clientSecret: '***' });
      expect((await app.inject({ url: '/api/2/connections?ids-only=true', headers: { authorization: DEVOPS } })).json()).to.deep.equal(['http_oauth2']);
      const missing = await app.inject({ url: '/api/2/connections/nope', headers: { authorization: DEVOPS } });
      expect([missing.statusCode, missing.json().error]).to.deep.equal([404, 'connectivity:connection.notfound']);
    });

    it('validates and tests without creating on ?dry-run=true', async () => {
      const response = await app.inject({ method: 'POST', url: '/api/2/connections?dry-run=true', headers: { authorization: DEVOPS }, payload: newConnection });
      expect(response.statusCode).to.equal(200);
      expect(response.body).to.not.include('top-secret').and.not.include(':pw@');
      expect(response.json()).to.deep.include({ connectionId: 'second', testResult: 'ok' });
      expect(tested.map((c) => c.uri)).to.deep.equal(['https://user:pw@hook.example']);
      expect(engine.connection('second')).to.equal(undefined);
    });

    it('refuses an invalid connection with the loader\'s messages', async () => {
      const response = await app.inject({
        method: 'POST', url: '/api/2/connections', headers: { authorization: DEVOPS },
        payload: { ...newConnection, targets: [{ address: 'SEND:x', topics: ['_/_/things/twin/events'], authorizationContext: ['a:b'] }] },
      });
      expect(response.statusCode).to.equal(400);
      expect(response.json().error).to.equal('connectivity:connection.configuration.invalid');
      expect(response.json().message).to.include('targets[0].address');
      expect(response.body).to.not.include('top-secret');
    });

    it('creates, replaces and deletes connections through the engine', async () => {
      const h = { authorization: DEVOPS };
      const created = await app.inject({ method: 'POST', url: '/api/2/connections', headers: h, payload: newConnection });
      expect(created.statusCode).to.equal(201);
      expect(created.headers.location).to.equal('/api/2/connections/second');
      expect(created.json().credentials.clientSecret).to.equal('***');
      const conflict = await app.inject({ method: 'POST', url: '/api/2/connections', headers: h, payload: newConnection });
      expect(conflict.statusCode).to.equal(409);
      const replaced = await app.inject({ method: 'PUT', url: '/api/2/connections/second', headers: h, payload: { ...newConnection, connectionStatus: 'closed' } });
      expect(replaced.statusCode).to.equal(204);
      const idMismatch = await app.inject({ method: 'PUT', url: '/api/2/connections/second', headers: h, payload: { ...newConnection, id: 'other' } });
      expect(idMismatch.statusCode).to.equal(400);
      const deleted = await app.inject({ method: 'DELETE', url: '/api/2/connections/second', headers: h });
      expect(deleted.statusCode).to.equal(204);
      expect(engine.calls.filter((c) => !c.startsWith('start'))).to.deep.equal(['add:second', 'update:second', 'remove:second']);
    });

    it('runs open/close commands, serves status, and answers 501 for metrics the engine lacks', async () => {
      const h = { authorization: DEVOPS, 'content-type': 'text/plain' };
      const open = await app.inject({ method: 'POST', url: '/api/2/connections/http_oauth2/command', headers: h, payload: 'connectivity.commands:openConnection' });
      const close = await app.inject({ method: 'POST', url: '/api/2/connections/http_oauth2/command', headers: h, payload: 'connectivity.commands:closeConnection' });
      expect([open.statusCode, close.statusCode]).to.deep.equal([200, 200]);
      expect(engine.calls).to.deep.equal(['open:http_oauth2', 'close:http_oauth2']);
      const unknown = await app.inject({ method: 'POST', url: '/api/2/connections/http_oauth2/command', headers: h, payload: 'connectivity.commands:explode' });
      expect(unknown.statusCode).to.equal(400);
      const status = await app.inject({ url: '/api/2/connections/http_oauth2/status', headers: h });
      expect(status.json()).to.include({ connectionId: 'http_oauth2', state: 'authenticated' });
      const metrics = await app.inject({ url: '/api/2/connections/http_oauth2/metrics', headers: h });
      const reset = await app.inject({ method: 'POST', url: '/api/2/connections/http_oauth2/command', headers: h, payload: 'connectivity.commands:resetConnectionMetrics' });
      expect([metrics.statusCode, reset.statusCode]).to.deep.equal([501, 501]);
    });
  });

  it('serves /health and the engine registry on /metrics', async () => {
    const health = await app.inject({ url: '/health' });
    expect([health.statusCode, health.json()]).to.deep.equal([200, { status: 'UP' }]);
    const metrics = await app.inject({ url: '/metrics' });
    expect(metrics.statusCode).to.equal(200);
    expect(metrics.headers['content-type']).to.include('text/plain');
  });
});
