import { createPublicKey, verify } from 'node:crypto';
import { expect } from 'chai';
import { pino } from 'pino';
import { parseConfigText } from '../../src/config/load.ts';
import type { DemoConfig } from '../../src/config/types.ts';
import { DEMO_JWKS_PATH, DEMO_TOKEN_PATH, DEMO_WEBHOOK_PATH, startDemoServer, truncateSecret } from '../../src/gateway/demo-server.ts';
import type { DemoRequest, DemoServer } from '../../src/gateway/demo-server.ts';

const demoConfig: DemoConfig = parseConfigText(`
demo:
  port: 0
  clientId: my-client-id
  clientSecret: my-client-secret
  tokenLifetime: 5m
`).demo!;

const form = (fields: Record<string, string>): string => new URLSearchParams(fields).toString();
const FORM = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
const decode = (part: string): Record<string, unknown> => JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;

describe('demo server', () => {
  let demo: DemoServer;
  let seen: DemoRequest[];
  let lines: Record<string, unknown>[];
  const now = Date.UTC(2024, 0, 1);

  beforeEach(async () => {
    seen = [];
    lines = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
    demo = await startDemoServer(demoConfig, { logger, clock: { now: () => now }, onRequest: (r) => seen.push(r) });
  });
  afterEach(() => demo.close());

  it('listens on loopback', () => {
    expect(demo.url).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('issues a signed RS256 JWT with the seed claims for valid client credentials in the body', async () => {
    const response = await fetch(`${demo.url}${DEMO_TOKEN_PATH}`, {
      method: 'POST', headers: FORM,
      body: form({ grant_type: 'client_credentials', client_id: 'my-client-id', client_secret: 'my-client-secret', scope: 'my-scope' }),
    });
    expect(response.status).to.equal(200);
    expect(response.headers.get('cache-control')).to.equal('no-store');
    const body = await response.json() as { access_token: string; expires_in: number; scope: string; token_type: string };
    expect(body).to.include({ expires_in: 300, scope: 'my-scope', token_type: 'bearer' });
    const [header, claims, signature] = body.access_token.split('.');
    expect(decode(header!)).to.include({ alg: 'RS256', typ: 'JWT' });
    const iat = now / 1000;
    const payload = decode(claims!);
    expect(Object.keys(payload)).to.deep.equal(['aud', 'client_id', 'exp', 'ext', 'iat', 'iss', 'jti', 'nbf', 'scp', 'sub']);
    expect(payload).to.deep.include({ aud: [], client_id: 'my-client-id', exp: iat + 300, ext: {}, iat, iss: `${demo.url}/`, nbf: iat, scp: ['my-scope'], sub: 'my-client-id' });
    expect(payload.jti).to.match(/^[0-9a-f-]{36}$/);
    const jwks = await (await fetch(`${demo.url}${DEMO_JWKS_PATH}`)).json() as { keys: Record<string, string>[] };
    const key = createPublicKey({ key: jwks.keys[0]!, format: 'jwk' });
    expect(verify('sha256', Buffer.from(`${header}.${claims}`), key, Buffer.from(signature!, 'base64url'))).to.equal(true);
  });

  it('accepts client credentials in a Basic header too', async () => {
    const response = await fetch(`${demo.url}${DEMO_TOKEN_PATH}`, {
      method: 'POST', headers: { ...FORM, authorization: `Basic ${Buffer.from('my-client-id:my-client-secret').toString('base64')}` },
      body: form({ grant_type: 'client_credentials' }),
    });
    expect(response.status).to.equal(200);
    expect((await response.json() as { scope: string }).scope).to.equal('');
  });

  it('answers invalid_client for a wrong secret and unsupported_grant_type for other grants', async () => {
    const wrong = await fetch(`${demo.url}${DEMO_TOKEN_PATH}`, {
      method: 'POST', headers: FORM, body: form({ grant_type: 'client_credentials', client_id: 'my-client-id', client_secret: 'nope' }),
    });
    expect(wrong.status).to.equal(401);
    expect(await wrong.json()).to.include({ error: 'invalid_client' });
    const grant = await fetch(`${demo.url}${DEMO_TOKEN_PATH}`, { method: 'POST', headers: FORM, body: form({ grant_type: 'password' }) });
    expect(grant.status).to.equal(400);
    expect(await grant.json()).to.include({ error: 'unsupported_grant_type' });
  });

  it('logs the token request with the client secret masked', async () => {
    await fetch(`${demo.url}${DEMO_TOKEN_PATH}`, {
      method: 'POST', headers: FORM, body: form({ grant_type: 'client_credentials', client_id: 'my-client-id', client_secret: 'my-client-secret', scope: 'my-scope' }),
    });
    expect(seen[0]).to.deep.include({ method: 'POST', path: DEMO_TOKEN_PATH, body: 'grant_type=client_credentials&client_id=my-client-id&client_secret=***&scope=my-scope' });
    expect(JSON.stringify(lines)).to.not.include('my-client-secret');
  });

  it('logs every webhook request with method, path, headers (authorization truncated) and JSON body, and answers 200', async () => {
    const token = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl';
    const response = await fetch(`${demo.url}${DEMO_WEBHOOK_PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/vnd.eclipse.ditto+json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ topic: 'org.acme/x/things/twin/events/created', headers: {}, path: '/', value: { policyId: 'org.acme:x' }, revision: 1 }),
    });
    expect(response.status).to.equal(200);
    expect(seen[0]).to.deep.include({ method: 'POST', path: DEMO_WEBHOOK_PATH, body: { topic: 'org.acme/x/things/twin/events/created', headers: {}, path: '/', value: { policyId: 'org.acme:x' }, revision: 1 } });
    expect(seen[0]!.headers.authorization).to.equal('Bearer eyJhbGciO…');
    const line = lines.find((l) => l.webhook !== undefined && (l.webhook as DemoRequest).path === DEMO_WEBHOOK_PATH)!;
    expect(line.level).to.equal(30);
    expect(JSON.stringify(lines)).to.not.include(token);
    const other = await fetch(`${demo.url}/anything/else`, { method: 'PUT', body: 'plain' });
    expect(other.status).to.equal(200);
    expect(seen[1]).to.deep.include({ method: 'PUT', path: '/anything/else', body: 'plain' });
  });

  it('truncates secrets to 16 characters', () => {
    expect(truncateSecret('Bearer 0123456789abcdef')).to.equal('Bearer 012345678…');
    expect(truncateSecret('short')).to.equal('short');
  });
});
