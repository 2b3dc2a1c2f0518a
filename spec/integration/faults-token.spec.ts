import { expect } from 'chai';
import { ErrorCode } from '../../src/errors.ts';
import { faultYaml, startEngineHarness, type EngineHarness, type LogLine } from '../helpers/fault-harness.ts';
import { rawFaults, startFaultSocketServer, type FaultSocketServer, type RawHandler } from '../helpers/fault-socket-server.ts';
import { SEED_TOKEN_RESPONSE, makeJwt, startTokenServer, type TokenReply, type TokenServer } from '../helpers/token-server.ts';
import { deferred, startWebhookServer, type WebhookServer } from '../helpers/webhook-server.ts';

const SEED_JSON = JSON.stringify(SEED_TOKEN_RESPONSE);

/** A failed token request as the token actor logs it (warn "backing off" or error "refused"). */
const tokenFailureLog =
  (code: string) =>
  (line: LogLine): boolean =>
    (line['error'] as { code?: string } | undefined)?.code === code && (line['tokenState'] === 'backoff' || line['tokenState'] === 'failed');

describe('fault injection: the token endpoint misbehaves', function () {
  this.timeout(15_000);
  let hook: WebhookServer;
  let harness: EngineHarness | undefined;
  const closers: (() => Promise<void>)[] = [];

  beforeEach(async () => {
    hook = await startWebhookServer();
  });

  afterEach(async () => {
    await harness?.stop();
    harness = undefined;
    await hook.close();
    for (const close of closers.splice(0)) await close();
  });

  async function tokenServer(): Promise<TokenServer> {
    const server = await startTokenServer();
    closers.push(() => server.close());
    return server;
  }

  async function rawServer(handler: RawHandler): Promise<FaultSocketServer> {
    const server = await startFaultSocketServer(handler);
    closers.push(() => server.close());
    return server;
  }

  /** Events dispatched, the first token request fails with `code`, a later one succeeds, all events are published. */
  async function expectRecovery(tokenEndpoint: string, code: string, options: { tokenRequestTimeout?: string; events?: number } = {}): Promise<void> {
    const events = options.events ?? 4;
    harness = await startEngineHarness(faultYaml({ uri: hook.url, tokenEndpoint, ...options }));
    harness.dispatch(events);

    const failing = await harness.status('c1', (status) => status.token?.lastError?.code === code);
    expect(failing.token?.lastError?.message).to.be.a('string').and.not.include('fault-secret');
    await harness.log(tokenFailureLog(code));

    const counts = await harness.settled('c1', events);
    expect(counts).to.include({ dispatched: events, published: events });
    expect(counts['failed'] ?? 0).to.equal(0);
    const requests = await harness.tokenRequests('c1');
    expect(requests[code]).to.be.at.least(1);
    expect(requests['success']).to.equal(1);
    expect(harness.engine.status('c1')).to.deep.include({ state: 'authenticated', liveStatus: 'open' });
    expect(hook.requests.every((request) => request.headers.authorization === `Bearer ${SEED_TOKEN_RESPONSE.access_token}`)).to.equal(true);
  }

  it('keeps events queued while the token endpoint is down at start, and publishes them once it is up', async () => {
    const idp = await startWebhookServer({ handler: () => ({ status: 200, headers: { 'content-type': 'application/json' }, body: SEED_JSON }) });
    closers.push(() => idp.close());
    await idp.stop();
    harness = await startEngineHarness(faultYaml({ uri: hook.url, tokenEndpoint: `${idp.url}/token` }));
    harness.dispatch(5);
    const down = await harness.status('c1', (status) => status.state === 'backoff' && status.token?.lastError?.code === ErrorCode.TOKEN_ENDPOINT);
    expect(down.liveStatus).to.equal('failed');
    expect(down.token?.lastError?.message).to.include('ECONNREFUSED');
    await harness.log(tokenFailureLog(ErrorCode.TOKEN_ENDPOINT));
    expect((await harness.outcomes('c1'))['published'] ?? 0).to.equal(0);

    await idp.restart();
    const counts = await harness.settled('c1', 5);
    expect(counts).to.include({ dispatched: 5, published: 5 });
    const requests = await harness.tokenRequests('c1');
    expect(requests[ErrorCode.TOKEN_ENDPOINT]).to.be.at.least(1);
    expect(requests['success']).to.equal(1);
    expect(hook.requests).to.have.length(5);
  });

  it('backs off through 500s and recovers when the endpoint answers again', async () => {
    const idp = await tokenServer();
    idp.enqueue({ status: 500, body: 'boom' }, { status: 500, body: 'boom' }, { status: 503, headers: { 'retry-after': '0' }, body: '' });
    await expectRecovery(idp.tokenEndpoint, ErrorCode.TOKEN_ENDPOINT);
    expect((await harness?.tokenRequests('c1'))?.[ErrorCode.TOKEN_ENDPOINT]).to.equal(3);
    expect(idp.requests).to.have.length(4);
  });

  it('times a slow token endpoint out after engine.oauth2.requestTimeout and retries', async () => {
    const idp = await tokenServer();
    const never = deferred<TokenReply>();
    idp.enqueue(() => never.promise);
    closers.push(async () => never.resolve({ status: 500 }));
    await expectRecovery(idp.tokenEndpoint, ErrorCode.TOKEN_ENDPOINT, { tokenRequestTimeout: '150ms' });
    expect(harness?.logs.some((line) => String((line['error'] as { message?: string } | undefined)?.message).includes('timed out'))).to.equal(true);
  });

  const invalidAnswers: readonly (readonly [string, TokenReply])[] = [
    ['an HTML page', { status: 200, headers: { 'content-type': 'text/html' }, body: '<html><body>Login</body></html>' }],
    ['an empty body', { status: 200, headers: { 'content-type': 'application/json' }, body: '' }],
    ['a huge body', { status: 200, body: { ...SEED_TOKEN_RESPONSE, padding: 'x'.repeat(200_000) } }],
    ['a JWT whose exp is in the past', { status: 200, body: { access_token: makeJwt({ exp: Math.floor(Date.now() / 1000) - 3600 }), token_type: 'Bearer' } }],
    ['expires_in: 0', { status: 200, body: { access_token: 'opaque-zero', token_type: 'Bearer', expires_in: 0 } }],
  ];
  for (const [what, reply] of invalidAnswers) {
    it(`treats ${what} as an invalid token response and retries`, async () => {
      const idp = await tokenServer();
      idp.enqueue(reply);
      await expectRecovery(idp.tokenEndpoint, ErrorCode.TOKEN_RESPONSE_INVALID);
    });
  }

  it('treats truncated JSON (socket closed before content-length bytes) as a failed request and retries', async () => {
    let calls = 0;
    const raw = await rawServer((socket, request) => {
      calls += 1;
      (calls === 1 ? rawFaults.truncated(SEED_JSON) : rawFaults.reply(200, SEED_JSON))(socket, request);
    });
    await expectRecovery(`${raw.url}/token`, ErrorCode.TOKEN_ENDPOINT);
  });

  it('survives the socket closing in the middle of the token response', async () => {
    let calls = 0;
    const raw = await rawServer((socket, request) => {
      calls += 1;
      (calls === 1 ? rawFaults.closeMidResponse() : rawFaults.reply(200, SEED_JSON))(socket, request);
    });
    await expectRecovery(`${raw.url}/token`, ErrorCode.TOKEN_ENDPOINT);
  });

  it('marks the connection misconfigured on invalid_client, keeps events queued, and recovers on open', async () => {
    const idp = await tokenServer();
    idp.enqueue({ status: 401, body: { error: 'invalid_client', error_description: 'Client authentication failed' } });
    harness = await startEngineHarness(faultYaml({ uri: hook.url, tokenEndpoint: idp.tokenEndpoint }));
    harness.dispatch(3);
    const failed = await harness.status('c1', (status) => status.state === 'failed');
    expect(failed.liveStatus).to.equal('misconfigured');
    expect(failed.token?.lastError).to.deep.include({ code: ErrorCode.TOKEN_REJECTED, error: 'invalid_client', errorDescription: 'Client authentication failed' });
    const logged = await harness.log(tokenFailureLog(ErrorCode.TOKEN_REJECTED));
    expect(logged.level).to.equal(50);
    expect(await harness.tokenRequests('c1')).to.deep.include({ [ErrorCode.TOKEN_REJECTED]: 1, success: 0 });
    // Nothing is lost: the events wait in the queue (no retry storm against a refusing endpoint).
    const waiting = await harness.outcomes('c1');
    expect(waiting['dispatched']).to.equal(3);
    expect(waiting['published'] ?? 0).to.equal(0);
    expect(idp.requests).to.have.length(1);

    await harness.engine.open('c1');
    const counts = await harness.settled('c1', 3);
    expect(counts).to.include({ published: 3 });
    expect((await harness.tokenRequests('c1'))['success']).to.equal(1);
  });

  it('accounts queued events as undelivered when stopped while the credentials are refused', async () => {
    const idp = await tokenServer();
    idp.setDefault({ status: 400, body: { error: 'invalid_client' } });
    harness = await startEngineHarness(faultYaml({ uri: hook.url, tokenEndpoint: idp.tokenEndpoint }));
    harness.dispatch(4);
    await harness.status('c1', (status) => status.state === 'failed');
    const report = await harness.stop(50);
    expect(report).to.deep.equal({ delivered: 0, failed: 0, undelivered: 4 });
    expect(hook.requests).to.have.length(0);
  });
});
