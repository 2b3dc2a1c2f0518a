import { mkdtempSync, readFileSync, writeFileSync, mkdirSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { loadConfig, parseConfigText, parseConnection, parseConnectionText } from '../../src/config/load.ts';
import { defaultEngineSettings } from '../../src/config/schema.ts';
import { ConfigError, ErrorCode } from '../../src/errors.ts';
import { configError, configErrorAsync, issueAt, positionOf } from './config-test-helpers.ts';

const parse = (text: string, env: Record<string, string> = {}) => parseConfigText(text, { env, source: 'twinlink.yaml' });

function expectDeepFrozen(value: unknown, path = 'config'): void {
  if (typeof value !== 'object' || value === null) return;
  expect(Object.isFrozen(value), `${path} is frozen`).to.equal(true);
  for (const [k, v] of Object.entries(value)) expectDeepFrozen(v, `${path}.${k}`);
}

const SEED_YAML = 'config/examples/seed-oauth2.yaml';
const SEED_JSON = 'config/examples/seed-oauth2.json';

describe('loadConfig', () => {
  it('fills every default for an empty file', () => {
    const config = parse('');
    expect(config.http).to.deep.equal({ host: '127.0.0.1', port: 8080 });
    expect(config.auth).to.deep.equal({ users: [], devops: { username: 'devops', password: 'foobar' } });
    expect(config.things).to.deep.equal({ defaultNamespace: 'org.eclipse.ditto' });
    expect(config.engine).to.deep.equal(defaultEngineSettings());
    expect(config.connections).to.deep.equal([]);
    expect(config).not.to.have.property('demo');
    expect(config).not.to.have.property('connectionsDir');
  });

  it('has the documented engine defaults', () => {
    expect(defaultEngineSettings()).to.deep.equal({
      oauth2: {
        enforceHttps: true,
        maxClockSkew: 60_000,
        requestTimeout: 10_000,
        defaultTokenLifetime: 3_600_000,
        tokenWaitTimeout: 30_000,
        unauthorizedStatuses: [401],
        maxResponseBytes: 65_536,
        backoff: { initialDelay: 1000, maxDelay: 300_000 },
        misconfiguredRetryDelay: 3_600_000,
      },
      httpPush: {
        maxQueueSize: 1000,
        requestTimeout: 60_000,
        overflow: 'drop-newest',
        retry: { maxAttempts: 5, initialDelay: 500, maxDelay: 30_000, statuses: [429, 502, 503, 504] },
        circuitBreakerThreshold: 20,
        maxResponseBytes: 1_048_576,
      },
      connectionLogs: { successCapacity: 10, failureCapacity: 40 },
      allowedHosts: [],
      blockedHosts: [],
      blockedSubnets: [],
    });
  });

  it('fills the demo defaults only when a demo section is given', () => {
    expect(parse('demo: {}').demo).to.deep.equal({
      enabled: true,
      host: '127.0.0.1',
      port: 0,
      clientId: 'my-client-id',
      clientSecret: 'my-client-secret',
      tokenLifetime: 300_000,
    });
  });

  it('parses durations in ms, s, m, h and bare milliseconds', () => {
    const config = parse('engine: { oauth2: { maxClockSkew: 250ms, requestTimeout: 2s, tokenWaitTimeout: 1500, defaultTokenLifetime: 1h, backoff: { initialDelay: 1m, maxDelay: 5m } } }');
    const { maxClockSkew, requestTimeout, tokenWaitTimeout, defaultTokenLifetime, backoff } = config.engine.oauth2;
    expect([maxClockSkew, requestTimeout, tokenWaitTimeout, defaultTokenLifetime]).to.deep.equal([250, 2000, 1500, 3_600_000]);
    expect(backoff).to.deep.equal({ initialDelay: 60_000, maxDelay: 300_000 });
  });

  it('returns a deep-frozen config', () => {
    const config = parseConfigText(readFileSync(SEED_YAML, 'utf8'), { env: {} });
    expectDeepFrozen(config);
    expect(() => {
      (config.connections[0]!.targets as unknown as string[]).push('x');
    }).to.throw(TypeError);
  });

  it('loads the seed connection written as YAML and as JSON into deep-equal frozen configs', async () => {
    const fromYaml = await loadConfig(SEED_YAML, { env: {} });
    const dir = mkdtempSync(join(tmpdir(), 'twinlink-seed-'));
    mkdirSync(join(dir, 'connections'));
    copyFileSync(SEED_JSON, join(dir, 'connections', 'seed-oauth2.json'));
    const mainWithoutConnections = readFileSync(SEED_YAML, 'utf8').split('\nconnections:')[0]!;
    writeFileSync(join(dir, 'twinlink.yaml'), `${mainWithoutConnections}\nconnectionsDir: connections\n`);
    const fromJson = await loadConfig(join(dir, 'twinlink.yaml'), { env: {} });

    expectDeepFrozen(fromJson);
    expect(fromJson.connections).to.deep.equal(fromYaml.connections);
    expect({ ...fromJson, connectionsDir: undefined }).to.deep.equal({ ...fromYaml, connectionsDir: undefined });
    expect(fromJson.connectionsDir).to.equal(join(dir, 'connections'));
    expect(parseConnection(JSON.parse(readFileSync(SEED_JSON, 'utf8')), defaultEngineSettings())).to.deep.equal(fromYaml.connections[0]);
    expect(fromYaml.connections[0]?.credentials).to.deep.equal({
      type: 'oauth-client-credentials',
      tokenEndpoint: 'https://webhook.site/785e80cd-e6e6-452a-be97-a59c53edb4d9',
      clientId: 'my-client-id',
      clientSecret: 'my-client-secret',
      requestedScopes: 'my-scope',
      clientAuthenticationMethod: 'client_secret_post',
    });
  });

  it('loads a whole config file written as JSON like the same YAML', async () => {
    const yaml = parse(readFileSync('config/examples/reference.yaml', 'utf8'));
    const dir = mkdtempSync(join(tmpdir(), 'twinlink-json-'));
    const file = join(dir, 'twinlink.json');
    writeFileSync(file, JSON.stringify(yaml, null, 2));
    expect(await loadConfig(file, { env: {} })).to.deep.equal(yaml);
  });

  it('treats text that is not a file name as configuration text', async () => {
    expect((await loadConfig('http: { port: 9999 }', { env: {} })).http.port).to.equal(9999);
  });

  it('reports a missing file as ERR_CONFIG_READ', async () => {
    const error = await configErrorAsync(loadConfig('does/not/exist.yaml'), ErrorCode.CONFIG_READ);
    expect(error.message).to.match(/^invalid configuration\n {2}does\/not\/exist\.yaml cannot read the configuration file: ENOENT/);
  });

  it('loads every example config', async () => {
    for (const file of ['config/examples/seed-oauth2.yaml', 'config/examples/reference.yaml']) {
      const config = await loadConfig(file, { env: {} });
      expect(config.connections, file).to.have.length(1);
      expect(readFileSync(file, 'utf8').split('\n')[0]).to.equal('# yaml-language-server: $schema=../twinlink.schema.json');
    }
  });
});

describe('error reporting', () => {
  it('reports a YAML syntax error at the parser position', () => {
    const text = 'http:\n  host: 127.0.0.1\n  port: [8080\nthings: {}\n';
    const error = configError(() => parse(text), ErrorCode.CONFIG_SYNTAX);
    expect(error.issues).to.have.length.greaterThan(0);
    const issue = error.issues[0]!;
    expect(issue.message).to.match(/^YAML syntax error: /);
    expect(issue.line).to.equal(4);
    expect(issue.column).to.equal(1);
  });

  it('reports duplicate keys as a syntax error at the second key', () => {
    const text = 'http:\n  port: 1\n  port: 2\n';
    const error = configError(() => parse(text), ErrorCode.CONFIG_SYNTAX);
    expect(error.issues[0]).to.include({ line: 3, column: 3 });
    expect(error.issues[0]?.message).to.match(/unique/);
  });

  it('lists every problem at once, in file order, with file:line:column', () => {
    const text = [
      'http: { port: 70000 }',
      'things: { defaultNamespace: "" }',
      'engine:',
      '  httpPush: { overflow: drop-all, retry: { maxAttempts: 0 } }',
      '  oauth2: { backoff: { initialDelay: 10s, maxDelay: 1s } }',
      '  blockedSubnets: [10.0.0.0/33]',
      'mystery: 1',
    ].join('\n');
    const error = configError(() => parse(text), ErrorCode.CONFIG_INVALID);
    const expected: [string, RegExp, string][] = [
      ['http.port', /expected an integer from 0 to 65535 \(found 70000\)/, '70000'],
      ['things.defaultNamespace', /expected a namespace/, '""'],
      ['engine.httpPush.overflow', /expected overflow drop-newest or drop-oldest \(found "drop-all"\)/, 'drop-all'],
      ['engine.httpPush.retry.maxAttempts', /expected an integer ≥ 1 \(found 0\)/, '0 } }'],
      ['engine.oauth2.backoff.maxDelay', /expected maxDelay ≥ initialDelay/, '1s'],
      ['engine.blockedSubnets[0]', /CIDR/, '10.0.0.0/33'],
      ['mystery', /unknown key "mystery" \(expected one of http, auth, things, engine, connections, connectionsDir, demo\)/, 'mystery'],
    ];
    expect(error.issues.map((i) => i.path)).to.deep.equal(expected.map(([p]) => p));
    for (const [path, message, at] of expected) {
      const issue = issueAt(error, path);
      expect(issue.message).to.match(message);
      expect({ line: issue.line, column: issue.column }, path).to.deep.equal(positionOf(text, at));
    }
    expect(error.message.split('\n')[0]).to.equal('invalid configuration (7 problems)');
    expect(error.message).to.include('\n  twinlink.yaml:1:15 http.port: expected an integer from 0 to 65535 (found 70000)');
  });

  it('formats the address error like Ditto', () => {
    const text = [
      'connections:',
      '  - id: c',
      '    connectionType: http-push',
      '    uri: https://h',
      '    targets:',
      '      - { address: "FOO:/x", topics: ["_/_/things/twin/events"], authorizationContext: [a] }',
    ].join('\n');
    const error = configError(() => parse(text), ErrorCode.CONFIG_INVALID);
    expect(error.message).to.equal(
      "invalid configuration\n  twinlink.yaml:6:20 connections[0].targets[0].address: Target address has invalid format. Expect '<VERB>:/<path>' with <VERB> one of POST, PUT, PATCH, GET, DELETE (found \"FOO:/x\")",
    );
  });

  it('checks the auth section: exactly one password, unique users, hash format', () => {
    const text = [
      'auth:',
      '  users:',
      '    - { username: ann, subject: "nginx:ann" }',
      '    - { username: bob, password: x, passwordHash: "scrypt$YWJj$ZGVm" }',
      '    - { username: ann, password: y }',
      '    - { username: cid, passwordHash: "md5$abc" }',
      '  devops: { username: devops }',
    ].join('\n');
    const error = configError(() => parse(text), ErrorCode.CONFIG_INVALID);
    expect(issueAt(error, 'auth.users[0]').message).to.equal('expected exactly one of password or passwordHash (found neither)');
    expect(issueAt(error, 'auth.users[1].passwordHash').message).to.equal('expected exactly one of password or passwordHash (found both)');
    expect(issueAt(error, 'auth.users[2].username')).to.include({ message: 'duplicate username "ann"', ...positionOf(text, 'ann', 2) });
    expect(issueAt(error, 'auth.users[3].passwordHash').message).to.equal('expected passwordHash as scrypt$<salt base64>$<hash base64>');
    expect(issueAt(error, 'auth.devops').line).to.equal(7);
    expect(error.message).not.to.include('md5$abc');
    expect(error.message).not.to.include('YWJj');
  });

  it('defaults a user subject to nginx:<username> and accepts a scrypt hash', () => {
    const config = parse('auth: { users: [{ username: ann, passwordHash: "scrypt$YWJj$ZGVm" }] }');
    expect(config.auth.users).to.deep.equal([{ username: 'ann', passwordHash: 'scrypt$YWJj$ZGVm', subject: 'nginx:ann' }]);
    expect(config.auth.devops).to.deep.equal({ username: 'devops', password: 'foobar' });
  });
});

describe('environment substitution in the loader', () => {
  const text = [
    'http:',
    '  host: "${HOST}"',
    '  port: ${PORT:-8080}',
    'auth:',
    '  devops: { username: devops, password: "${DEVOPS_PASSWORD}" }',
    'things: { defaultNamespace: "$${NOT_A_VAR}" }',
  ].join('\n');

  it('substitutes set variables, defaults and escapes', () => {
    const config = parse(text, { HOST: '0.0.0.0', DEVOPS_PASSWORD: 's3cret' });
    expect(config.http).to.deep.equal({ host: '0.0.0.0', port: 8080 });
    expect(config.auth.devops.password).to.equal('s3cret');
    expect(config.things.defaultNamespace).to.equal('${NOT_A_VAR}');
    expect(parse(text, { HOST: 'h', PORT: '9090', DEVOPS_PASSWORD: 'x' }).http.port).to.equal(9090);
  });

  it('reports every unset variable with its position as ERR_CONFIG_ENV', () => {
    const error = configError(() => parse(text), ErrorCode.CONFIG_ENV);
    expect(error.issues).to.have.length(2);
    expect(issueAt(error, 'http.host')).to.deep.equal({
      path: 'http.host',
      message: 'environment variable HOST is not set (set it, or give a default: ${HOST:-value})',
      ...positionOf(text, '${HOST}'),
    });
    expect(issueAt(error, 'auth.devops.password')).to.include(positionOf(text, '${DEVOPS_PASSWORD}'));
  });

  it('reports schema problems of other fields together with unset variables', () => {
    const error = configError(() => parse(`${text}\nhttpp: 1`, { HOST: 'h' }), ErrorCode.CONFIG_ENV);
    expect(error.issues.map((i) => i.path)).to.deep.equal(['auth.devops.password', 'httpp']);
  });

  it('cannot inject YAML structure through a variable', () => {
    const config = parse('things:\n  defaultNamespace: ${NS}', { NS: 'a, evil: [1]' });
    expect(config.things.defaultNamespace).to.equal('a, evil: [1]');
  });
});

describe('connectionsDir', () => {
  const fixture = 'spec/fixtures/config/with-dir.yaml';

  it('appends one connection per *.yaml/*.yml/*.json file, in file-name order', async () => {
    const config = await loadConfig(fixture, { env: {} });
    expect(config.connections.map((c) => c.id)).to.deep.equal(['inline', 'from-yaml', 'from-json']);
    expect(config.connections[2]?.credentials?.clientSecret).to.equal('my-client-secret');
    expect(config.connectionsDir).to.equal(join(process.cwd(), 'spec/fixtures/config/connections'));
    expectDeepFrozen(config);
  });

  it('is read relative to baseDir by parseConfigText', () => {
    const config = parseConfigText(readFileSync(fixture, 'utf8'), { env: { CLIENT_SECRET: 'x' }, baseDir: 'spec/fixtures/config' });
    expect(config.connections.map((c) => c.credentials?.clientSecret)).to.deep.equal([undefined, undefined, 'x']);
  });

  it('names the offending file, and rejects ids used twice across files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'twinlink-dir-'));
    mkdirSync(join(dir, 'conns'));
    writeFileSync(join(dir, 'main.yaml'), 'connectionsDir: conns\nconnections:\n  - { id: dup, connectionType: http-push, uri: "https://h" }\n');
    const bad = 'id: dup\nconnectionType: http-push\nuri: https://h\ntargets:\n  - { address: "GET:x", topics: ["_/_/things/twin/events"], authorizationContext: [a] }\n';
    writeFileSync(join(dir, 'conns', 'bad.yml'), bad);
    writeFileSync(join(dir, 'conns', 'broken.json'), '{ "id": ');
    const error = await configErrorAsync(loadConfig(join(dir, 'main.yaml'), { env: {} }), ErrorCode.CONFIG_SYNTAX);
    const bySource = (name: string) => error.issues.filter((i) => i.source?.endsWith(name));
    expect(bySource('bad.yml').map((i) => [i.path, i.line, i.column])).to.deep.equal([
      ['id', 1, 5],
      ['targets[0].address', 5, 16],
    ]);
    expect(bySource('bad.yml')[0]?.message).to.match(/^duplicate connection id "dup" \(already defined in .*main\.yaml connections\[0\]\)$/);
    expect(bySource('broken.json')).to.have.length.greaterThan(0);
    expect(error.message).to.match(/bad\.yml:5:16 targets\[0\]\.address: Target address has invalid format/);
  });

  it('reports a missing directory at the connectionsDir key', () => {
    const text = 'things: {}\nconnectionsDir: ./nope\n';
    const error = configError(() => parseConfigText(text, { env: {}, source: 't.yaml', baseDir: tmpdir() }), ErrorCode.CONFIG_READ);
    expect(issueAt(error, 'connectionsDir')).to.include({ line: 2, column: 17 });
  });
});

describe('parseConnection', () => {
  const seed = () => JSON.parse(readFileSync(SEED_JSON, 'utf8')) as Record<string, unknown>;

  it('returns a frozen connection with defaults', () => {
    const conn = parseConnection(seed(), defaultEngineSettings());
    expectDeepFrozen(conn);
    // Ditto's default: GET and DELETE are sent without a body.
    expect(conn.specificConfig).to.deep.equal({ parallelism: 1, omitRequestBody: ['GET', 'DELETE'] });
  });

  it('takes omitRequestBody "" as: every verb sends its body (as Ditto does)', () => {
    const conn = parseConnection({ ...seed(), specificConfig: { omitRequestBody: '' } }, defaultEngineSettings());
    expect(conn.specificConfig.omitRequestBody).to.deep.equal([]);
  });

  it('reports paths without positions and never the secret', () => {
    const raw = { ...seed(), targets: [{ address: 'POST', topics: [], authorizationContext: ['a'], extra: 1 }], credentials: { type: 'oauth-client-credentials', clientSecret: 7 } };
    let error: ConfigError | undefined;
    try {
      parseConnection(raw, defaultEngineSettings(), 'PUT /connections/http_oauth2');
    } catch (e) {
      error = e as ConfigError;
    }
    expect(error).to.be.instanceOf(ConfigError);
    expect(error?.code).to.equal(ErrorCode.CONFIG_INVALID);
    expect(error?.issues.map((i) => i.path)).to.have.members([
      'targets[0].address',
      'targets[0].topics',
      'targets[0].extra',
      'credentials.tokenEndpoint',
      'credentials.clientId',
      'credentials.clientSecret',
    ]);
    expect(error?.issues.every((i) => i.line === undefined)).to.equal(true);
    expect(error?.message).to.include('PUT /connections/http_oauth2 targets[0].address: Target address has invalid format');
  });

  it('applies the engine https rule', () => {
    const raw = { ...seed(), credentials: { ...(seed().credentials as object), tokenEndpoint: 'http://idp/t' } };
    expect(() => parseConnection(raw, defaultEngineSettings())).to.throw(ConfigError, /enforceHttps: false/);
    const relaxed = { ...defaultEngineSettings(), oauth2: { ...defaultEngineSettings().oauth2, enforceHttps: false } };
    expect(parseConnection(raw, relaxed).credentials?.tokenEndpoint).to.equal('http://idp/t');
  });

  it('parses connection text with positions (parseConnectionText)', () => {
    const text = 'id: x\nconnectionType: http-push\nuri: https://h\nclientCount: 0\n';
    const error = configError(() => parseConnectionText(text, defaultEngineSettings(), { source: 'x.yaml', env: {} }), ErrorCode.CONFIG_INVALID);
    expect(issueAt(error, 'clientCount')).to.include({ line: 4, column: 14 });
  });
});
