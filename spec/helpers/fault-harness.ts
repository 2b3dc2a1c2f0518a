/**
 * Spec helper for end-to-end fault specs: an engine built from YAML through the real loader, with
 * its pino output captured line by line, its own Prometheus registry, and event-driven waits on
 * what the engine reports (status changes, log lines, counters) instead of sleeps.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { parseConfigText } from '../../src/config/load.ts';
import { createEngine, type TwinlinkEngine } from '../../src/engine/engine.ts';
import type { ConnectionStatusDocument } from '../../src/engine/types.ts';
import { MetricName, TERMINAL_OUTCOMES } from '../../src/metrics/names.ts';
import type { ThingEvent } from '../../src/protocol/signal.ts';
import { parsePrometheus, samples } from './prometheus-text.ts';
import { startTokenServer, type TokenServer } from './token-server.ts';
import { startWebhookServer, type WebhookServer } from './webhook-server.ts';

/** One pino line, parsed. */
export type LogLine = Record<string, unknown> & { readonly level: number; readonly msg?: string };

/** Sums of `twinlink_outbound_messages_total` over every target of a connection, by outcome. */
export type OutcomeCounts = Record<string, number>;

export interface EngineHarness {
  readonly engine: TwinlinkEngine;
  readonly registry: Registry;
  /** Every log line written so far, raw (exactly what a log shipper would see). */
  readonly rawLogs: string[];
  /** The same lines, parsed. */
  readonly logs: LogLine[];
  /** Dispatches `count` thing events for `org.acme:thing-<i>` granted to `integration:test`. */
  dispatch(count: number, overrides?: Partial<ThingEvent>): void;
  /** Outbound outcome counts of one connection. */
  outcomes(connectionId: string): Promise<OutcomeCounts>;
  /** `twinlink_token_requests_total` of one connection, by outcome. */
  tokenRequests(connectionId: string): Promise<Record<string, number>>;
  /**
   * Waits until `dispatched` reached `expected` and every dispatched event has a terminal outcome;
   * resolves with the counts. Rejects after `timeoutMs` with the counts seen last.
   */
  settled(connectionId: string, expected: number, timeoutMs?: number): Promise<OutcomeCounts>;
  /** Every status document the engine published, in order (recorded from before `start()`). */
  readonly statuses: ConnectionStatusDocument[];
  /** Resolves with the first status (past, current or later) that satisfies `predicate`. */
  status(connectionId: string, predicate: (status: ConnectionStatusDocument) => boolean, timeoutMs?: number): Promise<ConnectionStatusDocument>;
  /** Resolves with the first log line (past or future) that satisfies `predicate`. */
  log(predicate: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Stops the engine (idempotent). */
  stop(drainTimeout?: number): Promise<{ delivered: number; undelivered: number }>;
}

/** The subject every harness event grants READ to; targets use it as `authorizationContext`. */
export const TEST_SUBJECT = 'integration:test';

/**
 * Builds and starts an engine from `yaml` (no environment substitution from the process).
 *
 * @example
 * const h = await startEngineHarness(faultYaml({ uri: hook.url, tokenEndpoint: idp.tokenEndpoint }));
 * h.dispatch(3);
 * const counts = await h.settled('c1', 3);
 */
export async function startEngineHarness(yaml: string): Promise<EngineHarness> {
  const config = parseConfigText(yaml, { env: {}, source: 'fault-spec.yaml' });
  const rawLogs: string[] = [];
  const logs: LogLine[] = [];
  const logWaiters = new Set<{ predicate: (line: LogLine) => boolean; resolve: (line: LogLine) => void }>();
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const text of chunk.toString('utf8').split('\n')) {
        if (text === '') continue;
        rawLogs.push(text);
        const line = JSON.parse(text) as LogLine;
        logs.push(line);
        for (const waiter of [...logWaiters]) {
          if (waiter.predicate(line)) {
            logWaiters.delete(waiter);
            waiter.resolve(line);
          }
        }
      }
      callback();
    },
  });
  // Synchronous-enough for specs: pino writes each line to the Writable as it is logged.
  const logger = pino({ level: 'debug' }, destination);
  const registry = new Registry();
  const engine = createEngine({ config, logger, registry });
  const statuses: ConnectionStatusDocument[] = [];
  engine.statusChanges$.subscribe((status) => statuses.push(status));
  await engine.start();
  let stopped: Promise<{ delivered: number; undelivered: number }> | undefined;
  let sequence = 0;

  const outcomes = async (connectionId: string): Promise<OutcomeCounts> => {
    const families = parsePrometheus(await registry.metrics());
    const counts: OutcomeCounts = {};
    for (const sample of samples(families, MetricName.OUTBOUND_MESSAGES, { connection: connectionId })) {
      const outcome = sample.labels?.['outcome'] ?? '?';
      counts[outcome] = (counts[outcome] ?? 0) + Number(sample.value ?? 0);
    }
    return counts;
  };

  const harness: EngineHarness = {
    engine,
    registry,
    rawLogs,
    logs,
    statuses,
    dispatch(count, overrides = {}) {
      for (let i = 0; i < count; i += 1) {
        sequence += 1;
        const thingId = `org.acme:thing-${sequence}`;
        engine.dispatch({
          type: 'thing.event',
          channel: 'twin',
          thingId,
          action: 'modified',
          path: '/attributes/counter',
          value: sequence,
          revision: sequence,
          headers: {},
          readGrantedSubjects: [TEST_SUBJECT],
          readRevokedSubjects: [],
          ...overrides,
        });
      }
    },
    outcomes,
    async tokenRequests(connectionId) {
      const families = parsePrometheus(await registry.metrics());
      const counts: Record<string, number> = {};
      for (const sample of samples(families, MetricName.TOKEN_REQUESTS, { connection: connectionId })) {
        counts[sample.labels?.['outcome'] ?? '?'] = Number(sample.value ?? 0);
      }
      return counts;
    },
    settled(connectionId, expected, timeoutMs = 10_000) {
      return until(
        async () => {
          const counts = await outcomes(connectionId);
          const terminal = TERMINAL_OUTCOMES.reduce((sum, outcome) => sum + (counts[outcome] ?? 0), 0);
          return (counts['dispatched'] ?? 0) === expected && terminal === expected ? counts : undefined;
        },
        timeoutMs,
        async () => `connection ${connectionId} did not account for ${expected} events: ${JSON.stringify(await outcomes(connectionId))}`,
      );
    },
    status(connectionId, predicate, timeoutMs = 10_000) {
      const seen = statuses.find((status) => status.connectionId === connectionId && predicate(status));
      if (seen) return Promise.resolve(seen);
      const now = engine.status(connectionId);
      if (predicate(now)) return Promise.resolve(now);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          subscription.unsubscribe();
          reject(new Error(`no status of ${connectionId} matched within ${timeoutMs} ms; last: ${JSON.stringify(engine.status(connectionId))}`));
        }, timeoutMs);
        const subscription = engine.statusChanges$.subscribe((status) => {
          if (status.connectionId === connectionId && predicate(status)) {
            clearTimeout(timer);
            subscription.unsubscribe();
            resolve(status);
          }
        });
      });
    },
    log(predicate, timeoutMs = 10_000) {
      const found = logs.find(predicate);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const waiter = {
          predicate,
          resolve: (line: LogLine) => {
            clearTimeout(timer);
            resolve(line);
          },
        };
        const timer = setTimeout(() => {
          logWaiters.delete(waiter);
          reject(new Error(`no matching log line within ${timeoutMs} ms`));
        }, timeoutMs);
        logWaiters.add(waiter);
      });
    },
    stop(drainTimeout = 2000) {
      stopped ??= engine.stop({ drainTimeout });
      return stopped;
    },
  };
  return harness;
}

/**
 * Re-evaluates `probe` each time the event loop has turned a few times (a condition wait, not a
 * sleep: it returns as soon as the condition holds) until it yields a value, or fails after
 * `timeoutMs` with `describe()`'s text.
 */
export async function until<T>(probe: () => Promise<T | undefined> | T | undefined, timeoutMs: number, describe?: () => Promise<string> | string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(describe ? await describe() : `condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Settings for {@link faultYaml}. */
export interface FaultYamlOptions {
  /** Connection ids; default `['c1']`. */
  readonly ids?: readonly string[];
  readonly uri: string;
  /** Omit for a connection without credentials. */
  readonly tokenEndpoint?: string;
  readonly clientId?: string;
  readonly clientSecret?: string;
  readonly clientAuthenticationMethod?: 'client_secret_post' | 'client_secret_basic';
  /** Target address; default `POST:/events`. */
  readonly address?: string;
  readonly headerMapping?: Readonly<Record<string, string>>;
  readonly parallelism?: number;
  readonly idleTimeout?: string;
  /** Extra lines appended inside `engine:` (two-space indented YAML). */
  readonly engineExtra?: string;
  readonly maxQueueSize?: number;
  readonly maxAttempts?: number;
  readonly tokenRequestTimeout?: string;
  readonly tokenWaitTimeout?: string;
  readonly tokenMaxResponseBytes?: number;
  readonly maxResponseBytes?: number;
  readonly circuitBreakerThreshold?: number;
}

/**
 * A whole config file for fault specs: plain-http loopback endpoints (`enforceHttps: false`),
 * short retry and backoff delays, small bounds.
 */
export function faultYaml(options: FaultYamlOptions): string {
  const ids = options.ids ?? ['c1'];
  // JSON is YAML: placeholders and odd characters need no further quoting.
  const headerMapping = JSON.stringify(options.headerMapping ?? {});
  const credentials = options.tokenEndpoint
    ? `
    credentials:
      type: oauth-client-credentials
      tokenEndpoint: ${JSON.stringify(options.tokenEndpoint)}
      clientId: ${JSON.stringify(options.clientId ?? 'fault-client')}
      clientSecret: ${JSON.stringify(options.clientSecret ?? 'fault-secret')}
      requestedScopes: fault-scope
      clientAuthenticationMethod: ${options.clientAuthenticationMethod ?? 'client_secret_post'}`
    : '';
  const connections = ids
    .map(
      (id) => `
  - id: ${id}
    connectionType: http-push
    connectionStatus: open
    uri: ${JSON.stringify(options.uri)}
    specificConfig:
      parallelism: ${options.parallelism ?? 2}${options.idleTimeout ? `\n      idleTimeout: ${options.idleTimeout}` : ''}
    targets:
      - address: ${JSON.stringify(options.address ?? 'POST:/events')}
        topics: ["_/_/things/twin/events"]
        authorizationContext: ["${TEST_SUBJECT}"]
        headerMapping: ${headerMapping}${credentials}`,
    )
    .join('');
  return `
engine:
  oauth2:
    enforceHttps: false
    maxClockSkew: 1s
    requestTimeout: ${options.tokenRequestTimeout ?? '2s'}
    tokenWaitTimeout: ${options.tokenWaitTimeout ?? '3s'}
    maxResponseBytes: ${options.tokenMaxResponseBytes ?? 4096}
    misconfiguredRetryDelay: 1h
    backoff: { initialDelay: 10ms, maxDelay: 40ms }
  httpPush:
    maxQueueSize: ${options.maxQueueSize ?? 100}
    requestTimeout: 2s
    maxResponseBytes: ${options.maxResponseBytes ?? 1024}
    circuitBreakerThreshold: ${options.circuitBreakerThreshold ?? 1000}
    retry: { maxAttempts: ${options.maxAttempts ?? 3}, initialDelay: 5ms, maxDelay: 20ms, statuses: [429, 502, 503, 504] }
${options.engineExtra ?? ''}
connections:${connections}
`;
}

/** The loopback servers every fault spec needs, started before and closed after each spec. */
export interface FaultServers {
  readonly hook: WebhookServer;
  readonly idp: TokenServer;
  /** The engine under test; stopped after each spec when set. */
  harness?: EngineHarness;
}

/** Registers mocha hooks that start a webhook and a token server per spec and tear all down. */
export function useFaultServers(): FaultServers {
  const env = {} as { hook: WebhookServer; idp: TokenServer; harness?: EngineHarness };
  beforeEach(async () => {
    env.hook = await startWebhookServer();
    env.idp = await startTokenServer();
  });
  afterEach(async () => {
    await env.harness?.stop();
    env.harness = undefined;
    await env.hook.close();
    await env.idp.close();
  });
  return env;
}
