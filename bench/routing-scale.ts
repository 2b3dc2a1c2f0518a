/**
 * Scenario 4, routing scale: the cost of `dispatch()` per event with 10 and with 10,000 idle
 * connections whose namespaces do not match, plus one connection that does. The matching
 * connection has a no-op transport answering 204 at once, so only dispatch (routing index + its
 * target's pipeline) is measured. Each size runs in its own process (`connections-worker.ts`).
 */
import { probeConnections } from './connections-probe.ts';
import { round } from './fixture.ts';
import { goal, type Scenario } from './scenario.ts';

/** Connection counts and events per measurement for a full and a quick run. */
export function connectionSizes(quick: boolean, smoke = false): { small: number; medium: number; large: number; events: number } {
  if (smoke) return { small: 2, medium: 10, large: 20, events: 1000 };
  return quick ? { small: 10, medium: 200, large: 1000, events: 5000 } : { small: 10, medium: 1000, large: 10_000, events: 20_000 };
}

export const routingScale: Scenario = {
  name: 'routing-scale',
  async run({ servers, quick, smoke, log }) {
    const { small, large, events } = connectionSizes(quick, smoke);
    log(`  ${small} idle connections…`);
    const few = await probeConnections(small, events, servers.webhookOrigin);
    log(`  ${large} idle connections…`);
    const many = await probeConnections(large, events, servers.webhookOrigin);
    const ratio = many.nsPerMatchingEvent / few.nsPerMatchingEvent;
    return {
      name: 'routing-scale',
      figures: {
        connections: large,
        nsPerMatchingEvent: round(many.nsPerMatchingEvent, 0),
        nsPerNonMatchingEvent: round(many.nsPerNonMatchingEvent, 0),
        gcNsPerMatchingEvent: round(many.gcNsPerMatchingEvent, 0),
        startMs: round(many.startMs, 0),
      },
      baseline: {
        connections: small,
        nsPerMatchingEvent: round(few.nsPerMatchingEvent, 0),
        nsPerNonMatchingEvent: round(few.nsPerNonMatchingEvent, 0),
        gcNsPerMatchingEvent: round(few.gcNsPerMatchingEvent, 0),
        startMs: round(few.startMs, 0),
      },
      ratios: {
        matching: round(ratio),
        nonMatching: round(many.nsPerNonMatchingEvent / few.nsPerNonMatchingEvent),
        // The same ratio without GC pauses: what routing itself costs as connections grow.
        matchingWithoutGc: round((many.nsPerMatchingEvent - many.gcNsPerMatchingEvent) / (few.nsPerMatchingEvent - few.gcNsPerMatchingEvent)),
      },
      goals: { ratio: goal(ratio < 2, `dispatch cost ×${round(ratio)} from ${small} to ${large} connections (goal < 2)`) },
    };
  },
};
