import { expect } from 'chai';
import { parseConfigText } from '../../src/config/load.ts';
import { ErrorCode } from '../../src/errors.ts';
import { configError, issueAt, positionOf } from './config-test-helpers.ts';

/** A valid config with one connection; `patch` replaces lines of the connection by key. */
function configWith(overrides: Record<string, string> = {}, extra = ''): string {
  const lines: Record<string, string> = {
    id: '    id: conn-1',
    connectionType: '    connectionType: http-push',
    uri: '    uri: https://hooks.example.org:443',
    sources: '',
    targets: [
      '    targets:',
      '      - address: "POST:/events"',
      '        topics: ["_/_/things/twin/events"]',
      '        authorizationContext: ["integration:ditto"]',
    ].join('\n'),
    specificConfig: '',
    mappingDefinitions: '',
    credentials: [
      '    credentials:',
      '      type: oauth-client-credentials',
      '      tokenEndpoint: https://idp.example.org/token',
      '      clientId: my-client-id',
      '      clientSecret: my-client-secret',
      '      requestedScopes: my-scope',
    ].join('\n'),
    ...overrides,
  };
  const body = Object.values(lines).filter((l) => l !== '').join('\n');
  return `${extra}connections:\n  -\n${body}\n`;
}

const parse = (text: string) => parseConfigText(text, { env: {}, source: 'twinlink.yaml' });

interface Case {
  rule: string;
  overrides: Record<string, string>;
  extra?: string;
  path: string;
  message: RegExp;
  /** Text whose first character the issue must point at (nth occurrence). */
  at: string;
  nth?: number;
}

const target = (lines: string[]) => ['    targets:', ...lines].join('\n');
const creds = (lines: string[]) => ['    credentials:', '      type: oauth-client-credentials', ...lines].join('\n');
const goodCreds = ['      clientId: my-client-id', '      clientSecret: my-client-secret'];

const cases: Case[] = [
  {
    rule: 'connectionType must be http-push',
    overrides: { connectionType: '    connectionType: mqtt' },
    path: 'connections[0].connectionType',
    message: /expected connectionType "http-push".*\(found "mqtt"\)/,
    at: 'mqtt',
  },
  {
    rule: 'uri must be http or https',
    overrides: { uri: '    uri: tcp://broker:1883' },
    path: 'connections[0].uri',
    message: /must use http or https \(found scheme "tcp"\)/,
    at: 'tcp://',
  },
  {
    rule: 'uri must be a URL',
    overrides: { uri: '    uri: not a url' },
    path: 'connections[0].uri',
    message: /not a valid URL/,
    at: 'not a url',
  },
  {
    rule: 'sources must be empty',
    overrides: { sources: '    sources: [{ addresses: [a] }]' },
    path: 'connections[0].sources',
    message: /has no sources \(expected \[\]\)/,
    at: '[{ addresses',
  },
  {
    rule: 'target address must be VERB:/path',
    overrides: { targets: target(['      - address: "FOO:/x"', '        topics: ["_/_/things/twin/events"]', '        authorizationContext: [a]']) },
    path: 'connections[0].targets[0].address',
    message: /^Target address has invalid format\. Expect '<VERB>:\/<path>'.*\(found "FOO:\/x"\)$/,
    at: '"FOO:/x"',
  },
  {
    rule: 'target address path must start with /',
    overrides: { targets: target(['      - address: "POST:events"', '        topics: ["_/_/things/twin/events"]', '        authorizationContext: [a]']) },
    path: 'connections[0].targets[0].address',
    message: /Target address has invalid format/,
    at: '"POST:events"',
  },
  {
    rule: 'topics must be Ditto topics',
    overrides: { targets: target(['      - address: "POST:/x"', '        topics: ["_/_/things/twin/event"]', '        authorizationContext: [a]']) },
    path: 'connections[0].targets[0].topics[0]',
    message: /unknown topic "_\/_\/things\/twin\/event"/,
    at: '"_/_/things/twin/event"',
  },
  {
    rule: 'topic parameters are limited to namespaces, filter, extraFields',
    overrides: { targets: target(['      - address: "POST:/x"', '        topics: ["_/_/things/twin/events?namespace=a"]', '        authorizationContext: [a]']) },
    path: 'connections[0].targets[0].topics[0]',
    message: /unknown topic parameter "namespace" \(expected namespaces, filter, extraFields\)/,
    at: '"_/_/things',
  },
  {
    rule: 'a topic parameter needs a value',
    overrides: { targets: target(['      - address: "POST:/x"', '        topics: ["_/_/things/live/messages?filter="]', '        authorizationContext: [a]']) },
    path: 'connections[0].targets[0].topics[0]',
    message: /topic parameter "filter" needs a value/,
    at: '"_/_/things',
  },
  {
    rule: 'an RQL filter must parse, and the error gives its position in the filter',
    overrides: { targets: target(['      - address: "POST:/x"', '        topics: ["_/_/things/twin/events?filter=eq(attributes/x,"]', '        authorizationContext: [a]']) },
    path: 'connections[0].targets[0].topics[0]',
    message: /at position \d+ of filter 'eq\(attributes\/x,'/,
    at: '"_/_/things',
  },
  {
    rule: 'address placeholders must be known',
    overrides: { targets: target(['      - address: "POST:/things/{{ thing:nope }}"', '        topics: ["_/_/things/twin/events"]', '        authorizationContext: [a]']) },
    path: 'connections[0].targets[0].address',
    message: /unknown placeholder 'thing:nope'.*at position/,
    at: '"POST:/things/',
  },
  {
    rule: 'headerMapping values may use known placeholders and fn: functions only',
    overrides: {
      targets: target([
        '      - address: "POST:/x"',
        '        topics: ["_/_/things/twin/events"]',
        '        authorizationContext: [a]',
        '        headerMapping:',
        '          x-thing: "{{ thing:id | fn:shout }}"',
      ]),
    },
    path: 'connections[0].targets[0].headerMapping.x-thing',
    message: /fn:shout/,
    at: '"{{ thing:id',
  },
  {
    rule: 'issuedAcknowledgementLabel placeholders must be known',
    overrides: {
      targets: target([
        '      - address: "POST:/x"',
        '        topics: ["_/_/things/twin/events"]',
        '        authorizationContext: [a]',
        '        issuedAcknowledgementLabel: "{{connection:id}}:{{ thing:colour }}"',
      ]),
    },
    path: 'connections[0].targets[0].issuedAcknowledgementLabel',
    message: /unknown placeholder 'thing:colour'/,
    at: '"{{connection:id}}',
  },
  {
    rule: 'authorizationContext must not be empty',
    overrides: { targets: target(['      - address: "POST:/x"', '        topics: ["_/_/things/twin/events"]', '        authorizationContext: []']) },
    path: 'connections[0].targets[0].authorizationContext',
    message: /at least one subject/,
    at: '[]',
  },
  {
    rule: 'issuedAcknowledgementLabel must be prefixed with the connection id',
    overrides: {
      targets: target(['      - address: "POST:/x"', '        topics: ["_/_/things/twin/events"]', '        authorizationContext: [a]', '        issuedAcknowledgementLabel: other:pushed']),
    },
    path: 'connections[0].targets[0].issuedAcknowledgementLabel',
    message: /start with the connection id \("conn-1:"\) or "\{\{connection:id\}\}:".*\(found "other:pushed"\)/,
    at: 'other:pushed',
  },
  {
    rule: 'payloadMapping names must be defined',
    overrides: {
      targets: target(['      - address: "POST:/x"', '        topics: ["_/_/things/twin/events"]', '        authorizationContext: [a]', '        payloadMapping: [Ditto, js]']),
      mappingDefinitions: '    mappingDefinitions: { status: { mappingEngine: ConnectionStatus } }',
    },
    path: 'connections[0].targets[0].payloadMapping[1]',
    message: /payload mapping "js" is not defined \(expected one of Ditto, Normalized, status/,
    at: 'js]',
  },
  {
    rule: 'parallelism must be at least 1 (also as a string)',
    overrides: { specificConfig: '    specificConfig: { parallelism: "0" }' },
    path: 'connections[0].specificConfig.parallelism',
    message: /expected an integer ≥ 1 \(found "0"\)/,
    at: '"0"',
  },
  {
    rule: 'idleTimeout must be within 0..60s',
    overrides: { specificConfig: '    specificConfig: { idleTimeout: 61s }' },
    path: 'connections[0].specificConfig.idleTimeout',
    message: /between 0s and 60s \(found "61s"\)/,
    at: '61s',
  },
  {
    rule: 'idleTimeout must be a duration',
    overrides: { specificConfig: '    specificConfig: { idleTimeout: soon }' },
    path: 'connections[0].specificConfig.idleTimeout',
    message: /expected a duration such as 250ms/,
    at: 'soon',
  },
  {
    rule: 'omitRequestBody lists HTTP verbs',
    overrides: { specificConfig: '    specificConfig: { omitRequestBody: "GET,FETCH" }' },
    path: 'connections[0].specificConfig.omitRequestBody',
    message: /unknown HTTP verb "FETCH"/,
    at: '"GET,FETCH"',
  },
  {
    rule: 'specificConfig keys are known',
    overrides: { specificConfig: '    specificConfig: { paralellism: 2 }' },
    path: 'connections[0].specificConfig.paralellism',
    message: /unknown key "paralellism" \(expected one of parallelism, idleTimeout, omitRequestBody\)/,
    at: 'paralellism',
  },
  {
    rule: 'credentials type must be oauth-client-credentials',
    overrides: { credentials: '    credentials: { type: plain, clientId: a, clientSecret: b, tokenEndpoint: "https://idp/t" }' },
    path: 'connections[0].credentials.type',
    message: /expected credentials type "oauth-client-credentials"/,
    at: 'plain',
  },
  {
    rule: 'tokenEndpoint must be https while enforceHttps is on',
    overrides: { credentials: creds(['      tokenEndpoint: http://idp.example.org/token', ...goodCreds]) },
    path: 'connections[0].credentials.tokenEndpoint',
    message: /must use https.*unsafe.*engine\.oauth2\.enforceHttps: false/,
    at: 'http://idp',
  },
  {
    rule: 'tokenEndpoint must be a URL',
    overrides: { credentials: creds(['      tokenEndpoint: idp/token', ...goodCreds]) },
    path: 'connections[0].credentials.tokenEndpoint',
    message: /tokenEndpoint is not a valid URL/,
    at: 'idp/token',
  },
  {
    rule: 'clientId must not be empty',
    overrides: { credentials: creds(['      tokenEndpoint: https://idp/t', '      clientId: ""', '      clientSecret: s']) },
    path: 'connections[0].credentials.clientId',
    message: /non-empty clientId/,
    at: '""',
  },
  {
    rule: 'requestedScopes must follow RFC 6749 §3.3',
    overrides: { credentials: creds(['      tokenEndpoint: https://idp/t', ...goodCreds, '      requestedScopes: "a  b"']) },
    path: 'connections[0].credentials.requestedScopes',
    message: /RFC 6749 §3\.3.*\(found "a {2}b"\)/,
    at: '"a  b"',
  },
  {
    rule: 'clientAuthenticationMethod is post or basic',
    overrides: { credentials: creds(['      tokenEndpoint: https://idp/t', ...goodCreds, '      clientAuthenticationMethod: private_key_jwt']) },
    path: 'connections[0].credentials.clientAuthenticationMethod',
    message: /client_secret_post or client_secret_basic/,
    at: 'private_key_jwt',
  },
  {
    rule: 'unknown connection keys are rejected at the key',
    overrides: { uri: '    uri: https://h\n    urii: https://h' },
    path: 'connections[0].urii',
    message: /unknown key "urii" \(expected one of id, name, connectionType/,
    at: 'urii',
  },
  {
    rule: 'a missing required key points at the parent',
    overrides: { uri: '' },
    path: 'connections[0].uri',
    message: /is missing \(expected uri as an http\(s\) URL\)/,
    at: 'id: conn-1',
  },
  {
    rule: 'connection ids are well-formed',
    overrides: { id: '    id: "has space"' },
    path: 'connections[0].id',
    message: /expected a connection id/,
    at: '"has space"',
  },
];

describe('connection validation', () => {
  for (const c of cases) {
    it(`rejects a connection where ${c.rule}`, () => {
      const text = configWith(c.overrides, c.extra);
      const error = configError(() => parse(text), ErrorCode.CONFIG_INVALID);
      const issue = issueAt(error, c.path);
      expect(issue.message).to.match(c.message);
      expect({ line: issue.line, column: issue.column }).to.deep.equal(positionOf(text, c.at, c.nth));
      expect(error.message).to.include(`twinlink.yaml:${issue.line}:${issue.column} ${c.path}: `);
    });
  }

  it('accepts the base connection used by these cases', () => {
    expect(parse(configWith()).connections[0]?.id).to.equal('conn-1');
  });

  it('allows a plain-http token endpoint when enforceHttps is off', () => {
    const text = configWith({ credentials: creds(['      tokenEndpoint: http://127.0.0.1:9000/token', ...goodCreds]) }, 'engine: { oauth2: { enforceHttps: false } }\n');
    expect(parse(text).connections[0]?.credentials?.tokenEndpoint).to.equal('http://127.0.0.1:9000/token');
  });

  it('accepts ack labels prefixed with the id or with {{connection:id}}', () => {
    for (const label of ['conn-1:pushed', '"{{connection:id}}:pushed"', '"{{ connection:id }}:done"']) {
      const text = configWith({
        targets: target(['      - address: "POST:/x"', '        topics: ["_/_/things/twin/events"]', '        authorizationContext: [a]', `        issuedAcknowledgementLabel: ${label}`]),
      });
      expect(parse(text).connections[0]?.targets[0]?.issuedAcknowledgementLabel).to.match(/:(pushed|done)$/);
    }
  });

  it('accepts every Ditto topic with namespaces, filter and extraFields, and placeholders in addresses', () => {
    const topics = [
      '_/_/things/twin/events?namespaces=org.a,org.b&filter=eq(attributes/x,1)&extraFields=attributes/y',
      '_/_/things/live/events',
      '_/_/things/live/messages?filter=exists(features)',
      '_/_/things/live/commands',
      '_/_/policies/announcements?namespaces=org.a',
      '_/_/connections/announcements',
    ];
    const text = configWith({
      targets: target([
        '      - address: "PATCH:/things/{{ thing:id }}?x={{ header:y | fn:default(\'z\') }}"',
        `        topics: ${JSON.stringify(topics)}`,
        '        authorizationContext: [a]',
        '        headerMapping: { X-Anything: "{{ thing:name }}" }',
      ]),
    });
    const conn = parse(text).connections[0];
    expect(conn?.targets[0]?.topics).to.deep.equal(topics);
    expect(conn?.targets[0]?.headerMapping).to.deep.equal({ 'X-Anything': '{{ thing:name }}' });
  });

  it("normalises Ditto's string-typed specificConfig", () => {
    const text = configWith({ specificConfig: '    specificConfig: { parallelism: "4", idleTimeout: "30s", omitRequestBody: "get, DELETE" }' });
    expect(parse(text).connections[0]?.specificConfig).to.deep.equal({ parallelism: 4, idleTimeout: 30_000, omitRequestBody: ['GET', 'DELETE'] });
  });

  it('rejects duplicate connection ids at the second id', () => {
    const one = configWith();
    const text = `${one}${one.slice('connections:\n'.length)}`;
    const error = configError(() => parse(text), ErrorCode.CONFIG_INVALID);
    const issue = issueAt(error, 'connections[1].id');
    expect(issue.message).to.equal('duplicate connection id "conn-1" (already used by connections[0])');
    expect({ line: issue.line, column: issue.column }).to.deep.equal(positionOf(text, 'conn-1', 1));
  });

  it('never shows a client secret in an error', () => {
    const text = configWith({ credentials: creds(['      tokenEndpoint: https://idp/t', '      clientId: a', '      clientSecret: [hunter2-secret]']) });
    const error = configError(() => parse(text), ErrorCode.CONFIG_INVALID);
    expect(issueAt(error, 'connections[0].credentials.clientSecret').message).to.equal('expected a non-empty clientSecret');
    expect(error.message).not.to.include('hunter2');
  });

  it('masks the uri password when showing a bad uri', () => {
    const text = configWith({ uri: '    uri: "http://bob:hunter2@files example.org"' });
    const error = configError(() => parse(text), ErrorCode.CONFIG_INVALID);
    expect(issueAt(error, 'connections[0].uri').message).to.include('(found "http://bob:***@files example.org")');
    expect(error.message).not.to.include('hunter2');
  });
});
