/**
 * Scenario 3, refresh under load: tokens living 3 s, a saturating load for 15 s. No request may
 * carry an expired token (the webhook answers those 401), one token request per refresh, and the
 * throughput while a refresh is in flight should match the throughput outside.
 */
import { performance } from 'node:perf_hooks';
import { engineYaml, feedEngine, round, startEngine, tapTransport, twinEvent } from './fixture.ts';
import { goal, type Scenario } from './scenario.ts';

const LIFETIME_S = 3;
/** The token endpoint's answer time: makes each refresh window long enough to measure. */
const TOKEN_DELAY_MS = 100;

/** Events/s of `arrivals` inside and outside `windows`, over the span of the arrivals. */
export function throughputInWindows(arrivals: readonly number[], windows: readonly (readonly [number, number])[]): { inside: number; outside: number; insideMs: number } {
  if (arrivals.length < 2) return { inside: Number.NaN, outside: Number.NaN, insideMs: 0 };
  const first = Math.min(...arrivals.slice(0, 100));
  const last = Math.max(...arrivals.slice(-100));
  const clipped = windows
    .map(([from, to]) => [Math.max(from, first), Math.min(to, last)] as const)
    .filter(([from, to]) => to > from);
  const insideMs = clipped.reduce((sum, [from, to]) => sum + (to - from), 0);
  let insideCount = 0;
  for (const t of arrivals) if (clipped.some(([from, to]) => t >= from && t < to)) insideCount += 1;
  const outsideMs = last - first - insideMs;
  return {
    inside: insideMs > 0 ? (insideCount * 1000) / insideMs : Number.NaN,
    outside: outsideMs > 0 ? ((arrivals.length - insideCount) * 1000) / outsideMs : Number.NaN,
    insideMs,
  };
}

export const refreshUnderLoad: Scenario = {
  name: 'refresh-under-load',
  async run({ servers, quick, smoke, log }) {
    const seconds = smoke ? 0.5 : quick ? 4 : 15;
    await servers.configure({ tokenDelayMs: TOKEN_DELAY_MS, tokenLifetimeS: LIFETIME_S, recordTimes: false });
    await servers.reset();
    const tap = tapTransport();
    // Skew 500 ms: tokens are served until 0.5 s before expiry; refresh starts 1–1.5 s before it.
    const engine = await startEngine(
      engineYaml({ webhookOrigin: servers.webhookOrigin, tokenEndpoint: servers.tokenEndpoint, maxClockSkew: '500ms' }),
      tap.factory,
    );
    await feedEngine(engine, tap, smoke ? 50 : 500, (i) => twinEvent(i));
    await servers.reset();
    await servers.configure({ recordTimes: true });

    log(`  engine: saturating load for ${seconds} s with ${LIFETIME_S} s tokens…`);
    const deadline = performance.now() + seconds * 1000;
    let offset = 0;
    // Chunks of events until the time is up: a steady closed-loop load.
    const chunk = smoke ? 200 : 2000;
    while (performance.now() < deadline) {
      const base = offset;
      await feedEngine(engine, tap, chunk, (i) => twinEvent(base + i));
      offset += chunk;
    }
    await engine.stop({ drainTimeout: 5000 });
    const stats = await servers.stats();
    await servers.configure({ recordTimes: false });
    const { inside, outside, insideMs } = throughputInWindows(stats.arrivals, stats.tokenWindows);
    // Refresh starts 1–1.5 s before expiry (margin 2 × skew, jitter ≤ margin / 2): one every 1.5–2 s.
    const expectedAtMost = Math.floor(seconds / 1.5) + 1;
    const windows = [...stats.tokenWindows].sort((a, b) => a[0] - b[0]);
    const overlapping = windows.filter((window, i) => i > 0 && window[0] < (windows[i - 1] as readonly [number, number])[1]).length;

    return {
      name: 'refresh-under-load',
      figures: {
        seconds,
        events: stats.webhookRequests,
        requestsWithExpiredToken: stats.expiredTokenRequests,
        responses401: stats.statuses['401'] ?? 0,
        tokenRequests: stats.tokenRequests,
        overlappingTokenRequests: overlapping,
        eventsPerSecondDuringRefresh: round(inside, 0),
        eventsPerSecondOutsideRefresh: round(outside, 0),
        refreshWindowMsTotal: round(insideMs, 0),
      },
      baseline: { tokenLifetimeS: LIFETIME_S, tokenDelayMs: TOKEN_DELAY_MS, maxClockSkewMs: 500, tokenRequestsExpectedAtMost: expectedAtMost },
      ratios: { duringVsOutsideRefresh: round(inside / outside) },
      goals: {
        expiredTokens: goal(stats.expiredTokenRequests === 0, `${stats.expiredTokenRequests} request(s) with an expired token (goal 0)`),
        unauthorized: goal((stats.statuses['401'] ?? 0) === 0, `${stats.statuses['401'] ?? 0} 401 response(s) (goal 0)`),
        singleFlight: goal(
          overlapping === 0 && stats.tokenRequests <= expectedAtMost,
          `${stats.tokenRequests} token request(s) in ${seconds} s with ${LIFETIME_S} s tokens, ${overlapping} overlapping (goal: 1 per refresh, ≤ ${expectedAtMost}, none overlapping)`,
        ),
      },
    };
  },
};
