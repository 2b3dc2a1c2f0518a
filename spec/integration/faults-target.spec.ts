import type { Socket } from 'node:net';
import { expect } from 'chai';
import { faultYaml, startEngineHarness, useFaultServers } from '../helpers/fault-harness.ts';
import { startFaultSocketServer } from '../helpers/fault-socket-server.ts';
import { tokenReply } from '../helpers/token-server.ts';

describe('fault injection: the target misbehaves', function () {
  this.timeout(15_000);
  const env = useFaultServers();
  const closers: (() => Promise<void>)[] = [];

  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
  });

  const publishFailedLog = (reason: string) => (line: Record<string, unknown>) => line['msg'] === 'publish failed' && line['reason'] === reason;

  it('fails each event after maxAttempts when the target refuses connections, and publishes again once it is back', async () => {
    await env.hook.stop();
    env.harness = await startEngineHarness(faultYaml({ uri: env.hook.url, tokenEndpoint: env.idp.tokenEndpoint, maxAttempts: 3 }));
    env.harness.dispatch(3);
    const counts = await env.harness.settled('c1', 3);
    expect(counts).to.include({ failed: 3, retried: 6 });
    expect(counts['published'] ?? 0).to.equal(0);
    await env.harness.log(publishFailedLog('ECONNREFUSED'));
    const logs = env.harness.engine.logs('c1');
    expect(JSON.stringify(logs)).to.include('ECONNREFUSED');
    expect(env.harness.engine.metrics('c1').containsFailures).to.equal(true);

    await env.hook.restart();
    env.harness.dispatch(2);
    expect(await env.harness.settled('c1', 5)).to.include({ published: 2, failed: 3 });
    expect(env.harness.engine.status('c1').state).to.equal('authenticated');
  });

  it('retries a request whose connection is reset mid-request', async () => {
    let calls = 0;
    env.hook.handle(() => ((calls += 1) === 1 ? { fault: 'reset' } : { status: 204 }));
    env.harness = await startEngineHarness(faultYaml({ uri: env.hook.url, tokenEndpoint: env.idp.tokenEndpoint, parallelism: 1 }));
    env.harness.dispatch(2);
    expect(await env.harness.settled('c1', 2)).to.include({ published: 2, retried: 1 });
    expect(env.hook.requests).to.have.length(3);
    expect(env.hook.requests[0]?.text).to.equal(env.hook.requests[1]?.text);
  });

  it('retries a 503 with Retry-After and then publishes', async () => {
    let calls = 0;
    env.hook.handle(() => ((calls += 1) <= 2 ? { status: 503, headers: { 'retry-after': calls === 1 ? '0' : new Date(0).toUTCString() } } : { status: 200 }));
    env.harness = await startEngineHarness(faultYaml({ uri: env.hook.url, tokenEndpoint: env.idp.tokenEndpoint, parallelism: 1 }));
    env.harness.dispatch(1);
    expect(await env.harness.settled('c1', 1)).to.include({ published: 1, retried: 2 });
    expect(env.hook.requests).to.have.length(3);
  });

  it('fails a non-retryable status at once, without retries', async () => {
    env.hook.handle(() => ({ status: 400, body: 'no' }));
    env.harness = await startEngineHarness(faultYaml({ uri: env.hook.url, tokenEndpoint: env.idp.tokenEndpoint }));
    env.harness.dispatch(2);
    const counts = await env.harness.settled('c1', 2);
    expect(counts).to.include({ failed: 2 });
    expect(counts['retried'] ?? 0).to.equal(0);
    await env.harness.log(publishFailedLog('status 400'));
  });

  it('refreshes a revoked token once on 401 and retries with the new one', async () => {
    env.idp.enqueue(tokenReply('token-revoked', { expires_in: 3600 }), tokenReply('token-fresh', { expires_in: 3600 }));
    env.hook.handle((request) => ({ status: request.headers.authorization === 'Bearer token-revoked' ? 401 : 200 }));
    env.harness = await startEngineHarness(faultYaml({ uri: env.hook.url, tokenEndpoint: env.idp.tokenEndpoint, parallelism: 2 }));
    env.harness.dispatch(4);
    const counts = await env.harness.settled('c1', 4);
    expect(counts).to.include({ published: 4 });
    expect(counts['failed'] ?? 0).to.equal(0);
    // Two requests may have gone out with the revoked token at once: still one refresh.
    expect(env.idp.requests).to.have.length(2);
    expect((await env.harness.tokenRequests('c1'))['success']).to.equal(2);
    expect(env.hook.requests.filter((r) => r.headers.authorization === 'Bearer token-fresh')).to.have.length(4);
  });

  it('does not loop when the target answers 401 forever: token requests stay bounded', async () => {
    let issued = 0;
    env.idp.setDefault(() => tokenReply(`token-${(issued += 1)}`, { expires_in: 3600 }));
    env.hook.handle(() => ({ status: 401 }));
    env.harness = await startEngineHarness(faultYaml({ uri: env.hook.url, tokenEndpoint: env.idp.tokenEndpoint, parallelism: 1 }));
    env.harness.dispatch(3);
    const counts = await env.harness.settled('c1', 3);
    expect(counts).to.include({ failed: 3 });
    await env.harness.log(publishFailedLog('status 401'));
    // At most one refresh and one retry per message.
    expect(env.hook.requests.length).to.be.at.most(6);
    expect(env.idp.requests.length).to.be.at.most(4);
    expect(env.harness.engine.status('c1').state).to.not.equal('failed');
  });

  it('times out a target that does not answer within idleTimeout and retries', async () => {
    let calls = 0;
    env.hook.handle(() => ((calls += 1) === 1 ? { hang: true } : { status: 200 }));
    env.harness = await startEngineHarness(faultYaml({ uri: env.hook.url, tokenEndpoint: env.idp.tokenEndpoint, parallelism: 1, idleTimeout: '150ms' }));
    env.harness.dispatch(1);
    expect(await env.harness.settled('c1', 1)).to.include({ published: 1, retried: 1 });
  });

  it('fails an event after maxAttempts timeouts, logging the reason', async () => {
    env.hook.handle(() => ({ hang: true }));
    env.harness = await startEngineHarness(faultYaml({ uri: env.hook.url, tokenEndpoint: env.idp.tokenEndpoint, parallelism: 1, idleTimeout: '50ms', maxAttempts: 2 }));
    env.harness.dispatch(1);
    expect(await env.harness.settled('c1', 1)).to.include({ failed: 1, retried: 1 });
    await env.harness.log(publishFailedLog('timeout'));
  });

  it('reads at most maxResponseBytes of a huge response body and stops the download', async () => {
    const announced = 64 * 1024 * 1024;
    const sent: number[] = [];
    const raw = await startFaultSocketServer((socket: Socket) => {
      let bytes = 0;
      const chunk = Buffer.alloc(64 * 1024, 0x7a);
      socket.write(`HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: ${announced}\r\n\r\n`);
      const pump = (): void => {
        while (bytes < announced && !socket.destroyed) {
          bytes += chunk.length;
          if (!socket.write(chunk)) return void socket.once('drain', pump);
        }
      };
      socket.once('close', () => sent.push(bytes));
      pump();
    });
    closers.push(() => raw.close());
    env.harness = await startEngineHarness(faultYaml({ uri: raw.url, tokenEndpoint: env.idp.tokenEndpoint, parallelism: 2, maxResponseBytes: 1024 }));
    env.harness.dispatch(4);
    expect(await env.harness.settled('c1', 4)).to.include({ published: 4 });
    await new Promise<void>((resolve) => {
      const check = (): void => (sent.length === 4 ? resolve() : void setImmediate(check));
      check();
    });
    // The client hung up long before the 64 MiB were sent (only socket buffers' worth went out).
    for (const bytes of sent) expect(bytes).to.be.below(announced / 4);
  });
});
