/**
 * Scenario 2, single flight: 10,000 events dispatched at once into a freshly started engine whose
 * token endpoint answers after 200 ms. One token request must serve them all.
 */
import { closedLoop, gotClient } from './baselines.ts';
import { engineYaml, epochNow, measure, round, startEngine, tapTransport, twinEvent } from './fixture.ts';
import { goal, type Scenario } from './scenario.ts';

const TOKEN_DELAY_MS = 200;

export const singleFlight: Scenario = {
  name: 'single-flight',
  async run({ servers, quick, smoke, log }) {
    const events = smoke ? 200 : quick ? 2000 : 10_000;
    await servers.configure({ tokenDelayMs: TOKEN_DELAY_MS, tokenLifetimeS: 3600, recordTimes: false });
    await servers.reset();

    const tap = tapTransport();
    const engine = await startEngine(
      engineYaml({ webhookOrigin: servers.webhookOrigin, tokenEndpoint: servers.tokenEndpoint, maxQueueSize: events }),
      tap.factory,
    );
    log(`  engine: ${events} events at once on a cold token cache…`);
    const started = epochNow();
    const { cpuMs } = await measure(async () => {
      for (let i = 0; i < events; i += 1) engine.dispatch(twinEvent(i));
      await tap.waitFor(events);
    });
    const deliverMs = epochNow() - started;
    await engine.stop({ drainTimeout: 5000 });
    const stats = await servers.stats();
    const captured = tap.first;
    if (!captured) throw new Error('the engine sent nothing');

    // What the same work costs at best: one token round trip, then the POSTs through got directly.
    log(`  got: ${events} requests (baseline)…`);
    const client = gotClient(captured);
    await closedLoop(client.send, Math.min(events, 2000));
    const direct = await measure(() => closedLoop(client.send, events));
    client.close();
    const idealMs = TOKEN_DELAY_MS + direct.seconds * 1000;

    return {
      name: 'single-flight',
      figures: {
        events,
        tokenRequests: stats.tokenRequests,
        deliverAllMs: round(deliverMs, 0),
        webhookRequests: stats.webhookRequests,
        cpuMicrosPerEvent: round((cpuMs * 1000) / events, 1),
      },
      baseline: { tokenDelayMs: TOKEN_DELAY_MS, gotSendAllMs: round(direct.seconds * 1000, 0), idealMs: round(idealMs, 0) },
      ratios: { deliverVsIdeal: round(deliverMs / idealMs) },
      goals: { tokenRequests: goal(stats.tokenRequests === 1, `${stats.tokenRequests} token request(s) for ${events} waiting events (goal 1)`) },
    };
  },
};
