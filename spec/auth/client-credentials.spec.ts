import net, { type AddressInfo } from 'node:net';
import { expect } from 'chai';
import sinon from 'sinon';
import { buildTokenRequest, requestClientCredentialsToken, type TokenRequestOptions } from '../../src/auth/client-credentials.ts';
import type { OAuthClientCredentials } from '../../src/config/types.ts';
import { ErrorCode, TokenEndpointError, TokenRejectedError, TokenResponseError, type TwinlinkError } from '../../src/errors.ts';
import { createTestCertificates } from '../helpers/tls.ts';
import { SEED_ACCESS_TOKEN, startTokenServer, type TokenServer } from '../helpers/token-server.ts';
import { seedCredentials } from './fixtures.ts';

const SECRET = 'my-client-secret';

function options(credentials: OAuthClientCredentials, overrides: Partial<TokenRequestOptions> = {}): TokenRequestOptions {
  return { credentials, tls: { validateCertificates: true }, timeout: 10_000, maxResponseBytes: 64 * 1024, ...overrides };
}

/** The request's rejection, asserted to be a secret-free coded error of `type`. */
async function failure<T extends TwinlinkError>(promise: Promise<unknown>, type: new (...args: never[]) => T): Promise<T> {
  try {
    await promise;
  } catch (error) {
    expect(error).to.be.instanceOf(type);
    const coded = error as T;
    expect(coded.message).not.to.include(SECRET);
    expect(JSON.stringify(coded)).not.to.include(SECRET);
    expect(Object.keys(coded)).not.to.include('cause');
    return coded;
  }
  throw new Error('expected the token request to fail');
}

describe('client-credentials', () => {
  describe('buildTokenRequest', () => {
    it("builds the seed's request byte for byte", () => {
      expect(buildTokenRequest(seedCredentials('https://webhook.site/785e80cd'))).to.deep.equal({
        url: 'https://webhook.site/785e80cd',
        headers: { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials&client_id=my-client-id&client_secret=my-client-secret&scope=my-scope',
      });
    });

    it('percent-encodes values, appends the audience and leaves out an empty scope', () => {
      const request = buildTokenRequest(seedCredentials('https://idp/token', {
        clientId: 'id:ü', clientSecret: 's&=+ /%', requestedScopes: '  ', audience: 'https://api/x',
      }));
      expect(request.body).to.equal('grant_type=client_credentials&client_id=id%3A%C3%BC&client_secret=s%26%3D%2B+%2F%25&audience=https%3A%2F%2Fapi%2Fx');
    });

    it('puts form-encoded id and secret into a Basic header, and not into the body, for client_secret_basic', () => {
      const request = buildTokenRequest(seedCredentials('https://idp/token', {
        clientId: 'my:id', clientSecret: 'p@ss word', requestedScopes: 'a  b', clientAuthenticationMethod: 'client_secret_basic',
      }));
      expect(request.headers['authorization']).to.equal(`Basic ${Buffer.from('my%3Aid:p%40ss+word').toString('base64')}`);
      expect(request.body).to.equal('grant_type=client_credentials&scope=a+b');
    });
  });

  describe('against a local HTTP token endpoint', () => {
    let server: TokenServer;
    beforeEach(async () => {
      server = await startTokenServer({ path: '/785e80cd-e6e6-452a-be97-a59c53edb4d9' });
    });
    afterEach(() => server.close());

    it("sends the seed's request and returns the seed's token", async () => {
      const response = await requestClientCredentialsToken(options(seedCredentials(server.tokenEndpoint)));
      expect(response).to.deep.equal({ accessToken: SEED_ACCESS_TOKEN, tokenType: 'bearer', expiresIn: 1048576, scope: 'my-scope' });
      expect(server.requests).to.have.length(1);
      const [request] = server.requests;
      expect(request?.method).to.equal('POST');
      expect(request?.path).to.equal('/785e80cd-e6e6-452a-be97-a59c53edb4d9');
      expect(request?.headers['accept']).to.equal('application/json');
      expect(request?.headers['content-type']).to.equal('application/x-www-form-urlencoded');
      expect(request?.headers['authorization']).to.equal(undefined);
      expect(request?.headers['accept-encoding']).to.equal(undefined);
      expect(request?.body).to.equal('grant_type=client_credentials&client_id=my-client-id&client_secret=my-client-secret&scope=my-scope');
      expect(request?.form).to.deep.equal({ grant_type: 'client_credentials', client_id: 'my-client-id', client_secret: SECRET, scope: 'my-scope' });
    });

    it('authenticates with HTTP Basic for client_secret_basic, with the audience in the form', async () => {
      await requestClientCredentialsToken(options(seedCredentials(server.tokenEndpoint, { clientAuthenticationMethod: 'client_secret_basic', audience: 'aud-1' })));
      const [request] = server.requests;
      expect(request?.headers['authorization']).to.equal(`Basic ${Buffer.from('my-client-id:my-client-secret').toString('base64')}`);
      expect(request?.form).to.deep.equal({ grant_type: 'client_credentials', scope: 'my-scope', audience: 'aud-1' });
    });

    it('rejects invalid_client (401) as a misconfiguration carrying the RFC 6749 §5.2 fields', async () => {
      server.enqueue({ status: 401, body: { error: 'invalid_client', error_description: 'Client authentication failed', error_uri: 'https://idp/doc' } });
      const error = await failure(requestClientCredentialsToken(options(seedCredentials(server.tokenEndpoint))), TokenRejectedError);
      expect(error.code).to.equal(ErrorCode.TOKEN_REJECTED);
      expect(error.statusCode).to.equal(401);
      expect(error.oauth).to.deep.equal({ error: 'invalid_client', errorDescription: 'Client authentication failed', errorUri: 'https://idp/doc' });
      expect(error.message).to.include('invalid_client (Client authentication failed)');
    });

    for (const oauthError of ['unauthorized_client', 'invalid_grant', 'invalid_scope', 'unsupported_grant_type']) {
      it(`rejects ${oauthError} (400) as a misconfiguration`, async () => {
        server.enqueue({ status: 400, body: { error: oauthError } });
        const error = await failure(requestClientCredentialsToken(options(seedCredentials(server.tokenEndpoint))), TokenRejectedError);
        expect(error.oauth.error).to.equal(oauthError);
      });
    }

    it('treats a 403 without an OAuth error body as a rejection', async () => {
      server.enqueue({ status: 403, body: 'Forbidden' });
      const error = await failure(requestClientCredentialsToken(options(seedCredentials(server.tokenEndpoint))), TokenRejectedError);
      expect(error.oauth.error).to.equal('http_403');
    });

    it('treats 400 temporarily_unavailable as transient', async () => {
      server.enqueue({ status: 400, body: { error: 'temporarily_unavailable' } });
      const error = await failure(requestClientCredentialsToken(options(seedCredentials(server.tokenEndpoint))), TokenEndpointError);
      expect(error.code).to.equal(ErrorCode.TOKEN_ENDPOINT);
      expect(error.oauth?.error).to.equal('temporarily_unavailable');
    });

    it('treats a 500 as transient', async () => {
      server.enqueue({ status: 500, body: 'boom' });
      const error = await failure(requestClientCredentialsToken(options(seedCredentials(server.tokenEndpoint))), TokenEndpointError);
      expect(error.statusCode).to.equal(500);
      expect(error.retryAfterMs).to.equal(undefined);
    });

    it('reads Retry-After in seconds from a 429 and as a date from a 503', async () => {
      server.enqueue({ status: 429, headers: { 'retry-after': '7' }, body: '' });
      const tooMany = await failure(requestClientCredentialsToken(options(seedCredentials(server.tokenEndpoint))), TokenEndpointError);
      expect(tooMany.retryAfterMs).to.equal(7_000);
      server.enqueue({ status: 503, headers: { 'retry-after': new Date(90_000).toUTCString() }, body: '' });
      const unavailable = await failure(requestClientCredentialsToken(options(seedCredentials(server.tokenEndpoint), { now: () => 30_000 })), TokenEndpointError);
      expect(unavailable.retryAfterMs).to.equal(60_000);
    });

    it('does not follow a redirect (it could carry the secret elsewhere)', async () => {
      server.enqueue({ status: 307, headers: { location: `${server.origin}/elsewhere` }, body: '' });
      const error = await failure(requestClientCredentialsToken(options(seedCredentials(server.tokenEndpoint))), TokenEndpointError);
      expect(error.statusCode).to.equal(307);
      expect(error.message).to.include('redirects are not followed');
      expect(server.requests).to.have.length(1);
    });

    it('treats a 404 as transient', async () => {
      server.enqueue({ status: 404, body: 'not here' });
      await failure(requestClientCredentialsToken(options(seedCredentials(server.tokenEndpoint))), TokenEndpointError);
    });

    it('rejects a truncated JSON body as an invalid response that names the endpoint', async () => {
      server.enqueue({ status: 200, headers: { 'content-type': 'application/json' }, body: '{"access_token":"abc' });
      const error = await failure(requestClientCredentialsToken(options(seedCredentials(server.tokenEndpoint))), TokenResponseError);
      expect(error.code).to.equal(ErrorCode.TOKEN_RESPONSE_INVALID);
      expect(error.message).to.include(`invalid token response from ${server.tokenEndpoint}: the body is not valid JSON`);
      expect(error.message).not.to.include('abc');
    });

    it('refuses a body larger than maxResponseBytes', async () => {
      server.enqueue({ status: 200, headers: { 'content-type': 'application/json' }, body: `{"access_token":"${'a'.repeat(200_000)}"}` });
      const error = await failure(requestClientCredentialsToken(options(seedCredentials(server.tokenEndpoint), { maxResponseBytes: 1024 })), TokenResponseError);
      expect(error.message).to.include('exceeds 1024 bytes');
    });

    it('reports a connection closed without an answer as a transient endpoint error', async () => {
      server.enqueue({ destroy: true });
      const error = await failure(requestClientCredentialsToken(options(seedCredentials(server.tokenEndpoint))), TokenEndpointError);
      expect(error.message).to.match(/failed \(ECONNRESET\)/);
      expect(error.cause).to.be.instanceOf(Error);
    });

    it('never puts the secret (echoed by the server) into the error', async () => {
      server.enqueue((request) => ({ status: 400, body: { error: 'invalid_request', error_description: `bad body ${request.body}` } }));
      const error = await failure(requestClientCredentialsToken(options(seedCredentials(server.tokenEndpoint))), TokenRejectedError);
      expect(error.message).to.include('client_secret=[redacted]');
      expect(error.oauth.errorDescription).not.to.include(SECRET);
    });

    describe('with faked time', () => {
      let clock: sinon.SinonFakeTimers;
      beforeEach(() => {
        clock = sinon.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
      });
      afterEach(() => clock.restore());

      it('times out a slow answer after requestTimeout', async () => {
        let release!: () => void;
        server.enqueue(() => new Promise((resolve) => { release = () => resolve({ status: 200, body: {} }); }));
        const pending = failure(requestClientCredentialsToken(options(seedCredentials(server.tokenEndpoint), { timeout: 5_000 })), TokenEndpointError);
        await server.waitForRequests(1);
        // got's timeout fires at 5 s and destroys the request on the next timer turn.
        await clock.tickAsync(5_001);
        const error = await pending;
        expect(error.message).to.include('timed out after 5000 ms');
        release();
      });
    });

    it('aborts when the signal fires', async () => {
      server.enqueue(() => new Promise(() => {}));
      const controller = new AbortController();
      const pending = failure(requestClientCredentialsToken(options(seedCredentials(server.tokenEndpoint), { signal: controller.signal })), TokenEndpointError);
      await server.waitForRequests(1);
      controller.abort();
      expect((await pending).message).to.include('aborted');
    });
  });

  describe('against a local HTTPS token endpoint with a generated CA', () => {
    let server: TokenServer;
    let ca: string;
    before(async () => {
      const certificates = await createTestCertificates();
      ca = certificates.ca;
      server = await startTokenServer({ tls: certificates });
    });
    after(() => server.close());

    it('trusts the connection\'s CA and sends the same request', async () => {
      const response = await requestClientCredentialsToken(options(seedCredentials(server.tokenEndpoint), { tls: { ca, validateCertificates: true } }));
      expect(response.accessToken).to.equal(SEED_ACCESS_TOKEN);
      expect(server.requests.at(-1)?.body).to.equal('grant_type=client_credentials&client_id=my-client-id&client_secret=my-client-secret&scope=my-scope');
    });

    it('refuses the endpoint\'s certificate without the CA', async () => {
      const before = server.requests.length;
      const error = await failure(requestClientCredentialsToken(options(seedCredentials(server.tokenEndpoint))), TokenEndpointError);
      expect(error.message).to.match(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|self.signed|certificate/i);
      expect(server.requests.length).to.equal(before);
    });

    it('accepts any certificate when validateCertificates is false', async () => {
      const response = await requestClientCredentialsToken(options(seedCredentials(server.tokenEndpoint, { clientAuthenticationMethod: 'client_secret_basic' }), { tls: { validateCertificates: false } }));
      expect(response.accessToken).to.equal(SEED_ACCESS_TOKEN);
    });
  });

  describe('against raw sockets (faults a well-behaved server does not produce)', () => {
    let server: net.Server;
    let endpoint: string;
    let onConnection: (socket: net.Socket) => void;
    beforeEach(async () => {
      server = net.createServer((socket) => onConnection(socket));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
    });
    afterEach(() => new Promise<void>((resolve) => server.close(() => resolve())));

    it('stops reading an endless chunked body once it passes maxResponseBytes', async () => {
      let written = 0;
      const limit = 64 * 1024 * 1024;
      const closed = new Promise<void>((resolve) => {
        onConnection = (socket) => {
          socket.once('data', () => {
            socket.write('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n');
            const chunk = `10000\r\n${'a'.repeat(0x10000)}\r\n`;
            const pump = (): void => {
              while (written < limit && !socket.destroyed) {
                written += 0x10000;
                if (!socket.write(chunk)) return void socket.once('drain', pump);
              }
            };
            pump();
          });
          socket.on('error', () => {});
          socket.on('close', () => resolve());
        };
      });
      const error = await failure(requestClientCredentialsToken(options(seedCredentials(endpoint), { maxResponseBytes: 4096 })), TokenResponseError);
      expect(error.message).to.include('exceeds 4096 bytes');
      await closed;
      expect(written).to.be.below(limit);
    });

    it('turns a TCP reset mid-response into a transient endpoint error', async () => {
      onConnection = (socket) => {
        socket.once('data', () => {
          socket.write('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"access');
          setImmediate(() => socket.resetAndDestroy());
        });
      };
      const error = await failure(requestClientCredentialsToken(options(seedCredentials(endpoint))), TokenEndpointError);
      expect(error.message).to.match(/ECONNRESET|aborted/i);
    });

    it('turns a garbage status line into a transient endpoint error', async () => {
      onConnection = (socket) => {
        socket.once('data', () => socket.end('NOT HTTP AT ALL\r\n\r\n'));
      };
      await failure(requestClientCredentialsToken(options(seedCredentials(endpoint))), TokenEndpointError);
    });
  });
});
