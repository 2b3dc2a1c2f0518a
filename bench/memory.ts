/**
 * Scenario 5, memory: heap and RSS per idle connection (real loader, real got transport per
 * connection, after a full GC) at 1,000 and 10,000 connections, each in a fresh process.
 */
import { probeConnections } from './connections-probe.ts';
import type { ConnectionsProbe } from './connections-worker.ts';
import { round } from './fixture.ts';
import { connectionSizes } from './routing-scale.ts';
import { goal, type Scenario } from './scenario.ts';

const KB = 1024;

function perConnection(probe: ConnectionsProbe): { heapKB: number; rssKB: number } {
  const n = probe.connections + 1;
  return { heapKB: (probe.heapAfter - probe.heapBefore) / n / KB, rssKB: (probe.rssAfter - probe.rssBefore) / n / KB };
}

export const memory: Scenario = {
  name: 'memory',
  async run({ servers, quick, smoke, log }) {
    const { medium, large, events } = connectionSizes(quick, smoke);
    log(`  ${medium} idle connections…`);
    const mid = perConnection(await probeConnections(medium, events, servers.webhookOrigin));
    log(`  ${large} idle connections…`);
    const big = perConnection(await probeConnections(large, events, servers.webhookOrigin));
    return {
      name: 'memory',
      figures: {
        connections: large,
        heapKBPerConnection: round(big.heapKB, 1),
        rssKBPerConnection: round(big.rssKB, 1),
      },
      baseline: {
        connections: medium,
        heapKBPerConnection: round(mid.heapKB, 1),
        rssKBPerConnection: round(mid.rssKB, 1),
      },
      ratios: { heapLargeVsMedium: round(big.heapKB / mid.heapKB) },
      goals: { heap: goal(big.heapKB <= 20, `${round(big.heapKB, 1)} KB heap per idle connection at ${large} (goal ≤ 20 KB)`) },
    };
  },
};
