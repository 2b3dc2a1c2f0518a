/**
 * What every scenario shares: the engine's YAML (the full pipeline: routing, authorization,
 * placeholders in address and headerMapping, OAuth2 token, got publish), the twin events, a
 * transport tap that counts finished requests, and a CPU/wall-clock meter.
 */
import { performance } from 'node:perf_hooks';
import { parseConfigText } from '../src/config/load.ts';
import { createGotTransport } from '../src/connection/got-transport.ts';
import type { Transport, TransportFactory, TransportRequest } from '../src/connection/transport.ts';
import { createEngine, type TwinlinkEngine } from '../src/engine/engine.ts';
import type { ThingEvent } from '../src/protocol/signal.ts';

/** Concurrency of engine and baselines alike. */
export const PARALLELISM = 32;

/** Epoch ms with fractions, comparable across processes on one machine. */
export const epochNow = (): number => performance.timeOrigin + performance.now();

export interface EngineYamlOptions {
  readonly webhookOrigin: string;
  readonly tokenEndpoint?: string;
  readonly maxClockSkew?: string;
  readonly maxQueueSize?: number;
  readonly parallelism?: number;
}

/**
 * One http-push connection with OAuth2 credentials, a target whose address and headers use
 * placeholders, and a headerMapping that forwards the host's `x-bench-sent` header (latency).
 */
export function engineYaml(options: EngineYamlOptions): string {
  const credentials = options.tokenEndpoint
    ? `
    credentials:
      type: oauth-client-credentials
      tokenEndpoint: ${options.tokenEndpoint}
      clientId: bench-client
      clientSecret: bench-secret
      requestedScopes: bench-scope`
    : '';
  return `
engine:
  oauth2: { enforceHttps: false, maxClockSkew: ${options.maxClockSkew ?? '60s'} }
  httpPush: { maxQueueSize: ${options.maxQueueSize ?? 100_000}, requestTimeout: 30s }
connections:
  - id: bench
    connectionType: http-push
    connectionStatus: open
    uri: ${options.webhookOrigin}
    specificConfig: { parallelism: ${options.parallelism ?? PARALLELISM} }
    targets:
      - address: "POST:/twins/{{ thing:namespace }}/{{ thing:name }}/{{ topic:action }}"
        topics: ["_/_/things/twin/events?namespaces=org.bench"]
        authorizationContext: ["integration:bench"]
        headerMapping:
          x-thing-id: "{{ thing:id }}"
          x-correlation-id: "{{ header:correlation-id }}"
          x-bench-sent: "{{ header:x-bench-sent }}"
${credentials}
`;
}

/** A counting wrapper around a transport factory: finished requests, statuses, and the first request. */
export interface TransportTap {
  readonly factory: TransportFactory;
  completed: number;
  failed: number;
  readonly statuses: Record<number, number>;
  first?: TransportRequest;
  /** Resolves once `count` requests in total have finished (answered or failed). */
  waitFor(count: number): Promise<void>;
}

/**
 * Wraps `base` (default: the engine's own got transport) so the scenario knows when all events were
 * answered; `onRequest` sees each request as the publisher hands it over.
 */
export function tapTransport(base: TransportFactory = createGotTransport, onRequest?: (request: TransportRequest) => void): TransportTap {
  let waiter: { count: number; resolve: () => void } | undefined;
  const finished = (): void => {
    if (waiter && tap.completed + tap.failed >= waiter.count) {
      const { resolve } = waiter;
      waiter = undefined;
      resolve();
    }
  };
  const tap: TransportTap = {
    completed: 0,
    failed: 0,
    statuses: {},
    waitFor: (count) =>
      tap.completed + tap.failed >= count ? Promise.resolve() : new Promise<void>((resolve) => (waiter = { count, resolve })),
    factory: (options) => {
      const inner: Transport = base(options);
      return {
        request: (request) => {
          tap.first ??= request;
          onRequest?.(request);
          return inner.request(request).then(
            (response) => {
              tap.completed += 1;
              tap.statuses[response.statusCode] = (tap.statuses[response.statusCode] ?? 0) + 1;
              finished();
              return response;
            },
            (error: unknown) => {
              tap.failed += 1;
              finished();
              throw error;
            },
          );
        },
        close: () => inner.close(),
      };
    },
  };
  return tap;
}

/** A transport that answers 204 at once without any I/O: measures dispatch and pipeline only. */
export const noopTransport: TransportFactory = () => ({
  request: () => Promise.resolve({ statusCode: 204, headers: {}, body: Buffer.alloc(0) }),
  close: () => undefined,
});

/** Builds and starts an engine from YAML through the real loader. */
export async function startEngine(yaml: string, transport: TransportFactory): Promise<TwinlinkEngine> {
  const config = parseConfigText(yaml, { env: {} });
  const engine = createEngine({ config, transport });
  await engine.start();
  return engine;
}

const VALUE = { temperature: 21.5, humidity: 40, status: 'ok', tags: ['a', 'b'] };

/** A twin event the bench connection routes, authorizes and publishes (namespace `org.bench`). */
export function twinEvent(i: number, headers: Readonly<Record<string, string>> = {}, namespace = 'org.bench'): ThingEvent {
  return {
    type: 'thing.event',
    channel: 'twin',
    thingId: `${namespace}:device-${i % 100}`,
    action: 'modified',
    path: '/features/climate/properties',
    value: VALUE,
    revision: i + 1,
    headers: { 'correlation-id': `bench-${i}`, ...headers },
    readGrantedSubjects: ['integration:bench'],
    readRevokedSubjects: [],
  };
}

/** Wall time and CPU (user + system) of an async piece of work. */
export async function measure<T>(work: () => Promise<T>): Promise<{ result: T; seconds: number; cpuMs: number }> {
  const cpu = process.cpuUsage();
  const start = performance.now();
  const result = await work();
  const seconds = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  return { result, seconds, cpuMs: (used.user + used.system) / 1000 };
}

/** Resolves once `done()` holds, checking every `everyMs` (no busy loop). */
export async function until(done: () => boolean, everyMs = 5, timeoutMs = 120_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!done()) {
    if (performance.now() > deadline) throw new Error('benchmark step timed out');
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/**
 * Feeds `total` events into the engine as a host would: in batches, keeping at most `window`
 * events dispatched but not yet answered, then waits until all were answered.
 */
export async function feedEngine(
  engine: TwinlinkEngine,
  tap: TransportTap,
  total: number,
  event: (i: number) => ThingEvent,
  window = 1024,
): Promise<void> {
  const base = tap.completed + tap.failed;
  let sent = 0;
  while (sent < total) {
    const answered = tap.completed + tap.failed - base;
    const room = Math.min(window - (sent - answered), total - sent);
    for (let k = 0; k < room; k += 1) engine.dispatch(event(sent++));
    // Refill when half the window was answered: few wake-ups, never an empty queue.
    await tap.waitFor(base + Math.min(total, sent - window / 2));
  }
  await tap.waitFor(base + total);
}

/** Percentile (0–100) of a numeric sample, nearest rank. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

/** Rounds for the table and JSON. */
export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
