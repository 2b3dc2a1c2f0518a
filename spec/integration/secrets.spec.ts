import { inspect } from 'node:util';
import { expect } from 'chai';
import { requestClientCredentialsToken } from '../../src/auth/client-credentials.ts';
import { createTokenActor } from '../../src/auth/token-actor.ts';
import { parseConfigText } from '../../src/config/load.ts';
import type { OAuthClientCredentials } from '../../src/config/types.ts';
import { createGotTransport } from '../../src/connection/got-transport.ts';
import { faultYaml, startEngineHarness, type EngineHarness } from '../helpers/fault-harness.ts';
import { rawFaults, startFaultSocketServer, type FaultSocketServer } from '../helpers/fault-socket-server.ts';
import { startTokenServer, tokenReply, type TokenServer } from '../helpers/token-server.ts';
import { startWebhookServer, type WebhookServer } from '../helpers/webhook-server.ts';

const CLIENT_SECRET = 'Cl13nt-S3cret-xyzzy';
const BASIC_USER = 'hook-user';
const BASIC_PASSWORD = 'B4sic-Passw0rd-plugh';
const TOKENS = ['AccessTok-one-7f3a9c', 'AccessTok-two-41d2e8', 'AccessTok-three-c0ffee'];

/** Every form in which a secret could leak: raw, form-encoded, in a Basic header. */
const FORBIDDEN = [
  CLIENT_SECRET,
  BASIC_PASSWORD,
  ...TOKENS,
  Buffer.from(`fault-client:${CLIENT_SECRET}`).toString('base64'),
  Buffer.from(`${BASIC_USER}:${BASIC_PASSWORD}`).toString('base64'),
];

/** Collects everything an operator could ever see. */
class Capture {
  readonly texts: string[] = [];

  add(label: string, value: unknown): void {
    this.texts.push(`${label}: ${typeof value === 'string' ? value : JSON.stringify(value)}`);
  }

  /** An error as a log line, an API body and a console dump would show it. */
  addError(label: string, error: unknown): void {
    this.texts.push(`${label} message: ${error instanceof Error ? error.message : String(error)}`);
    this.texts.push(`${label} json: ${JSON.stringify(error)}`);
    this.texts.push(`${label} inspect: ${inspect(error, { depth: 6 })}`);
    this.texts.push(`${label} string: ${String(error)}`);
    const cause = (error as { cause?: unknown } | null)?.cause;
    if (cause !== undefined) this.texts.push(`${label} cause inspect: ${inspect(cause, { depth: 2 })}`);
  }

  leaks(): { secret: string; where: string }[] {
    const found: { secret: string; where: string }[] = [];
    for (const text of this.texts) {
      for (const secret of FORBIDDEN) if (text.includes(secret)) found.push({ secret, where: text.slice(0, 300) });
    }
    return found;
  }
}

async function caught(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('secret hygiene under faults', function () {
  this.timeout(20_000);
  const capture = new Capture();
  let hook: WebhookServer;
  let basicHook: WebhookServer;
  let idp: TokenServer;
  let raw: FaultSocketServer;
  let harness: EngineHarness | undefined;

  before(async () => {
    hook = await startWebhookServer();
    basicHook = await startWebhookServer();
    idp = await startTokenServer();
    raw = await startFaultSocketServer(rawFaults.reset());
  });

  after(async () => {
    await harness?.stop();
    await hook.close();
    await basicHook.close();
    await idp.close();
    await raw.close();
  });

  it('never shows the client secret, access tokens or Basic password in logs, status, metrics, documents or errors', async () => {
    const credentials = { clientSecret: CLIENT_SECRET, clientAuthenticationMethod: 'client_secret_basic' as const };
    // Token endpoint: a 500, an invalid body, then tokens; the target refuses the first token.
    idp.enqueue(
      { status: 500, body: { error: 'server_error', error_description: `echo ${CLIENT_SECRET}` } },
      { status: 200, body: `{"access_token":"${TOKENS[0]}","token_type":"Bearer","expires_in":0}` },
      tokenReply(TOKENS[1] as string, { expires_in: 3600 }),
    );
    idp.setDefault(tokenReply(TOKENS[2] as string, { expires_in: 3600 }));
    let calls = 0;
    hook.handle(() => {
      calls += 1;
      if (calls === 1) return { status: 401, body: 'revoked' };
      if (calls === 2) return { fault: 'reset' };
      if (calls === 3) return { status: 503, headers: { 'retry-after': '0' } };
      return { status: 200, body: 'ok' };
    });
    basicHook.handle(() => ({ status: 500, body: 'nope' }));
    const basicUri = basicHook.url.replace('://', `://${BASIC_USER}:${BASIC_PASSWORD}@`);
    const yaml =
      faultYaml({ uri: hook.url, tokenEndpoint: idp.tokenEndpoint, ...credentials, parallelism: 1, maxAttempts: 2 }) +
      `
  - id: basic
    connectionType: http-push
    uri: ${JSON.stringify(basicUri)}
    targets:
      - address: "PUT:/things/{{ thing:id }}"
        topics: ["_/_/things/twin/events"]
        authorizationContext: ["integration:test"]
  - id: refused
    connectionType: http-push
    uri: ${JSON.stringify(hook.url)}
    targets:
      - address: "POST:/x"
        topics: ["_/_/things/twin/events"]
        authorizationContext: ["integration:test"]
    credentials:
      type: oauth-client-credentials
      tokenEndpoint: ${JSON.stringify(`${raw.url}/token`)}
      clientId: fault-client
      clientSecret: ${CLIENT_SECRET}
`;
    harness = await startEngineHarness(yaml);
    harness.dispatch(6);
    await harness.settled('c1', 6);
    await harness.settled('basic', 6);
    await harness.status('refused', (status) => status.token?.lastError != null);
    expect(basicHook.requests[0]?.headers.authorization).to.equal(`Basic ${Buffer.from(`${BASIC_USER}:${BASIC_PASSWORD}`).toString('base64')}`);
    expect(hook.requests.some((request) => request.headers.authorization === `Bearer ${TOKENS[2]}`)).to.equal(true);

    for (const id of ['c1', 'basic', 'refused']) {
      capture.add(`${id} status`, harness.engine.status(id));
      capture.add(`${id} logs`, harness.engine.logs(id));
      capture.add(`${id} metrics`, harness.engine.metrics(id));
    }
    for (const status of harness.statuses) capture.add('status change', status);
    capture.add('prometheus', await harness.registry.metrics());

    // Errors callers can catch, raised against the same misbehaving servers.
    const config = parseConfigText(yaml, { env: {} });
    const oauth = config.connections[0]?.credentials as OAuthClientCredentials;
    const tls = { validateCertificates: true };
    idp.enqueue({ status: 401, body: { error: 'invalid_client', error_description: `bad secret ${CLIENT_SECRET}` } });
    capture.addError('rejected', await caught(requestClientCredentialsToken({ credentials: oauth, tls, timeout: 2000, maxResponseBytes: 4096 })));
    capture.addError('reset', await caught(requestClientCredentialsToken({ credentials: { ...oauth, tokenEndpoint: `${raw.url}/token` }, tls, timeout: 2000, maxResponseBytes: 4096 })));
    const hang = await startWebhookServer({ handler: () => ({ hang: true }) });
    try {
      capture.addError('timeout', await caught(requestClientCredentialsToken({ credentials: { ...oauth, tokenEndpoint: `${hang.url}/token` }, tls, timeout: 50, maxResponseBytes: 4096 })));
      const transport = createGotTransport({ parallelism: 1, validateCertificates: true, maxResponseBytes: 1024 });
      const headers = { authorization: `Bearer ${TOKENS[1]}` };
      capture.addError('publish timeout', await caught(transport.request({ method: 'POST', url: `${hang.url}/in`, headers, body: '{}', timeout: 50 })));
      capture.addError('publish reset', await caught(transport.request({ method: 'POST', url: `${raw.url}/in?access_token=${TOKENS[1]}`, headers, body: '{}', timeout: 2000 })));
      transport.close();
    } finally {
      await hang.close();
    }
    const actor = createTokenActor({ credentials: { ...oauth, tokenEndpoint: `${raw.url}/token` }, settings: { ...config.engine.oauth2, tokenWaitTimeout: 100 }, tls });
    capture.addError('token unavailable', await caught(actor.get()));
    actor.stop();

    await harness.stop(200);
    capture.add('all pino output', harness.rawLogs.join('\n'));
    expect(harness.rawLogs.length).to.be.greaterThan(10);
    expect(capture.texts.join('\n')).to.include('ECONNRESET').and.include('invalid_client');

    expect(capture.leaks()).to.deep.equal([]);
  });
});
