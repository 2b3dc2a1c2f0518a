/**
 * Scenario 1, throughput: N twin events (50,000 by default, `--events N`) through the whole pipeline at parallelism 32 with a valid
 * cached token, against the same POSTs sent directly with got and with node:http.
 */
import { closedLoop, gotClient, nodeHttpClient, type BaselineClient } from './baselines.ts';
import { engineYaml, feedEngine, measure, round, startEngine, tapTransport, twinEvent } from './fixture.ts';
import { goal, type Scenario } from './scenario.ts';

interface Run {
  readonly eventsPerSecond: number;
  readonly cpuMicrosPerEvent: number;
}

function runOf(events: number, seconds: number, cpuMs: number): Run {
  return { eventsPerSecond: events / seconds, cpuMicrosPerEvent: (cpuMs * 1000) / events };
}

async function baseline(client: BaselineClient, events: number, warmup: number): Promise<Run> {
  await closedLoop(client.send, warmup);
  const { seconds, cpuMs } = await measure(() => closedLoop(client.send, events));
  client.close();
  return runOf(events, seconds, cpuMs);
}

export const throughput: Scenario = {
  name: 'throughput',
  async run({ servers, quick, smoke, events: requested, log }) {
    const events = requested ?? (smoke ? 200 : quick ? 3000 : 50_000);
    const warmup = smoke ? 50 : quick ? 500 : 3000;
    await servers.configure({ tokenDelayMs: 0, tokenLifetimeS: 3600, recordTimes: false });
    await servers.reset();

    const tap = tapTransport();
    const engine = await startEngine(engineYaml({ webhookOrigin: servers.webhookOrigin, tokenEndpoint: servers.tokenEndpoint }), tap.factory);
    await feedEngine(engine, tap, warmup, (i) => twinEvent(i));
    const captured = tap.first;
    if (!captured) throw new Error('the engine sent nothing');
    log(`  engine: ${events} events…`);
    const measured = await measure(() => feedEngine(engine, tap, events, (i) => twinEvent(i)));
    await engine.stop({ drainTimeout: 5000 });
    const engineRun = runOf(events, measured.seconds, measured.cpuMs);
    const stats = await servers.stats();
    const non2xx = Object.entries(tap.statuses).filter(([status]) => !status.startsWith('2')).reduce((n, [, c]) => n + c, 0);

    log(`  got: ${events} requests…`);
    const gotRun = await baseline(gotClient(captured), events, warmup);
    log(`  node:http: ${events} requests…`);
    const httpRun = await baseline(nodeHttpClient(captured), events, warmup);

    const vsGot = engineRun.eventsPerSecond / gotRun.eventsPerSecond;
    return {
      name: 'throughput',
      figures: {
        events,
        eventsPerSecond: round(engineRun.eventsPerSecond, 0),
        cpuMicrosPerEvent: round(engineRun.cpuMicrosPerEvent, 1),
        bodyBytes: Buffer.byteLength(captured.body ?? ''),
        non2xxResponses: non2xx + tap.failed,
        tokenRequests: stats.tokenRequests,
      },
      baseline: {
        gotEventsPerSecond: round(gotRun.eventsPerSecond, 0),
        gotCpuMicrosPerEvent: round(gotRun.cpuMicrosPerEvent, 1),
        nodeHttpEventsPerSecond: round(httpRun.eventsPerSecond, 0),
        nodeHttpCpuMicrosPerEvent: round(httpRun.cpuMicrosPerEvent, 1),
      },
      ratios: {
        engineVsGot: round(vsGot),
        engineVsNodeHttp: round(engineRun.eventsPerSecond / httpRun.eventsPerSecond),
        gotVsNodeHttp: round(gotRun.eventsPerSecond / httpRun.eventsPerSecond),
        cpuEngineVsGot: round(engineRun.cpuMicrosPerEvent / gotRun.cpuMicrosPerEvent),
      },
      goals: { engineVsGot: goal(vsGot >= 0.9, `engine ${round(vsGot)} × got (goal ≥ 0.9)`) },
    };
  },
};
