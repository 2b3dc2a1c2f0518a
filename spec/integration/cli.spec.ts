/**
 * The `twinlink` CLI as a process: `--check`, `TWINLINK_CONFIG`, live reload by SIGHUP and
 * `--watch` (a changed connection takes effect without a restart; an invalid file is rejected and
 * the running configuration keeps working), and a clear message for a busy port.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { basic, startCli } from '../helpers/cli-process.ts';
import type { CliProcess, LogLine } from '../helpers/cli-process.ts';
import { startWebhookServer } from '../helpers/webhook-server.ts';
import type { WebhookServer } from '../helpers/webhook-server.ts';

/** A gateway config with one credential-less connection to `hookUrl` (port 0 for the API). */
function configFor(hookUrl: string, extra = ''): string {
  return `
http:
  host: 127.0.0.1
  port: 0
auth:
  users:
    - username: ditto
      password: ditto
connections:
  - id: hook
    connectionType: http-push
    connectionStatus: open
    uri: "${hookUrl}"
    targets:
      - address: "POST:/events"
        topics: ["_/_/things/twin/events"]
        authorizationContext: ["nginx:ditto"]
${extra}`;
}

const INVALID = 'http:\n  port: 0\nconnections:\n  - id: hook\n    connectionType: http-push\n    uri: 42\n';

async function createThing(address: string): Promise<string> {
  const response = await fetch(`${address}/api/2/things`, {
    method: 'POST',
    headers: { authorization: basic('ditto', 'ditto'), 'content-type': 'application/json' },
    body: '{}',
  });
  expect(response.status).to.equal(201);
  return ((await response.json()) as { thingId: string }).thingId;
}

const isReload = (line: LogLine): boolean => line.msg === 'configuration reloaded';
const isRejection = (line: LogLine): boolean => line.msg === 'configuration rejected; the running configuration stays';

describe('twinlink CLI (spec/integration/cli)', function () {
  // Spawning node with tsx takes seconds on a loaded 2-core box; every wait is event-driven.
  this.timeout(120_000);

  let dir: string;
  let hookA: WebhookServer;
  let hookB: WebhookServer;
  const running: CliProcess[] = [];
  const start = (args: readonly string[], env: NodeJS.ProcessEnv = {}): CliProcess => {
    const cli = startCli(args, env);
    running.push(cli);
    return cli;
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'twinlink-cli-'));
    hookA = await startWebhookServer();
    hookB = await startWebhookServer();
  });
  afterEach(async () => {
    // Killed even when the test failed half-way.
    await Promise.all(running.splice(0).map((cli) => cli.kill()));
  });
  after(async () => {
    await hookA?.close();
    await hookB?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  describe('--check', () => {
    it('prints the number of connections and exits 0 for a valid file', async () => {
      const file = join(dir, 'ok.yaml');
      await writeFile(file, configFor(hookA.url));
      const cli = start(['--check', '--config', file]);
      expect(await cli.waitForExit()).to.deep.equal({ code: 0, signal: null });
      expect([cli.stdout(), cli.stderr()]).to.deep.equal(['config OK: 1 connection\n', '']);
    });

    it("exits 2 with every loader message (file:line:col path: message) and no stack trace", async () => {
      const file = join(dir, 'bad.yaml');
      await writeFile(file, 'http:\n  port: 0\nconnections:\n  - id: hook\n    connectionType: http-push\n    uri: 42\n    bogus: true\n');
      const cli = start(['--check', '--config', file]);
      expect((await cli.waitForExit()).code).to.equal(2);
      expect(cli.stdout()).to.equal('');
      expect(cli.stderr()).to.match(new RegExp(`${file}:6:10 connections\\[0\\]\\.uri: `));
      expect(cli.stderr()).to.include(`${file}:7:5 connections[0].bogus: unknown key "bogus"`);
      expect(cli.stderr()).to.not.include('    at ');
    });
  });

  it('runs the file named by TWINLINK_CONFIG, and --config wins over it', async () => {
    const fromEnv = join(dir, 'env.yaml');
    const fromFlag = join(dir, 'flag.yaml');
    await writeFile(fromEnv, configFor(hookA.url));
    await writeFile(fromFlag, 'connections: []\n');

    const cli = start([], { TWINLINK_CONFIG: fromEnv });
    await cli.waitForAddress();
    const listening = await cli.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('twinlink gateway listening'));
    expect(listening).to.include({ config: fromEnv, connections: 1 });

    const check = start(['--check', '--config', fromFlag], { TWINLINK_CONFIG: fromEnv });
    await check.waitForExit();
    expect(check.stdout()).to.equal('config OK: 0 connections\n');
  });

  it('reloads on SIGHUP: a changed target address applies without restart; an invalid file is rejected and the old config keeps working', async () => {
    const file = join(dir, 'hup.yaml');
    await writeFile(file, configFor(hookA.url));
    const cli = start(['--config', file]);
    const address = await cli.waitForAddress();
    const sentA = hookA.requests.length;
    const sentB = hookB.requests.length;

    const first = await createThing(address);
    expect((await hookA.waitForRequests(sentA + 1))[sentA]?.text).to.include(first);

    // The same connection id, a new target: updated in place.
    await writeFile(file, configFor(hookB.url));
    cli.child.kill('SIGHUP');
    const reloaded = await cli.waitForLog(isReload, 'the reload');
    expect(reloaded).to.deep.include({ added: [], updated: ['hook'], removed: [] });
    const second = await createThing(address);
    expect((await hookB.waitForRequests(sentB + 1))[sentB]?.text).to.include(second);

    // An invalid file: rejected with the loader's message, the running config stays.
    await writeFile(file, INVALID);
    cli.child.kill('SIGHUP');
    const rejected = await cli.waitForLog(isRejection, 'the rejection');
    expect(String(rejected.message)).to.include(`${file}:6:10 connections[0].uri:`);
    const third = await createThing(address);
    expect((await hookB.waitForRequests(sentB + 2))[sentB + 1]?.text).to.include(third);
    expect(hookA.requests).to.have.length(sentA + 1);
    expect(cli.exited).to.equal(undefined);
    expect(cli.logs.filter(isReload)).to.have.length(1);
  });

  it('reloads on --watch when the file changes, through the same path as SIGHUP', async () => {
    const file = join(dir, 'watch.yaml');
    await writeFile(file, configFor(hookA.url));
    const cli = start(['--config', file, '--watch']);
    const address = await cli.waitForAddress();
    const watching = await cli.waitForLog((l) => l.msg === 'watching the configuration for changes', 'the watcher');
    expect(watching.watched).to.deep.equal([file]);
    const sentB = hookB.requests.length;

    await writeFile(file, configFor(hookB.url));
    const reloaded = await cli.waitForLog(isReload, 'the reload after the file changed');
    expect(reloaded).to.deep.include({ updated: ['hook'] });
    expect(cli.logs.some((l) => l.msg === 'reloading configuration (file changed)')).to.equal(true);
    const thingId = await createThing(address);
    expect((await hookB.waitForRequests(sentB + 1))[sentB]?.text).to.include(thingId);

    await writeFile(file, INVALID);
    await cli.waitForLog(isRejection, 'the rejection after an invalid write');
    expect(cli.exited).to.equal(undefined);
  });

  it('exits 1 with one clear line (no stack trace) when the port is taken', async () => {
    const file = join(dir, 'busy.yaml');
    // hookA holds its port: the gateway cannot listen there.
    await writeFile(file, configFor(hookA.url).replace('port: 0', `port: ${hookA.port}`));
    const cli = start(['--config', file]);
    expect((await cli.waitForExit()).code).to.equal(1);
    expect(cli.stderr()).to.equal(`twinlink: cannot listen on 127.0.0.1:${hookA.port} (http.host/http.port, TWINLINK_PORT in the default config): the address is already in use (is another twinlink running?)\n`);
    expect(cli.stdout()).to.not.include('    at ');
  });
});
