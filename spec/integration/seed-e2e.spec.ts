/**
 * The seed scenario end to end through the real CLI: `node --import tsx src/gateway/main.ts
 * --config <tmp>` as a child process, its connection pointed at a local token endpoint (answering
 * the seed's exact token response) and a local webhook, a thing created over the Things API with
 * the seed's policy, and every wire detail of the two requests checked against the seed document.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { basic, startCli } from '../helpers/cli-process.ts';
import type { CliProcess } from '../helpers/cli-process.ts';
import { SEED_ACCESS_TOKEN, SEED_TOKEN_RESPONSE, startTokenServer } from '../helpers/token-server.ts';
import type { TokenServer } from '../helpers/token-server.ts';
import { deferred, startWebhookServer } from '../helpers/webhook-server.ts';
import type { RecordedRequest, WebhookServer } from '../helpers/webhook-server.ts';
import { parsePrometheus, valueOf } from '../helpers/prometheus-text.ts';
import { MetricName } from '../../src/metrics/names.ts';

const TOKEN_PATH = '/785e80cd-e6e6-452a-be97-a59c53edb4d9';
const WEBHOOK_PATH = '/6148b899-736f-47e6-9382-90b1d721630e';

/** The seed's "Generate a thing-created event" body, verbatim. */
const SEED_THING = {
  _policy: {
    entries: {
      DEFAULT: {
        subjects: {
          '{{ request:subjectId }}': { type: 'the creator' },
          'integration:ditto': { type: 'the connection' },
        },
        resources: {
          'policy:/': { grant: ['READ', 'WRITE'], revoke: [] },
          'thing:/': { grant: ['READ', 'WRITE'], revoke: [] },
        },
      },
    },
  },
};

/** The same policy without the connection's subject: the connection may not read the thing. */
const PRIVATE_THING = {
  _policy: {
    entries: {
      DEFAULT: {
        subjects: { '{{ request:subjectId }}': { type: 'the creator' } },
        resources: {
          'policy:/': { grant: ['READ', 'WRITE'], revoke: [] },
          'thing:/': { grant: ['READ', 'WRITE'], revoke: [] },
        },
      },
    },
  },
};

/** The seed's connection (YAML), pointed at the local servers. */
function seedConfig(hook: WebhookServer, tokens: TokenServer): string {
  return `
http:
  host: 127.0.0.1
  port: 0
auth:
  users:
    - username: ditto
      password: ditto
      subject: nginx:ditto
things:
  defaultNamespace: org.eclipse.ditto
engine:
  oauth2:
    enforceHttps: false   # the local token endpoint is plain http on loopback
connections:
  - id: http_oauth2
    name: http_oauth2
    connectionType: http-push
    connectionStatus: open
    uri: "${hook.url}"
    targets:
      - address: "POST:${WEBHOOK_PATH}"
        topics: ["_/_/things/twin/events"]
        authorizationContext: ["integration:ditto"]
    credentials:
      type: oauth-client-credentials
      tokenEndpoint: "${tokens.tokenEndpoint}"
      clientId: my-client-id
      clientSecret: my-client-secret
      requestedScopes: my-scope
`;
}

interface Created {
  readonly thingId: string;
  readonly policyId: string;
}

describe('the seed scenario through the CLI (spec/integration/seed-e2e)', function () {
  // Spawning node with tsx takes seconds on a loaded 2-core box; every wait below is event-driven.
  this.timeout(120_000);

  let dir: string;
  let tokens: TokenServer;
  let hook: WebhookServer;
  let cli: CliProcess | undefined;
  let address: string;

  const createThing = async (body: object): Promise<Created> => {
    const response = await fetch(`${address}/api/2/things`, {
      method: 'POST',
      headers: { authorization: basic('ditto', 'ditto'), 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(response.status, await response.clone().text()).to.equal(201);
    const thing = (await response.json()) as Created;
    expect(response.headers.get('location')).to.equal(`/api/2/things/${thing.thingId}`);
    return thing;
  };
  const envelope = (request: RecordedRequest | undefined): Record<string, unknown> => JSON.parse(request?.text ?? 'null') as Record<string, unknown>;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'twinlink-seed-'));
    tokens = await startTokenServer({ path: TOKEN_PATH });
    hook = await startWebhookServer();
    const file = join(dir, 'seed.yaml');
    await writeFile(file, seedConfig(hook, tokens));
    cli = startCli(['--config', file]);
    address = await cli.waitForAddress();
  });

  after(async () => {
    await cli?.kill();
    await tokens?.close();
    await hook?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('listens on the port the OS assigned (http.port: 0) and reports UP', async () => {
    expect(address).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(address).to.not.equal('http://127.0.0.1:0');
    const health = await fetch(`${address}/health`);
    expect([health.status, await health.json()]).to.deep.equal([200, { status: 'UP' }]);
  });

  it("creates the seed's thing and publishes its thing-created event with a bearer token from the seed's token request", async () => {
    const thing = await createThing(SEED_THING);
    expect(thing.thingId).to.match(/^org\.eclipse\.ditto:[0-9a-f-]{36}$/);
    expect(thing.policyId).to.equal(thing.thingId);
    const [publish] = await hook.waitForRequests(1);

    // The token request, as the seed shows it (plus the transport's own content-length and connection).
    expect(tokens.requests).to.have.length(1);
    const [tokenRequest] = tokens.requests;
    expect(tokenRequest?.method).to.equal('POST');
    expect(tokenRequest?.path).to.equal(TOKEN_PATH);
    expect(tokenRequest?.headers['accept']).to.equal('application/json');
    expect(tokenRequest?.headers['content-type']).to.equal('application/x-www-form-urlencoded');
    expect(tokenRequest?.body).to.equal('grant_type=client_credentials&client_id=my-client-id&client_secret=my-client-secret&scope=my-scope');
    expect(Object.keys(tokenRequest?.headers ?? {}).sort()).to.deep.equal(['accept', 'connection', 'content-length', 'content-type', 'host']);

    // The event request: the seed's headers and envelope, and nothing else (no user-agent, no accept-encoding).
    expect(publish?.method).to.equal('POST');
    expect(publish?.url).to.equal(WEBHOOK_PATH);
    expect(publish?.headers['content-type']).to.equal('application/vnd.eclipse.ditto+json');
    expect(publish?.headers['authorization']).to.equal(`Bearer ${SEED_TOKEN_RESPONSE.access_token}`);
    expect(publish?.headers['authorization']).to.equal(`Bearer ${SEED_ACCESS_TOKEN}`);
    expect(publish?.headers['host']).to.equal(new URL(hook.url).host);
    expect(Object.keys(publish?.headers ?? {}).sort()).to.deep.equal(['authorization', 'connection', 'content-length', 'content-type', 'host']);

    const [namespace, name] = thing.thingId.split(':');
    const body = envelope(publish);
    expect(body).to.include({ topic: `${namespace}/${name}/things/twin/events/created`, path: '/', revision: 1 });
    expect(body.value).to.deep.equal({ thingId: thing.thingId, policyId: thing.policyId });
    expect(body.headers).to.be.an('object');
    // Ditto's envelope fields only (the event's timestamp is optional in Ditto's protocol).
    expect(Object.keys(body).filter((key) => key !== 'timestamp').sort()).to.deep.equal(['headers', 'path', 'revision', 'topic', 'value']);
  });

  it('reuses the cached token for the next thing (one token request in total)', async () => {
    const before = hook.requests.length;
    const thing = await createThing(SEED_THING);
    const requests = await hook.waitForRequests(before + 1);
    expect(envelope(requests[before]).value).to.deep.include({ thingId: thing.thingId });
    expect(requests[before]?.headers['authorization']).to.equal(`Bearer ${SEED_ACCESS_TOKEN}`);
    expect(tokens.requests).to.have.length(1);
  });

  it("publishes nothing for a thing whose policy does not grant the connection's subject READ", async () => {
    const before = hook.requests.length;
    const hidden = await createThing(PRIVATE_THING);
    // parallelism 1 keeps the connection's order: had the hidden event been published, it would come first.
    const visible = await createThing(SEED_THING);
    const requests = await hook.waitForRequests(before + 1);
    expect(requests.slice(before).map((r) => (envelope(r).value as Created).thingId)).to.deep.equal([visible.thingId]);
    expect(hook.requests.map((r) => r.text).join('\n')).to.not.include(hidden.thingId);
    expect(tokens.requests).to.have.length(1);
  });

  it('serves Prometheus text on /metrics in which every event to the connection is accounted', async () => {
    const response = await fetch(`${address}/metrics`);
    expect(response.status).to.equal(200);
    expect(response.headers.get('content-type')).to.match(/^text\/plain; version=0\.0\.4/);
    const families = parsePrometheus(await response.text());
    const outcome = (name: string): number | undefined =>
      valueOf(families, MetricName.OUTBOUND_MESSAGES, { connection: 'http_oauth2', target: `POST:${WEBHOOK_PATH}`, outcome: name });
    // Three granted things so far (the private one never reached the connection); all published.
    expect(outcome('dispatched')).to.equal(3);
    expect(outcome('published')).to.equal(3);
    expect(valueOf(families, MetricName.TOKEN_REQUESTS, { connection: 'http_oauth2', outcome: 'success' })).to.equal(1);
    expect(valueOf(families, MetricName.CONNECTION_STATE, { connection: 'http_oauth2', state: 'authenticated' })).to.equal(1);
  });

  it('drains on SIGTERM: the event in flight is delivered, then the process exits 0', async () => {
    const reply = deferred<{ status: number }>();
    hook.handle(() => reply.promise);
    const before = hook.requests.length;
    const thing = await createThing(SEED_THING);
    await hook.waitForRequests(before + 1);

    const running = cli as CliProcess;
    running.child.kill('SIGTERM');
    await running.waitForLog((line) => line.msg === 'stopping: closing the HTTP API, draining the engine', 'the drain');
    // Still running: it waits for the webhook's answer to the event in flight.
    expect(running.exited).to.equal(undefined);
    reply.resolve({ status: 200 });

    const exit = await running.waitForExit();
    expect(exit).to.deep.equal({ code: 0, signal: null });
    const stopped = running.logs.find((line) => line.msg === 'stopped');
    // Delivered means the webhook's 200 came back: the process waited for it before exiting.
    expect(stopped).to.include({ delivered: 1, undelivered: 0 });
    expect(envelope(hook.requests[before]).value).to.deep.include({ thingId: thing.thingId });
    expect(running.stderr()).to.equal('');
  });
});

describe('the CLI with an invalid configuration', function () {
  this.timeout(120_000);
  let dir: string;
  let cli: CliProcess | undefined;
  before(async () => (dir = await mkdtemp(join(tmpdir(), 'twinlink-invalid-'))));
  after(async () => {
    await cli?.kill();
    await rm(dir, { recursive: true, force: true });
  });

  it("exits 2 with the loader's file:line:col path: message on stderr and no stack trace", async () => {
    const file = join(dir, 'bad.yaml');
    await writeFile(file, [
      'http:',
      '  port: 0',
      'connections:',
      '  - id: http_oauth2',
      '    connectionType: http-push',
      '    uri: "ftp://127.0.0.1"',
      '    targets: []',
      '',
    ].join('\n'));
    cli = startCli(['--config', file]);
    const exit = await cli.waitForExit();
    expect(exit.code).to.equal(2);
    expect(cli.stderr()).to.include(`${file}:6:10 connections[0].uri: uri must use http or https (found scheme "ftp")`);
    expect(cli.stderr()).to.not.include('    at ');
    expect(cli.stdout()).to.equal('');
  });
});
