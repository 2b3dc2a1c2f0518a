import { expect } from 'chai';
import { generate } from 'selfsigned';
import { createGotTransport } from '../../src/connection/got-transport.ts';
import type { Transport, TransportOptions } from '../../src/connection/transport.ts';
import { ErrorCode, PublishError } from '../../src/errors.ts';
import { deferred, startWebhookServer, type WebhookServer } from '../helpers/webhook-server.ts';

const base: TransportOptions = { parallelism: 4, validateCertificates: true, maxResponseBytes: 1024 };

async function rejection(promise: Promise<unknown>): Promise<PublishError> {
  try {
    await promise;
  } catch (error) {
    expect(error).to.be.instanceOf(PublishError);
    return error as PublishError;
  }
  throw new Error('expected a rejection');
}

describe('got transport', () => {
  let hook: WebhookServer;
  let transport: Transport;

  beforeEach(async () => {
    hook = await startWebhookServer();
    transport = createGotTransport(base);
  });
  afterEach(async () => {
    transport.close();
    await hook.close();
  });

  it('sends the method, headers and body and returns status, headers and body', async () => {
    hook.handle(() => ({ status: 201, headers: { 'x-answer': '42' }, body: 'ok' }));
    const response = await transport.request({
      method: 'PUT',
      url: `${hook.url}/a/b?c=d`,
      headers: { 'content-type': 'application/vnd.eclipse.ditto+json', authorization: 'Bearer t' },
      body: '{"x":1}',
      timeout: 5000,
    });
    expect(response.statusCode).to.equal(201);
    expect(response.headers['x-answer']).to.equal('42');
    expect(response.body.toString()).to.equal('ok');
    const [seen] = hook.requests;
    expect(seen?.method).to.equal('PUT');
    expect(seen?.url).to.equal('/a/b?c=d');
    expect(seen?.headers['content-type']).to.equal('application/vnd.eclipse.ditto+json');
    expect(seen?.headers.authorization).to.equal('Bearer t');
    expect(seen?.text).to.equal('{"x":1}');
  });

  it('resolves error statuses and redirects instead of throwing or following them', async () => {
    hook.handle((req) => (req.url === '/moved' ? { status: 302, headers: { location: '/elsewhere' } } : { status: 503, body: 'busy' }));
    expect((await transport.request({ method: 'POST', url: `${hook.url}/x`, headers: {}, body: '', timeout: 5000 })).statusCode).to.equal(503);
    expect((await transport.request({ method: 'GET', url: `${hook.url}/moved`, headers: {}, timeout: 5000 })).statusCode).to.equal(302);
    expect(hook.requests.map((r) => r.url)).to.deep.equal(['/x', '/moved']);
  });

  it('sends a bodyless POST with an empty body and a GET without one', async () => {
    await transport.request({ method: 'POST', url: hook.url, headers: {}, timeout: 5000 });
    await transport.request({ method: 'GET', url: hook.url, headers: {}, timeout: 5000 });
    expect(hook.requests.map((r) => r.body.length)).to.deep.equal([0, 0]);
  });

  it('reuses one kept-alive connection for sequential requests', async () => {
    for (let i = 0; i < 5; i++) await transport.request({ method: 'POST', url: hook.url, headers: {}, body: 'x', timeout: 5000 });
    expect(new Set(hook.requests.map((r) => r.remotePort)).size).to.equal(1);
  });

  it('reads at most maxResponseBytes of a huge body', async () => {
    hook.handle(() => ({ status: 200, bodyBytes: 20 * 1024 * 1024 }));
    const response = await transport.request({ method: 'GET', url: hook.url, headers: {}, timeout: 5000 });
    expect(response.statusCode).to.equal(200);
    expect(response.body.length).to.equal(1024);
  });

  it('rejects a refused connection with ERR_PUBLISH_FAILED, reason ECONNREFUSED and a hidden cause', async () => {
    await hook.stop();
    const error = await rejection(transport.request({ method: 'POST', url: `${hook.url}/x`, headers: {}, body: '{}', timeout: 5000 }));
    expect(error.code).to.equal(ErrorCode.PUBLISH_FAILED);
    expect(error.reason).to.equal('ECONNREFUSED');
    expect(error.retryable).to.equal(true);
    expect(error.cause).to.be.instanceOf(Error);
    expect(Object.keys(error)).not.to.include('cause');
  });

  it('marks a header value the HTTP client refuses as not retryable', async () => {
    const error = await rejection(transport.request({ method: 'POST', url: hook.url, headers: { 'x-bad': 'caf\u00e9\u20ac' }, body: '{}', timeout: 5000 }));
    expect(error.reason).to.equal('ERR_INVALID_CHAR');
    expect(error.retryable).to.equal(false);
  });

  it('rejects a reset connection with reason ECONNRESET', async () => {
    hook.handle(() => ({ fault: 'reset' }));
    const error = await rejection(transport.request({ method: 'POST', url: hook.url, headers: {}, body: '{}', timeout: 5000 }));
    expect(error.reason).to.equal('ECONNRESET');
  });

  it('rejects a target that never answers with reason timeout once the request timeout passes', async () => {
    hook.handle(() => ({ hang: true }));
    const error = await rejection(transport.request({ method: 'POST', url: hook.url, headers: {}, body: '{}', timeout: 200 }));
    expect(error.reason).to.equal('timeout');
    expect(error.message).to.contain('200ms');
  });

  it('rejects with reason aborted when the signal aborts', async () => {
    hook.handle(() => ({ hang: true }));
    const controller = new AbortController();
    const pending = transport.request({ method: 'POST', url: hook.url, headers: {}, body: '{}', timeout: 5000, signal: controller.signal });
    await hook.waitForRequests(1);
    controller.abort();
    expect((await rejection(pending)).reason).to.equal('aborted');
  });

  it('keeps at most `parallelism` sockets open to the target', async () => {
    transport.close();
    transport = createGotTransport({ ...base, parallelism: 2 });
    const release = deferred<void>();
    hook.handle(async () => {
      await release.promise;
      return { status: 204 };
    });
    const pending = Array.from({ length: 6 }, (_, i) => transport.request({ method: 'POST', url: `${hook.url}/${i}`, headers: {}, body: 'x', timeout: 5000 }));
    await hook.waitForRequests(2);
    expect(hook.concurrent).to.equal(2);
    release.resolve();
    const responses = await Promise.all(pending);
    expect(responses.map((r) => r.statusCode)).to.deep.equal([204, 204, 204, 204, 204, 204]);
    expect(hook.maxConcurrent).to.equal(2);
  });

  describe('over TLS', () => {
    let tlsHook: WebhookServer;
    let cert: string;

    before(async () => {
      const pems = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
        keySize: 2048,
        algorithm: 'sha256',
        extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }],
      });
      cert = pems.cert;
      tlsHook = await startWebhookServer({ tls: { key: pems.private, cert: pems.cert } });
    });
    after(() => tlsHook.close());

    it('trusts the connection ca', async () => {
      const tls = createGotTransport({ ...base, ca: cert });
      const response = await tls.request({ method: 'POST', url: tlsHook.url, headers: {}, body: '{}', timeout: 5000 });
      tls.close();
      expect(response.statusCode).to.equal(200);
    });

    it('refuses an untrusted certificate when validating', async () => {
      const tls = createGotTransport(base);
      const error = await rejection(tls.request({ method: 'POST', url: tlsHook.url, headers: {}, body: '{}', timeout: 5000 }));
      tls.close();
      expect(error.code).to.equal(ErrorCode.PUBLISH_FAILED);
      expect(error.reason).to.match(/CERT|SELF_SIGNED/);
    });

    it('accepts any certificate with validateCertificates false', async () => {
      const tls = createGotTransport({ ...base, validateCertificates: false });
      const response = await tls.request({ method: 'POST', url: tlsHook.url, headers: {}, body: '{}', timeout: 5000 });
      tls.close();
      expect(response.statusCode).to.equal(200);
    });
  });
});
