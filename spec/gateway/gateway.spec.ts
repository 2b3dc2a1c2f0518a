import { expect } from 'chai';
import { pino } from 'pino';
import { FakeEngine } from './fake-engine.ts';
import { parseConfigText } from '../../src/config/load.ts';
import { diffConnections } from '../../src/gateway/config-diff.ts';
import { authenticate, hashPassword, parseBasicAuthorization } from '../../src/gateway/basic-auth.ts';
import { startGateway } from '../../src/gateway/gateway.ts';
import type { EngineOptions } from '../../src/engine/types.ts';

const connection = (id: string, path = '/hook'): string => `
  - id: ${id}
    connectionType: http-push
    connectionStatus: open
    uri: https://hook.example
    targets:
      - { address: "POST:${path}", topics: ["_/_/things/twin/events"], authorizationContext: ["integration:ditto"] }`;

const configText = (connections: string, password = 'ditto'): string => `
http: { host: 127.0.0.1, port: 0 }
auth:
  users: [{ username: ditto, password: ${password} }]
demo: { port: 0 }
connections:${connections}
`;

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('startGateway', () => {
  it('starts the demo server, the engine and the HTTP API, dispatches Things API events, and stops in reverse order', async () => {
    let engine: FakeEngine | undefined;
    const factory = (options: EngineOptions): FakeEngine => {
      engine = new FakeEngine(options.config?.connections);
      engine.options = options;
      return engine;
    };
    const gateway = await startGateway({ config: parseConfigText(configText(connection('a'))), logger: pino({ level: 'silent' }), engineFactory: factory, drainTimeout: 1234 });
    try {
      expect(gateway.address).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(gateway.demoUrl).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(engine!.options!.extraFields).to.equal(gateway.store.extraFields);
      const health = await fetch(`${gateway.address}/health`);
      expect([health.status, await health.json()]).to.deep.equal([200, { status: 'UP' }]);
      const created = await fetch(`${gateway.address}/api/2/things/org.eclipse.ditto:t`, {
        method: 'PUT', headers: { authorization: basic('ditto', 'ditto'), 'content-type': 'application/json' }, body: '{}',
      });
      expect(created.status).to.equal(201);
      expect(engine!.dispatched).to.have.length(1);
      expect(engine!.dispatched[0]).to.include({ type: 'thing.event', action: 'created', thingId: 'org.eclipse.ditto:t' });
      // The demo webhook is up until the engine has drained.
      expect((await fetch(`${gateway.demoUrl}/x`, { method: 'POST' })).status).to.equal(200);
    } finally {
      await gateway.stop();
    }
    expect(engine!.calls).to.deep.equal(['start', 'stop:1234']);
    const demoGone = await fetch(`${gateway.demoUrl}/x`, { method: 'POST' }).then(() => 'up', () => 'down');
    expect(demoGone).to.equal('down');
    await gateway.stop();
    expect(engine!.calls).to.deep.equal(['start', 'stop:1234']);
  });

  it('reloads by diff: updates changed connections, removes dropped ones, adds new ones, and applies new users at once', async () => {
    let engine: FakeEngine | undefined;
    const gateway = await startGateway({
      config: parseConfigText(configText(connection('keep') + connection('change') + connection('drop'))),
      logger: pino({ level: 'silent' }),
      engineFactory: (options) => (engine = new FakeEngine(options.config?.connections)),
    });
    try {
      const report = await gateway.reload(parseConfigText(configText(connection('keep') + connection('change', '/other') + connection('new'), 'changed')));
      expect(report).to.deep.include({ added: ['new'], updated: ['change'], removed: ['drop'], failed: {} });
      expect(engine!.calls).to.deep.equal(['start', 'remove:drop', 'update:change', 'add:new']);
      const oldPassword = await fetch(`${gateway.address}/api/2/things`, { headers: { authorization: basic('ditto', 'ditto') } });
      const newPassword = await fetch(`${gateway.address}/api/2/things`, { headers: { authorization: basic('ditto', 'changed') } });
      expect([oldPassword.status, newPassword.status]).to.deep.equal([401, 200]);
    } finally {
      await gateway.stop();
    }
  });

  it('closes the demo server again when the engine fails to start', async () => {
    let demoUrl = '';
    const failing = (): FakeEngine => {
      const engine = new FakeEngine();
      engine.start = () => Promise.reject(new Error('boom'));
      return engine;
    };
    const config = parseConfigText(configText(' []'));
    await startGateway({ config, logger: pino({ level: 'info' }, { write: (l: string) => { const m = /"url":"([^"]+)"/.exec(l); if (m?.[1]) demoUrl = m[1]; } }), engineFactory: failing })
      .then(() => expect.fail('should not start'), (error: Error) => expect(error.message).to.equal('boom'));
    expect(demoUrl).to.match(/^http:/);
    expect(await fetch(`${demoUrl}/x`, { method: 'POST' }).then(() => 'up', () => 'down')).to.equal('down');
  });
});

describe('diffConnections', () => {
  it('finds nothing to do for equal configs', () => {
    const config = parseConfigText(configText(connection('a')));
    expect(diffConnections(config.connections, parseConfigText(configText(connection('a'))).connections)).to.deep.equal({ added: [], updated: [], removed: [] });
  });
});

describe('basic auth', () => {
  it('parses Basic headers and rejects other schemes', () => {
    expect(parseBasicAuthorization(basic('u', 'p:w'))).to.deep.equal({ username: 'u', password: 'p:w' });
    expect(parseBasicAuthorization('Bearer abc')).to.equal(undefined);
    expect(parseBasicAuthorization(undefined)).to.equal(undefined);
  });

  it('authenticates plain and scrypt-hashed passwords', async () => {
    const accounts = [{ username: 'plain', password: 'one' }, { username: 'hashed', passwordHash: await hashPassword('two') }];
    expect((await authenticate(accounts, basic('plain', 'one')))?.username).to.equal('plain');
    expect((await authenticate(accounts, basic('hashed', 'two')))?.username).to.equal('hashed');
    expect(await authenticate(accounts, basic('hashed', 'one'))).to.equal(undefined);
    expect(await authenticate(accounts, basic('ghost', 'one'))).to.equal(undefined);
  });
});
