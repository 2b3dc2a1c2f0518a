/**
 * Runs in its own process (`node --expose-gc --import tsx bench/connections-worker.ts <n> <events>
 * <webhookOrigin>`), so each measurement starts from a clean heap: builds an engine with one matching
 * connection plus `n` idle connections on other namespaces (through the real loader, real got
 * transport), measures heap and RSS, then the cost of `dispatch()`. Prints one JSON line and exits
 * without stopping the engine (teardown time is not part of any figure).
 */
import { PerformanceObserver, performance, type PerformanceEntry } from 'node:perf_hooks';
import { createGotTransport } from '../src/connection/got-transport.ts';
import type { TransportFactory } from '../src/connection/transport.ts';
import type { TwinlinkEngine } from '../src/engine/engine.ts';
import { noopTransport, startEngine, tapTransport, twinEvent, type TransportTap } from './fixture.ts';

/** Result line of one worker run. */
export interface ConnectionsProbe {
  readonly connections: number;
  readonly heapBefore: number;
  readonly heapAfter: number;
  readonly rssBefore: number;
  readonly rssAfter: number;
  readonly startMs: number;
  /** ns per dispatch() of an event that one connection's target takes. */
  readonly nsPerMatchingEvent: number;
  /** ns per dispatch() of an event no connection takes. */
  readonly nsPerNonMatchingEvent: number;
  /** Of nsPerMatchingEvent: ns spent in garbage collection pauses inside the timed dispatch loops. */
  readonly gcNsPerMatchingEvent: number;
}

/** Garbage-collection pauses, to tell GC from routing when the heap grows with the connections. */
const gcPauses: PerformanceEntry[] = [];
new PerformanceObserver((list) => gcPauses.push(...list.getEntries())).observe({ entryTypes: ['gc'] });

/** ms of GC pauses that started inside one of `windows` ([start, end] in performance.now() ms). */
async function gcInside(windows: readonly (readonly [number, number])[]): Promise<number> {
  // GC entries are delivered asynchronously: let the observer catch up.
  await new Promise((resolve) => setTimeout(resolve, 50));
  return gcPauses
    .filter((entry) => windows.some(([start, end]) => entry.startTime >= start && entry.startTime < end))
    .reduce((sum, entry) => sum + entry.duration, 0);
}

/** YAML with one matching connection (`org.bench`) and `others` idle connections on other namespaces. */
export function connectionsYaml(others: number, origin: string): string {
  const connection = (id: string, namespace: string): string => `
  - id: ${id}
    connectionType: http-push
    uri: ${origin}
    specificConfig: { parallelism: 32 }
    targets:
      - address: "POST:/twins/{{ thing:namespace }}/{{ thing:name }}"
        topics: ["_/_/things/twin/events?namespaces=${namespace}"]
        authorizationContext: ["integration:bench"]
        headerMapping: { x-thing-id: "{{ thing:id }}" }`;
  const parts = [connection('match', 'org.bench')];
  for (let i = 0; i < others; i += 1) parts.push(connection(`idle-${i}`, `org.other${i}`));
  return `engine:\n  httpPush: { maxQueueSize: 100000 }\nconnections:${parts.join('')}\n`;
}

/** ns per dispatch() call over `events` calls; between batches the matching events are delivered. */
async function dispatchCost(
  engine: TwinlinkEngine,
  tap: TransportTap,
  events: number,
  namespace: string,
  windows: [number, number][] = [],
): Promise<number> {
  const matches = namespace === 'org.bench';
  const base = tap.completed;
  const batch = 1000;
  let total = 0;
  for (let sent = 0; sent < events; sent += batch) {
    const signals = Array.from({ length: batch }, (_, k) => twinEvent(sent + k, {}, namespace));
    const start = performance.now();
    for (const signal of signals) engine.dispatch(signal);
    const end = performance.now();
    total += end - start;
    windows.push([start, end]);
    if (matches) await tap.waitFor(base + sent + batch);
    else await new Promise((resolve) => setImmediate(resolve));
  }
  return (total * 1e6) / events;
}

function collect(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with node --expose-gc');
  gc();
  gc();
}

async function main(): Promise<void> {
  const [n = '10', events = '20000', origin = 'http://127.0.0.1:9'] = process.argv.slice(2);
  const others = Number(n);
  const yaml = connectionsYaml(others, origin);
  const tap = tapTransport(noopTransport);
  // The matching connection (built first) gets the no-op transport, so dispatch is measured alone;
  // the idle ones get the real got transport, so their memory includes its agents.
  let built = 0;
  const transport: TransportFactory = (options) => (built++ === 0 ? tap.factory(options) : createGotTransport(options));
  collect();
  const before = process.memoryUsage();
  const started = performance.now();
  const engine = await startEngine(yaml, transport);
  const startMs = performance.now() - started;
  await new Promise((resolve) => setTimeout(resolve, 200));
  collect();
  const after = process.memoryUsage();
  const count = Number(events);
  await dispatchCost(engine, tap, count, 'org.bench');
  await dispatchCost(engine, tap, count, 'org.nomatch');
  const windows: [number, number][] = [];
  const nsPerMatchingEvent = await dispatchCost(engine, tap, count, 'org.bench', windows);
  const gcNsPerMatchingEvent = ((await gcInside(windows)) * 1e6) / count;
  const probe: ConnectionsProbe = {
    connections: others,
    heapBefore: before.heapUsed,
    heapAfter: after.heapUsed,
    rssBefore: before.rss,
    rssAfter: after.rss,
    startMs,
    nsPerMatchingEvent,
    nsPerNonMatchingEvent: await dispatchCost(engine, tap, count, 'org.nomatch'),
    gcNsPerMatchingEvent,
  };
  process.stdout.write(`${JSON.stringify(probe)}\n`);
  process.exit(0);
}

if (process.argv[1]?.endsWith('connections-worker.ts')) await main();
