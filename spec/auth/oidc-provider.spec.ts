/**
 * Against a real OAuth2 authorization server on loopback (oidc-provider, development keys): the
 * client credentials grant with both client authentication methods, JWT access tokens (through
 * resource indicators) whose signature we verify against the server's JWKS.
 */
import { createPublicKey, verify, type JsonWebKey } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import got from 'got';
import Provider from 'oidc-provider';
import { createTokenActor } from '../../src/auth/token-actor.ts';
import type { OAuthClientCredentials } from '../../src/config/types.ts';
import { ErrorCode, TokenRejectedError } from '../../src/errors.ts';
import { defaultOAuth2Settings } from './fixtures.ts';

const RESOURCE = 'urn:twinlink:target';
// Characters that RFC 6749 §2.3.1 form-encoding changes: a real server must decode them back.
const BASIC_SECRET = 'p@ss word+/:%';

describe('against a real OAuth2 server (oidc-provider)', function () {
  let server: http.Server;
  let issuer: string;
  let tokenEndpoint: string;

  before(async () => {
    server = http.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const provider = new Provider(issuer, {
      clients: [
        { client_id: 'post-client', client_secret: 'post-secret', grant_types: ['client_credentials'], redirect_uris: [], response_types: [], token_endpoint_auth_method: 'client_secret_post', scope: 'things:read things:write' },
        { client_id: 'basic-client', client_secret: BASIC_SECRET, grant_types: ['client_credentials'], redirect_uris: [], response_types: [], token_endpoint_auth_method: 'client_secret_basic', scope: 'things:read' },
      ],
      scopes: ['things:read', 'things:write'],
      features: {
        clientCredentials: { enabled: true },
        devInteractions: { enabled: false },
        resourceIndicators: {
          enabled: true,
          defaultResource: () => RESOURCE,
          getResourceServerInfo: () => ({ scope: 'things:read things:write', audience: RESOURCE, accessTokenFormat: 'jwt', accessTokenTTL: 300 }),
        },
      },
    });
    server.on('request', provider.callback());
    tokenEndpoint = `${issuer}/token`;
  });

  after(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));

  /** Verifies an RS256/ES256/EdDSA JWT against the server's JWKS and returns its claims. */
  async function verifiedClaims(jwt: string): Promise<Record<string, unknown>> {
    const [header, payload, signature] = jwt.split('.') as [string, string, string];
    const { kid, alg } = JSON.parse(Buffer.from(header, 'base64url').toString()) as { kid: string; alg: string };
    const { keys } = await got(`${issuer}/jwks`).json<{ keys: (JsonWebKey & { kid: string })[] }>();
    const jwk = keys.find((key) => key.kid === kid);
    expect(jwk, 'signing key in the JWKS').to.not.equal(undefined);
    const key = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
    const digest = alg === 'EdDSA' ? null : `sha${alg.slice(2)}`;
    const ok = verify(digest, Buffer.from(`${header}.${payload}`), alg.startsWith('ES') ? { key, dsaEncoding: 'ieee-p1363' } : key, Buffer.from(signature, 'base64url'));
    expect(ok, 'JWT signature').to.equal(true);
    return JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
  }

  function actorFor(overrides: Partial<OAuthClientCredentials>) {
    return createTokenActor({
      credentials: { type: 'oauth-client-credentials', tokenEndpoint, clientId: 'post-client', clientSecret: 'post-secret', requestedScopes: 'things:read', clientAuthenticationMethod: 'client_secret_post', ...overrides },
      settings: defaultOAuth2Settings,
      tls: { validateCertificates: true },
    });
  }

  it('obtains a verifiable token with client_secret_post, expiring at its exp claim', async () => {
    const tokens = actorFor({ requestedScopes: 'things:read things:write' });
    try {
      const token = await tokens.get();
      const claims = await verifiedClaims(token.value);
      expect(claims).to.include({ client_id: 'post-client', aud: RESOURCE, iss: issuer, scope: 'things:read things:write' });
      expect(token.expiresAt).to.equal((claims['exp'] as number) * 1000);
    } finally {
      tokens.stop();
    }
  });

  it('obtains a verifiable token with client_secret_basic and a secret that needs form-encoding', async () => {
    const tokens = actorFor({ clientId: 'basic-client', clientSecret: BASIC_SECRET, clientAuthenticationMethod: 'client_secret_basic' });
    try {
      const claims = await verifiedClaims((await tokens.get()).value);
      expect(claims).to.include({ client_id: 'basic-client', scope: 'things:read' });
    } finally {
      tokens.stop();
    }
  });

  it('lands in failed with invalid_client for a wrong secret, without showing it', async () => {
    const tokens = actorFor({ clientSecret: 'wrong-secret-value' });
    try {
      const error = await tokens.get().catch((e: unknown) => e);
      expect(error).to.be.instanceOf(TokenRejectedError).with.property('code', ErrorCode.TOKEN_REJECTED);
      expect((error as TokenRejectedError).oauth.error).to.equal('invalid_client');
      expect(tokens.state).to.equal('failed');
      expect(JSON.stringify(error) + (error as Error).message).not.to.include('wrong-secret-value');
    } finally {
      tokens.stop();
    }
  });

  it('lands in failed with invalid_scope for a scope the client may not request', async () => {
    const tokens = actorFor({ clientId: 'basic-client', clientSecret: BASIC_SECRET, clientAuthenticationMethod: 'client_secret_basic', requestedScopes: 'things:write' });
    try {
      const error = await tokens.get().catch((e: unknown) => e);
      expect(error).to.be.instanceOf(TokenRejectedError);
      expect((error as TokenRejectedError).oauth.error).to.equal('invalid_scope');
    } finally {
      tokens.stop();
    }
  });
});
