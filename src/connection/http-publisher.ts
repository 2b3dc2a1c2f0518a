/**
 * The publisher of one http-push connection: a bounded FIFO queue in front of at most `parallelism`
 * requests in flight, per-message retries with backoff, 401 handling through the token source, a
 * circuit breaker, acknowledgements, and a drain for shutdown. Every message ends in exactly one
 * terminal outcome (`published`, `failed`, `dropped`), reported through `onOutcome`.
 */
import { setMaxListeners } from 'node:events';
import type { Logger } from 'pino';
import type { AccessToken, TokenSource } from '../auth/token-source.ts';
import type { ConnectionConfig, HttpPushSettings } from '../config/types.ts';
import type { Acknowledgement, DrainReport } from '../engine/types.ts';
import { PublishError } from '../errors.ts';
import type { OutboundMessage } from '../pipeline/outbound-message.ts';
import { backoffDelay, parseRetryAfter, type BackoffPolicy } from '../shared/backoff.ts';
import { systemClock, type Clock } from '../shared/clock.ts';
import { publishBaseOf, publishUrl } from './publish-target.ts';
import type { Transport, TransportResponse } from './transport.ts';
import { entityIdOf } from '../protocol/entity-id.ts';

/** Terminal outcomes (`published`, `failed`, `dropped`) and the non-terminal `retried`. */
export type PublishOutcomeKind = 'published' | 'failed' | 'dropped' | 'retried';

/** One accounted step of a message; bounded fields (`outcome`, `targetAddress`, `reason`) suit metric labels. */
export interface PublishOutcome {
  readonly outcome: PublishOutcomeKind;
  readonly targetIndex: number;
  readonly targetAddress: string;
  /**
   * Why (failed/dropped/retried): `status 503`, `timeout`, `ECONNREFUSED`, `ECONNRESET`,
   * `token unavailable`, `queue full`, `stopped`, `shutdown`, …
   */
  readonly reason?: string;
  /** HTTP status of the last response, when there was one. */
  readonly statusCode?: number;
  /** Duration of the last attempt's request, ms (absent for messages that never went out). */
  readonly durationMs?: number;
  /** Attempts made so far (0 for messages dropped before sending). */
  readonly attempts: number;
  readonly message: OutboundMessage;
}

/** Circuit breaker transitions, reported through `onCircuit`. */
export interface CircuitEvent {
  readonly state: 'open' | 'closed';
  /** Consecutive failed messages that opened it (for `open`). */
  readonly consecutiveFailures: number;
  /** Last failure reason (for `open`). */
  readonly reason?: string;
  /** Delay before the probe message, ms (for `open`). */
  readonly probeDelayMs?: number;
}

/** Timer functions; defaults look up the globals at call time so sinon fake timers drive them. */
export interface Timers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const globalTimers: Timers = {
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface HttpPublisherOptions {
  readonly connection: ConnectionConfig;
  readonly settings: HttpPushSettings;
  readonly transport: Transport;
  /** The connection's token actor; absent for connections without OAuth credentials. */
  readonly tokenSource?: TokenSource;
  /** Statuses meaning "token refused" (`engine.oauth2.unauthorizedStatuses`, default [401]). */
  readonly unauthorizedStatuses: readonly number[];
  readonly clock?: Clock;
  /** [0,1) for jitter. */
  readonly random?: () => number;
  readonly timers?: Timers;
  /** Delay policy between circuit probes (default: initial 1s, max 60s, or the retry policy's when larger). */
  readonly circuitBackoff?: BackoffPolicy;
  readonly onOutcome: (outcome: PublishOutcome) => void;
  readonly onAcknowledgement?: (ack: Acknowledgement) => void;
  /** The circuit opened (connection → `backoff`) or closed again (connection resumes). */
  readonly onCircuit?: (event: CircuitEvent) => void;
  readonly logger?: Logger;
}

/** Running totals; `published + failed + dropped + handedOver + queueSize + inFlight === enqueued` always holds. */
export interface PublisherCounts {
  readonly enqueued: number;
  readonly published: number;
  readonly failed: number;
  readonly dropped: number;
  /** Taken out of the queue by {@link HttpPublisher.takeQueued} (to a successor publisher). */
  readonly handedOver: number;
  readonly retried: number;
}

export interface HttpPublisher {
  /** Queues a message; returns false when it was dropped (queue full, or draining). */
  enqueue(message: OutboundMessage): boolean;
  /** Stops starting requests (events keep queueing, bounded); in-flight requests finish. */
  pause(): void;
  resume(): void;
  /**
   * Removes and returns every queued (not in-flight) message, without an outcome: the caller
   * hands them to a successor (a reconfigured connection), which accounts them.
   */
  takeQueued(): OutboundMessage[];
  /**
   * Stops intake, finishes queue and in-flight within `timeoutMs`, drops the rest as `shutdown`.
   * Called again while draining, an earlier deadline replaces the running one (same result promise).
   */
  drain(timeoutMs: number): Promise<DrainReport>;
  readonly paused: boolean;
  readonly circuit: 'closed' | 'open' | 'half-open';
  /** Messages waiting (for the queue-size gauge). */
  readonly queueSize: number;
  /** Messages being delivered, including those waiting for a retry (≤ parallelism). */
  readonly inFlight: number;
  readonly counts: PublisherCounts;
}

interface Entry {
  readonly message: OutboundMessage;
  attempts: number;
  probe: boolean;
}

/** Why a message stopped: a terminal outcome not yet reported. */
interface Terminal {
  readonly outcome: 'published' | 'failed' | 'dropped';
  readonly reason?: string;
  readonly statusCode?: number;
  readonly durationMs?: number;
  readonly response?: TransportResponse;
  /** Counts toward the circuit breaker (token waits do not: the token actor drives those states). */
  readonly countsForCircuit?: boolean;
}

const SHUTDOWN = 'shutdown';

/**
 * Creates the publisher of one connection.
 *
 * @example
 * const publisher = createHttpPublisher({ connection, settings: config.engine.httpPush, transport,
 *   tokenSource, unauthorizedStatuses: [401], onOutcome: (o) => metrics.count(o) });
 * publisher.enqueue(message);
 * const { delivered, undelivered } = await publisher.drain(5000);
 */
export function createHttpPublisher(options: HttpPublisherOptions): HttpPublisher {
  const { connection, settings, transport, tokenSource, onOutcome, onAcknowledgement, onCircuit, logger } = options;
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  const timers = options.timers ?? globalTimers;
  const parallelism = Math.max(1, connection.specificConfig.parallelism);
  const idle = connection.specificConfig.idleTimeout;
  const timeout = idle !== undefined && idle > 0 ? idle : settings.requestTimeout;
  const omitBody = new Set<string>(connection.specificConfig.omitRequestBody);
  const retryStatuses = new Set(settings.retry.statuses);
  const unauthorized = new Set(options.unauthorizedStatuses);
  const base = publishBaseOf(connection.uri);
  // Basic from the uri's userinfo applies only to connections without OAuth credentials.
  const basic = tokenSource ? undefined : base.basicAuthorization;
  const circuitPolicy = options.circuitBackoff ?? {
    initialDelay: Math.max(1000, settings.retry.initialDelay),
    maxDelay: Math.max(60_000, settings.retry.maxDelay),
  };

  const queue = new Fifo<Entry>();
  let active = 0;
  let paused = false;
  let resumeWaiters: (() => void)[] = [];
  let circuit: 'closed' | 'open' | 'half-open' = 'closed';
  let probeStarted = false;
  let circuitOpenings = 0;
  let circuitTimer: unknown;
  let consecutiveFailures = 0;
  let overflowing = false;
  const counts = { enqueued: 0, published: 0, failed: 0, dropped: 0, retried: 0, handedOver: 0 };
  let deadlineAt = Number.POSITIVE_INFINITY;
  let setDeadline: ((timeoutMs: number) => void) | undefined;

  let draining = false;
  const shutdown = new AbortController();
  // Each in-flight request (and each retry sleep or token wait) listens on this one signal: up to
  // 2 × parallelism listeners are expected, not a leak (Node warns past 10).
  setMaxListeners(2 * parallelism + 10, shutdown.signal);
  let drainReport: { delivered: number; failed: number; undelivered: number } | undefined;
  let drainDone: (() => void) | undefined;
  let drainPromise: Promise<DrainReport> | undefined;

  function report(entry: Entry, terminal: Terminal): void {
    const { message } = entry;
    counts[terminal.outcome] += 1;
    if (drainReport) {
      if (terminal.outcome === 'published') drainReport.delivered += 1;
      else if (terminal.outcome === 'failed') drainReport.failed += 1;
      else drainReport.undelivered += 1;
    }
    safely(() =>
      onOutcome({
        outcome: terminal.outcome,
        targetIndex: message.targetIndex,
        targetAddress: message.targetAddress,
        reason: terminal.reason,
        statusCode: terminal.statusCode,
        durationMs: terminal.durationMs,
        attempts: entry.attempts,
        message,
      }),
    );
    if (message.acknowledgementLabel !== undefined && onAcknowledgement) {
      const status = terminal.statusCode ?? statusWithoutResponse(terminal.reason);
      safely(() =>
        onAcknowledgement({
          label: message.acknowledgementLabel as string,
          connectionId: connection.id,
          correlationId: message.correlationId,
          targetAddress: message.targetAddress,
          status,
          success: terminal.outcome === 'published',
          entityId: entityIdOf(message.signal),
          payload: terminal.response ? payloadOf(terminal.response) : terminal.reason,
        }),
      );
    }
  }

  function safely(callback: () => void): void {
    try {
      callback();
    } catch (error) {
      // A throwing observer must not break accounting of the other messages.
      logger?.error({ err: error, connectionId: connection.id }, 'publisher callback threw');
    }
  }

  function drop(entry: Entry, reason: string): void {
    report(entry, { outcome: 'dropped', reason, statusCode: undefined });
  }

  function pump(): void {
    while (active < parallelism && queue.size > 0 && !paused && !shutdown.signal.aborted) {
      if (circuit === 'open') return;
      if (circuit === 'half-open') {
        if (probeStarted) return;
        probeStarted = true;
      }
      const entry = queue.shift() as Entry;
      entry.probe = circuit === 'half-open';
      active += 1;
      void run(entry);
    }
  }

  async function run(entry: Entry): Promise<void> {
    let terminal: Terminal;
    try {
      terminal = await deliver(entry);
    } catch (error) {
      terminal = { outcome: 'failed', reason: error instanceof Error ? error.message : 'error' };
    }
    active -= 1;
    report(entry, terminal);
    afterTerminal(entry, terminal);
    pump();
    checkDrained();
  }

  /** Sends one message until it is published, fails for good, or is stopped by a drain. */
  async function deliver(entry: Entry): Promise<Terminal> {
    const { message } = entry;
    const url = publishUrl(base, message.pathAndQuery);
    const body = omitBody.has(message.method) ? undefined : message.body;
    let retryToken: AccessToken | undefined;
    let unauthorizedRetried = false;
    let retries = 0;
    for (;;) {
      if (shutdown.signal.aborted) return { outcome: 'dropped', reason: SHUTDOWN };
      let token: AccessToken | undefined;
      if (tokenSource) {
        try {
          token = retryToken ?? tokenSource.current() ?? (await tokenSource.get(shutdown.signal));
        } catch (error) {
          if (shutdown.signal.aborted) return { outcome: 'dropped', reason: SHUTDOWN };
          logger?.warn({ connectionId: connection.id, err: error }, 'no token for publishing');
          return { outcome: 'failed', reason: 'token unavailable' };
        }
      }
      const headers: Record<string, string> = { ...message.headers };
      if (token) headers.authorization = `Bearer ${token.value}`;
      else if (basic !== undefined) headers.authorization = basic;

      entry.attempts += 1;
      const started = clock.now();
      let response: TransportResponse | undefined;
      let reason = 'network';
      try {
        response = await transport.request({ method: message.method, url, headers, body, timeout, signal: shutdown.signal });
      } catch (error) {
        if (shutdown.signal.aborted) return { outcome: 'dropped', reason: SHUTDOWN, durationMs: clock.now() - started };
        reason = error instanceof PublishError && error.reason !== undefined ? error.reason : 'network';
        // The transport knows when retrying cannot help (a blocked host, an invalid header).
        if (error instanceof PublishError && !error.retryable) return { outcome: 'failed', reason, durationMs: clock.now() - started, countsForCircuit: true };
      }
      const durationMs = clock.now() - started;
      let retryAfterMs: number | undefined;
      if (response) {
        const status = response.statusCode;
        if (status >= 200 && status < 300) {
          return { outcome: 'published', statusCode: status, durationMs, response };
        }
        reason = `status ${status}`;
        if (token && tokenSource && unauthorized.has(status)) {
          if (unauthorizedRetried) return { outcome: 'failed', reason, statusCode: status, durationMs, response, countsForCircuit: true };
          // One refresh and one retry per message: a second refusal fails it (no loop).
          unauthorizedRetried = true;
          retried(entry, reason, status, durationMs);
          try {
            retryToken = await tokenSource.reportUnauthorized(token, shutdown.signal);
          } catch {
            if (shutdown.signal.aborted) return { outcome: 'dropped', reason: SHUTDOWN };
            return { outcome: 'failed', reason: 'token unavailable', statusCode: status, durationMs, response };
          }
          continue;
        }
        if (!retryStatuses.has(status)) {
          return { outcome: 'failed', reason, statusCode: status, durationMs, response, countsForCircuit: true };
        }
        retryAfterMs = parseRetryAfter(response.headers['retry-after'], clock.now());
      }
      retryToken = undefined;
      retries += 1;
      if (retries >= settings.retry.maxAttempts) {
        return { outcome: 'failed', reason, statusCode: response?.statusCode, durationMs, response, countsForCircuit: true };
      }
      retried(entry, reason, response?.statusCode, durationMs);
      await sleep(backoffDelay(retries, settings.retry, random, retryAfterMs));
      await whenRunning();
    }
  }

  function retried(entry: Entry, reason: string, statusCode: number | undefined, durationMs: number): void {
    counts.retried += 1;
    const { message } = entry;
    safely(() =>
      onOutcome({ outcome: 'retried', targetIndex: message.targetIndex, targetAddress: message.targetAddress, reason, statusCode, durationMs, attempts: entry.attempts, message }),
    );
  }

  function afterTerminal(entry: Entry, terminal: Terminal): void {
    if (terminal.outcome === 'published') {
      consecutiveFailures = 0;
      if (circuit !== 'closed') closeCircuit();
      return;
    }
    if (terminal.outcome !== 'failed' || !terminal.countsForCircuit) {
      // A probe that could not prove anything (token wait, shutdown) lets the next message probe.
      if (entry.probe) probeStarted = false;
      return;
    }
    consecutiveFailures += 1;
    if (circuit === 'half-open' && entry.probe) openCircuit(terminal.reason);
    else if (circuit === 'closed' && consecutiveFailures >= settings.circuitBreakerThreshold) openCircuit(terminal.reason);
  }

  function openCircuit(reason: string | undefined): void {
    if (draining) return;
    circuit = 'open';
    circuitOpenings += 1;
    const probeDelayMs = Math.max(
      Math.floor(circuitPolicy.initialDelay / 2),
      backoffDelay(circuitOpenings, circuitPolicy, random),
    );
    logger?.warn({ connectionId: connection.id, consecutiveFailures, reason, probeDelayMs }, 'circuit open: publishing paused');
    circuitTimer = timers.setTimeout(() => {
      circuitTimer = undefined;
      circuit = 'half-open';
      probeStarted = false;
      pump();
    }, probeDelayMs);
    safely(() => onCircuit?.({ state: 'open', consecutiveFailures, reason, probeDelayMs }));
  }

  function closeCircuit(): void {
    if (circuitTimer !== undefined) timers.clearTimeout(circuitTimer);
    circuitTimer = undefined;
    circuit = 'closed';
    circuitOpenings = 0;
    probeStarted = false;
    logger?.info({ connectionId: connection.id }, 'circuit closed: publishing resumed');
    safely(() => onCircuit?.({ state: 'closed', consecutiveFailures: 0 }));
  }

  function sleep(ms: number): Promise<void> {
    if (shutdown.signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = (): void => {
        timers.clearTimeout(handle);
        resolve();
      };
      const handle = timers.setTimeout(() => {
        shutdown.signal.removeEventListener('abort', wake);
        resolve();
      }, ms);
      shutdown.signal.addEventListener('abort', wake, { once: true });
    });
  }

  function whenRunning(): Promise<void> {
    if (!paused || shutdown.signal.aborted) return Promise.resolve();
    return new Promise((resolve) => resumeWaiters.push(resolve));
  }

  function releaseWaiters(): void {
    const waiters = resumeWaiters;
    resumeWaiters = [];
    for (const resolve of waiters) resolve();
  }

  function checkDrained(): void {
    if (drainDone && active === 0 && queue.size === 0) drainDone();
  }

  return {
    enqueue(message) {
      counts.enqueued += 1;
      const entry: Entry = { message, attempts: 0, probe: false };
      if (draining) {
        drop(entry, 'stopped');
        return false;
      }
      if (queue.size >= settings.maxQueueSize) {
        if (!overflowing) {
          overflowing = true;
          logger?.warn({ connectionId: connection.id, maxQueueSize: settings.maxQueueSize, policy: settings.overflow }, 'queue full: dropping events');
        }
        if (settings.overflow === 'drop-oldest' && queue.size > 0) {
          drop(queue.shift() as Entry, 'queue full');
          queue.push(entry);
          pump();
          return true;
        }
        drop(entry, 'queue full');
        return false;
      }
      overflowing = false;
      queue.push(entry);
      pump();
      return true;
    },
    pause() {
      paused = true;
    },
    resume() {
      if (!paused) return;
      paused = false;
      releaseWaiters();
      pump();
    },
    takeQueued() {
      const taken: OutboundMessage[] = [];
      for (let entry = queue.shift(); entry !== undefined; entry = queue.shift()) taken.push(entry.message);
      counts.handedOver += taken.length;
      checkDrained();
      return taken;
    },
    drain(timeoutMs) {
      if (drainPromise) {
        setDeadline?.(timeoutMs);
        return drainPromise;
      }
      draining = true;
      drainReport = { delivered: 0, failed: 0, undelivered: 0 };
      const result = drainReport;
      drainPromise = new Promise<DrainReport>((resolve) => {
        let deadline: unknown;
        setDeadline = (ms) => {
          const at = clock.now() + ms;
          if (at >= deadlineAt) return;
          deadlineAt = at;
          if (deadline !== undefined) timers.clearTimeout(deadline);
          deadline = timers.setTimeout(() => {
            // Deadline: abort in-flight requests, wake sleepers and waiters; everything left is dropped.
            shutdown.abort();
            releaseWaiters();
            while (queue.size > 0) drop(queue.shift() as Entry, SHUTDOWN);
            checkDrained();
          }, ms);
        };
        setDeadline(timeoutMs);
        drainDone = () => {
          drainDone = undefined;
          timers.clearTimeout(deadline);
          if (circuitTimer !== undefined) timers.clearTimeout(circuitTimer);
          shutdown.abort();
          resolve({ ...result });
        };
        // A paused publisher or an open circuit cannot make progress: queued messages wait for the deadline.
        pump();
        checkDrained();
      });
      return drainPromise;
    },
    get paused() {
      return paused;
    },
    get circuit() {
      return circuit;
    },
    get queueSize() {
      return queue.size;
    },
    get inFlight() {
      return active;
    },
    get counts() {
      return { ...counts };
    },
  };
}

/** Status for an acknowledgement when no response arrived: 408 for timeouts, 503 otherwise. */
function statusWithoutResponse(reason: string | undefined): number {
  return reason === 'timeout' ? 408 : 503;
}


/** The response body as acknowledgement payload: JSON when it parses, else text, else nothing. */
function payloadOf(response: TransportResponse): unknown {
  if (response.body.length === 0) return undefined;
  const text = response.body.toString('utf8');
  const type = response.headers['content-type'];
  if (typeof type === 'string' && type.includes('json')) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text;
    }
  }
  return text;
}

/** An array-backed FIFO with O(1) amortised shift (Array#shift is O(n) on large queues). */
class Fifo<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  get size(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head += 1;
    // Compact once the consumed prefix dominates, keeping memory bounded by the queue size.
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
}
