import { expect } from 'chai';
import { faultYaml, startEngineHarness, until, useFaultServers } from '../helpers/fault-harness.ts';
import { parsePrometheus, valueOf } from '../helpers/prometheus-text.ts';
import { deferred } from '../helpers/webhook-server.ts';
import { type TokenReply } from '../helpers/token-server.ts';
import { MetricName } from '../../src/metrics/names.ts';

describe('fault injection: load', function () {
  this.timeout(20_000);
  const env = useFaultServers();


  it('holds the queue bound under a 10,000-event burst against a stalled target and counts every overflow', async () => {
    const gate = deferred<void>();
    env.hook.handle(async () => {
      await gate.promise;
      return { status: 200 };
    });
    env.harness = await startEngineHarness(faultYaml({ uri: env.hook.url, tokenEndpoint: env.idp.tokenEndpoint, parallelism: 2, maxQueueSize: 500 }));
    // The token first, so the burst meets a running publisher whose two requests hang.
    await env.harness.status('c1', (status) => status.state === 'authenticated');
    env.harness.dispatch(2);
    await env.hook.waitForRequests(2);
    const heapBefore = process.memoryUsage().heapUsed;
    env.harness.dispatch(10_000 - 2);

    const families = parsePrometheus(await env.harness.registry.metrics());
    expect(valueOf(families, MetricName.QUEUE_SIZE, { connection: 'c1' })).to.equal(500);
    expect(valueOf(families, MetricName.IN_FLIGHT_REQUESTS, { connection: 'c1' })).to.equal(2);
    const during = await env.harness.outcomes('c1');
    expect(during).to.include({ dispatched: 10_000, dropped: 10_000 - 502 });
    // One warning for the overflow episode, not one per dropped event.
    expect(env.harness.logs.filter((line) => line.msg === 'queue full: dropping events')).to.have.length(1);
    // Dropped events are not retained: far less than 10,000 envelopes' worth of heap remains.
    expect(process.memoryUsage().heapUsed - heapBefore).to.be.below(64 * 1024 * 1024);

    gate.resolve();
    const counts = await env.harness.settled('c1', 10_000, 15_000);
    expect(counts).to.include({ published: 502, dropped: 9_498 });
    expect((counts['failed'] ?? 0) + (counts['filtered'] ?? 0) + (counts['unauthorized'] ?? 0)).to.equal(0);
    expect(env.hook.maxConcurrent).to.be.at.most(2);
    const dropLog = env.harness.engine.logs('c1');
    expect(JSON.stringify(dropLog)).to.include('queue full');
  });

  it('lets 20 connections sharing one credential cause a single token request', async () => {
    const gate = deferred<TokenReply>();
    env.idp.enqueue(() => gate.promise);
    const ids = Array.from({ length: 20 }, (_, i) => `shared-${i + 1}`);
    env.harness = await startEngineHarness(faultYaml({ ids, uri: env.hook.url, tokenEndpoint: env.idp.tokenEndpoint }));
    env.harness.dispatch(2);
    await env.idp.waitForRequests(1);
    gate.resolve({ status: 200, body: { access_token: 'shared-token', token_type: 'Bearer', expires_in: 3600 } });
    for (const id of ids) expect(await env.harness.settled(id, 2)).to.include({ published: 2 });
    expect(env.idp.requests).to.have.length(1);
    expect(env.hook.requests).to.have.length(40);
    expect(new Set(env.hook.requests.map((r) => r.headers.authorization))).to.deep.equal(new Set(['Bearer shared-token']));
    await until(() => (ids.every((id) => env.harness?.engine.status(id).state === 'authenticated') ? true : undefined), 5000);
    // The one request is counted once (under the credential's first connection), not 20 times.
    const parsed = parsePrometheus(await env.harness.engine.registry.metrics());
    const counted = ids.map((connection) => valueOf(parsed, MetricName.TOKEN_REQUESTS, { connection, outcome: 'success' }) ?? 0);
    expect(counted.reduce((a, b) => a + b, 0)).to.equal(1);
    expect(counted[0]).to.equal(1);
  });
});
