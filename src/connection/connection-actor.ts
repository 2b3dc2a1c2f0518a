/**
 * One connection, assembled: its state machine, its publisher and (with credentials) its token
 * source, wired together. The engine creates one per connection, routes messages to `enqueue`,
 * and reads `snapshot()` / `state$` for the status API and the state gauge.
 */
import type { LookupFunction } from 'node:net';
import type { Logger } from 'pino';
import { BehaviorSubject, type Observable, type Subscription } from 'rxjs';
import { createActor, type Actor } from 'xstate';
import type { TokenSource } from '../auth/token-source.ts';
import type { ConnectionConfig, EngineSettings } from '../config/types.ts';
import type { Acknowledgement, ConnectionState, DittoConnectionStatus, DrainReport } from '../engine/types.ts';
import type { OutboundMessage } from '../pipeline/outbound-message.ts';
import { systemClock, type Clock } from '../shared/clock.ts';
import { connectionMachine, connectionStateOf, dittoStatusOf, tokenEventOf, type ConnectionEffects } from './connection.machine.ts';
import { createHttpPublisher, type HttpPublisher, type PublishOutcome, type Timers } from './http-publisher.ts';
import { MAX_PROBE_TIMEOUT, reachTarget } from './reach-target.ts';
import type { Transport } from './transport.ts';

/** A secret-free view of a connection's state, for status documents and gauges. */
export interface ConnectionSnapshot {
  readonly connectionId: string;
  readonly state: ConnectionState;
  readonly dittoStatus: DittoConnectionStatus;
  readonly statusDetails: string;
  /** Epoch ms the state was entered. */
  readonly inStateSince: number;
  /** Epoch ms publishing started, while connected. */
  readonly connectedSince?: number;
  readonly queueSize: number;
  readonly inFlight: number;
}

export interface ConnectionActorOptions {
  readonly connection: ConnectionConfig;
  readonly settings: EngineSettings;
  /** Built by the engine's transport factory for this connection; closed by `drain()`. */
  readonly transport: Transport;
  /** Required when `connection.credentials` is set. */
  readonly tokenSource?: TokenSource;
  readonly clock?: Clock;
  readonly random?: () => number;
  readonly timers?: Timers;
  readonly logger?: Logger;
  /** When set, a `failed` connection retries by itself after this many ms. */
  readonly failedRetryDelay?: number;
  readonly onOutcome: (outcome: PublishOutcome) => void;
  readonly onAcknowledgement?: (ack: Acknowledgement) => void;
  /** Called on OPEN from `failed`/`closed`: ask the token actor to try now (default: `tokenSource.get()`). */
  readonly retryToken?: () => void;
  /** The engine host policy's `dnsLookup`, used by the https reachability probe of `connecting`. */
  readonly targetLookup?: LookupFunction;
}

export interface ConnectionActor {
  readonly id: string;
  /** Opens a closed or failed connection. */
  open(): void;
  /** Closes: publishing pauses, queued events stay queued (route nothing to a closed connection). */
  close(): void;
  /** Hands a message to the publisher; false when dropped (queue full, draining). */
  enqueue(message: OutboundMessage): boolean;
  /** Removes and returns the queued (not in-flight) messages, for a successor to take over. */
  takeQueued(): OutboundMessage[];
  /**
   * Stops intake, delivers what it can within `timeoutMs`, then stops the machine and the transport.
   * Called again while draining, an earlier deadline replaces the running one.
   */
  drain(timeoutMs: number): Promise<DrainReport>;
  snapshot(): ConnectionSnapshot;
  /** Messages waiting in the queue (cheap: for gauges on the hot path). */
  readonly queueSize: number;
  /** Messages being delivered, including those waiting for a retry. */
  readonly inFlight: number;
  /** The current snapshot, then every change of state or details. */
  readonly state$: Observable<ConnectionSnapshot>;
}

/**
 * Creates and starts a connection actor.
 *
 * @example
 * const conn = createConnectionActor({ connection, settings: config.engine, transport: createGotTransport(opts),
 *   tokenSource, onOutcome: (o) => metrics.outcome(o), onAcknowledgement: (a) => acks$.next(a) });
 * conn.state$.subscribe((s) => console.log(s.state, s.statusDetails));
 * conn.enqueue(message);
 * const { delivered, undelivered } = await conn.drain(5000);
 */
export function createConnectionActor(options: ConnectionActorOptions): ConnectionActor {
  return new MachineConnectionActor(options);
}

const EMPTY_DRAIN: DrainReport = Object.freeze({ delivered: 0, undelivered: 0, failed: 0 });

/**
 * A class rather than closures, and the publisher built on the first message: 10,000 mostly idle
 * connections are a supported size, and each per-connection closure costs heap (under tsx's
 * keepNames ~300 bytes). The instance is also the machine's `effects`, so they need no closures.
 */
class MachineConnectionActor implements ConnectionActor, ConnectionEffects {
  readonly id: string;
  readonly state$: Observable<ConnectionSnapshot>;
  readonly #options: ConnectionActorOptions;
  readonly #actor: Actor<typeof connectionMachine>;
  readonly #state$: BehaviorSubject<ConnectionSnapshot>;
  readonly #tokenSubscription: Subscription | undefined;
  #publisher: HttpPublisher | undefined;
  /** The machine's last pause/resume, applied to a publisher built later. */
  #paused = false;
  #draining = false;

  constructor(options: ConnectionActorOptions) {
    const { connection, tokenSource } = options;
    this.id = connection.id;
    this.#options = options;
    // Effects go in through input: one shared machine definition for all connections.
    this.#actor = createActor(connectionMachine, {
      input: {
        connectionId: connection.id,
        effects: this,
        hasCredentials: connection.credentials !== undefined && tokenSource !== undefined,
        startClosed: connection.connectionStatus === 'closed',
        now: nowOf(options.clock ?? systemClock),
        failedRetryDelay: options.failedRetryDelay,
        probeTarget: probeTargetOf(connection.uri),
        ...(options.random ? { random: options.random } : {}),
      },
    });
    this.#actor.start();
    this.#state$ = new BehaviorSubject<ConnectionSnapshot>(this.snapshot());
    this.state$ = this.#state$.asObservable();
    this.#actor.subscribe(() => this.#onTransition());
    this.#tokenSubscription = tokenSource?.status$.subscribe((status) => {
      const event = tokenEventOf(status, tokenSource.current() !== undefined);
      if (event) this.#actor.send(event);
    });
  }

  get queueSize(): number {
    return this.#publisher?.queueSize ?? 0;
  }

  get inFlight(): number {
    return this.#publisher?.inFlight ?? 0;
  }

  open(): void {
    this.#actor.send({ type: 'OPEN' });
  }

  close(): void {
    this.#actor.send({ type: 'CLOSE' });
  }

  enqueue(message: OutboundMessage): boolean {
    return (this.#publisher ?? this.#createPublisher()).enqueue(message);
  }

  takeQueued(): OutboundMessage[] {
    return this.#publisher?.takeQueued() ?? [];
  }

  async drain(timeoutMs: number): Promise<DrainReport> {
    this.#draining = true;
    // Never built: nothing was ever queued, nothing to deliver.
    const report = this.#publisher ? await this.#publisher.drain(timeoutMs) : { ...EMPTY_DRAIN };
    this.#tokenSubscription?.unsubscribe();
    this.#actor.stop();
    this.#state$.complete();
    this.#options.transport.close();
    return report;
  }

  snapshot(): ConnectionSnapshot {
    const { value, context } = this.#actor.getSnapshot();
    const state = connectionStateOf(value);
    return {
      connectionId: this.id,
      state,
      dittoStatus: dittoStatusOf(state, context),
      statusDetails: context.statusDetails,
      inStateSince: context.inStateSince,
      connectedSince: context.connectedSince,
      queueSize: this.queueSize,
      inFlight: this.inFlight,
    };
  }

  /** Effect: stop starting requests. */
  pausePublisher(): void {
    this.#paused = true;
    this.#publisher?.pause();
  }

  /** Effect: start requests again. */
  resumePublisher(): void {
    this.#paused = false;
    this.#publisher?.resume();
  }

  /** Effect: ask the token actor to try now. */
  retryToken(): void {
    if (this.#options.retryToken) this.#options.retryToken();
    // Failures surface through status$; here we only nudge the token actor.
    else this.#options.tokenSource?.get().catch(() => undefined);
  }

  /**
   * Effect: the https probe of `connecting` (TCP + TLS handshake with the connection's `ca` and
   * `validateCertificates`), bounded by the request timeout capped at {@link MAX_PROBE_TIMEOUT}.
   */
  reachTarget(signal: AbortSignal): Promise<void> {
    const { connection, settings, targetLookup } = this.#options;
    return reachTarget(new URL(connection.uri), {
      timeout: Math.min(connection.specificConfig.idleTimeout ?? settings.httpPush.requestTimeout, MAX_PROBE_TIMEOUT),
      validateCertificates: connection.validateCertificates,
      ...(connection.ca !== undefined ? { ca: connection.ca } : {}),
      ...(targetLookup ? { lookup: targetLookup } : {}),
      signal,
    });
  }

  #createPublisher(): HttpPublisher {
    const options = this.#options;
    const publisher = createHttpPublisher({
      connection: options.connection,
      settings: options.settings.httpPush,
      transport: options.transport,
      tokenSource: options.tokenSource,
      unauthorizedStatuses: options.settings.oauth2.unauthorizedStatuses,
      clock: options.clock ?? systemClock,
      random: options.random,
      timers: options.timers,
      logger: options.logger,
      onOutcome: options.onOutcome,
      onAcknowledgement: options.onAcknowledgement,
      onCircuit: (event) => this.#actor.send(event.state === 'open' ? { type: 'CIRCUIT.OPEN', reason: event.reason } : { type: 'CIRCUIT.CLOSED' }),
    });
    if (this.#paused) publisher.pause();
    // Built after drain() started (a late enqueue): it must refuse the message as 'stopped' too.
    if (this.#draining) void publisher.drain(0);
    this.#publisher = publisher;
    return publisher;
  }

  #onTransition(): void {
    const next = this.snapshot();
    const last = this.#state$.getValue();
    if (next.state !== last.state || next.statusDetails !== last.statusDetails) {
      this.#options.logger?.info({ connectionId: this.id, state: next.state, statusDetails: next.statusDetails }, 'connection state');
      this.#state$.next(next);
    }
  }
}

/** `https://host:port` of an https uri (no userinfo, path or query): the target probed while connecting. */
function probeTargetOf(uri: string): string | undefined {
  const url = new URL(uri);
  return url.protocol === 'https:' ? `${url.protocol}//${url.host}` : undefined;
}

/** One `now` function per clock, shared by every connection on it (the machine calls `context.now()`). */
const NOW_OF = new WeakMap<Clock, () => number>();
function nowOf(clock: Clock): () => number {
  let now = NOW_OF.get(clock);
  if (!now) {
    now = () => clock.now();
    NOW_OF.set(clock, now);
  }
  return now;
}
