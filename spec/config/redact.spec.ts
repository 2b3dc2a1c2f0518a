import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { parseConfigText } from '../../src/config/load.ts';
import { maskUri, redactConfig, redactConnection } from '../../src/config/redact.ts';

describe('redaction', () => {
  const config = parseConfigText(readFileSync('config/examples/reference.yaml', 'utf8'), { env: { CLIENT_SECRET: 'cs-123', WEBHOOK_PASSWORD: 'wp-456' } });

  it('masks only the password of a uri userinfo', () => {
    expect(maskUri('https://bob:pw@example.org:8443/p?q=1')).to.equal('https://bob:***@example.org:8443/p?q=1');
    expect(maskUri('https://bob@example.org')).to.equal('https://bob@example.org');
    expect(maskUri('https://example.org/a:b@c')).to.equal('https://example.org/a:b@c');
  });

  it('replaces the client secret and the uri password of a connection, leaving the original intact', () => {
    const conn = config.connections[0]!;
    const safe = redactConnection(conn);
    expect(safe.credentials?.clientSecret).to.equal('***');
    expect(safe.uri).to.equal('https://user:***@hooks.example.org:443/base');
    expect({ ...safe, credentials: undefined, uri: conn.uri }).to.deep.equal({ ...conn, credentials: undefined });
    expect(conn.credentials?.clientSecret).to.equal('cs-123');
  });

  it('leaves no secret anywhere in a redacted config', () => {
    const withHash = parseConfigText('auth: { users: [{ username: a, passwordHash: "scrypt$YWJj$ZGVm" }] }\ndemo: { clientSecret: ds-789 }', { env: {} });
    const text = JSON.stringify([redactConfig(config), redactConfig(withHash)]);
    for (const secret of ['cs-123', 'wp-456', '"password":"ditto"', 'foobar', 'scrypt$', 'ds-789', 'my-client-secret']) expect(text).not.to.include(secret);
    expect(redactConfig(config).auth.users[0]).to.deep.equal({ username: 'ditto', password: '***', subject: 'nginx:ditto' });
  });
});
