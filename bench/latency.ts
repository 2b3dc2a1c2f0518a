/**
 * Scenario 6, latency: events at a fixed moderate rate; p50/p99 of dispatch → request received by
 * the webhook, engine vs the same POSTs sent directly with got. The host stamps each event with
 * `x-bench-sent` (epoch ms, `performance.timeOrigin + performance.now()`); the engine forwards it
 * through headerMapping and the webhook (another process on the same clock) subtracts.
 */
import { gotClient, openLoop } from './baselines.ts';
import { engineYaml, epochNow, feedEngine, percentile, round, startEngine, tapTransport, twinEvent } from './fixture.ts';
import { type Scenario } from './scenario.ts';

const RATE = 500;

export const latency: Scenario = {
  name: 'latency',
  async run({ servers, quick, smoke, log }) {
    const seconds = smoke ? 0.2 : quick ? 1.5 : 5;
    await servers.configure({ tokenDelayMs: 0, tokenLifetimeS: 3600, recordTimes: false });
    // The engine's own share: dispatch → request handed to the HTTP client, in this process.
    const handover: number[] = [];
    const tap = tapTransport(undefined, (request) => {
      const sent = request.headers['x-bench-sent'];
      if (sent !== undefined) handover.push(epochNow() - Number(sent));
    });
    const engine = await startEngine(engineYaml({ webhookOrigin: servers.webhookOrigin, tokenEndpoint: servers.tokenEndpoint }), tap.factory);
    await feedEngine(engine, tap, smoke ? 20 : 1000, (i) => twinEvent(i));
    const captured = tap.first;
    if (!captured) throw new Error('the engine sent nothing');

    log(`  engine: ${RATE} events/s for ${seconds} s…`);
    await servers.reset();
    const before = tap.completed;
    const total = await openLoop((sentAt, i) => engine.dispatch(twinEvent(i, { 'x-bench-sent': String(sentAt) })), RATE, seconds);
    await tap.waitFor(before + total);
    const engineSamples = (await servers.stats()).latencies;
    await engine.stop({ drainTimeout: 5000 });

    log(`  got: ${RATE} requests/s for ${seconds} s…`);
    const client = gotClient(captured);
    for (let i = 0; i < (smoke ? 20 : 500); i += 1) await client.send();
    await servers.reset();
    let done = 0;
    const sent = await openLoop((sentAt) => {
      void client.send({ 'x-bench-sent': String(sentAt) }).finally(() => (done += 1));
    }, RATE, seconds);
    while (done < sent) await new Promise((resolve) => setTimeout(resolve, 5));
    const gotSamples = (await servers.stats()).latencies;
    client.close();

    const p50 = percentile(engineSamples, 50);
    const p99 = percentile(engineSamples, 99);
    const gotP50 = percentile(gotSamples, 50);
    const gotP99 = percentile(gotSamples, 99);
    return {
      name: 'latency',
      figures: {
        ratePerSecond: RATE,
        samples: engineSamples.length,
        p50Ms: round(p50, 3),
        p99Ms: round(p99, 3),
        dispatchToClientP50Ms: round(percentile(handover, 50), 3),
        dispatchToClientP99Ms: round(percentile(handover, 99), 3),
      },
      baseline: { samples: gotSamples.length, gotP50Ms: round(gotP50, 3), gotP99Ms: round(gotP99, 3) },
      ratios: { p50VsGot: round(p50 / gotP50), p99VsGot: round(p99 / gotP99) },
    };
  },
};
