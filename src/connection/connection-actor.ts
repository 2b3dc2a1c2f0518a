/**
 * One connection, assembled: its state machine, its publisher and (with credentials) its token
 * source, wired together. The engine creates one per connection, routes messages to `enqueue`,
 * and reads `snapshot()` / `state$` for the status API and the state gauge.
 */
import type { Logger } from 'pino';
import { BehaviorSubject, type Observable, type Subscription } from 'rxjs';
import { createActor } from 'xstate';
import type { TokenSource } from '../auth/token-source.ts';
import type { ConnectionConfig, EngineSettings } from '../config/types.ts';
import type { Acknowledgement, ConnectionState, DittoConnectionStatus } from '../engine/types.ts';
import type { OutboundMessage } from '../pipeline/outbound-message.ts';
import { systemClock, type Clock } from '../shared/clock.ts';
import { connectionMachine, dittoStatusOf, tokenEventOf } from './connection.machine.ts';
import { createHttpPublisher, type PublishOutcome, type PublisherDrainReport, type Timers } from './http-publisher.ts';
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
}

export interface ConnectionActor {
  readonly id: string;
  /** Opens a closed or failed connection. */
  open(): void;
  /** Closes: publishing pauses, queued events stay queued (route nothing to a closed connection). */
  close(): void;
  /** Hands a message to the publisher; false when dropped (queue full, draining). */
  enqueue(message: OutboundMessage): boolean;
  /** Stops intake, delivers what it can within `timeoutMs`, then stops the machine and the transport. */
  drain(timeoutMs: number): Promise<PublisherDrainReport>;
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
  const { connection, settings, transport, tokenSource, logger } = options;
  const clock = options.clock ?? systemClock;
  const publisher = createHttpPublisher({
    connection,
    settings: settings.httpPush,
    transport,
    tokenSource,
    unauthorizedStatuses: settings.oauth2.unauthorizedStatuses,
    clock,
    random: options.random,
    timers: options.timers,
    logger,
    onOutcome: options.onOutcome,
    onAcknowledgement: options.onAcknowledgement,
    onCircuit: (event) => actor.send(event.state === 'open' ? { type: 'CIRCUIT.OPEN', reason: event.reason } : { type: 'CIRCUIT.CLOSED' }),
  });
  const retryToken =
    options.retryToken ??
    (() => {
      // Failures surface through status$; here we only nudge the token actor.
      tokenSource?.get().catch(() => undefined);
    });
  // Effects go in through input: one shared machine definition for all connections.
  const actor = createActor(connectionMachine, {
    input: {
      connectionId: connection.id,
      effects: {
        pausePublisher: () => publisher.pause(),
        resumePublisher: () => publisher.resume(),
        retryToken: () => retryToken(),
      },
      hasCredentials: connection.credentials !== undefined && tokenSource !== undefined,
      startClosed: connection.connectionStatus === 'closed',
      now: () => clock.now(),
      failedRetryDelay: options.failedRetryDelay,
    },
  });

  const snapshot = (): ConnectionSnapshot => {
    const { value, context } = actor.getSnapshot();
    const state = value as ConnectionState;
    return {
      connectionId: connection.id,
      state,
      dittoStatus: dittoStatusOf(state, context),
      statusDetails: context.statusDetails,
      inStateSince: context.inStateSince,
      connectedSince: context.connectedSince,
      queueSize: publisher.queueSize,
      inFlight: publisher.inFlight,
    };
  };

  actor.start();
  const state$ = new BehaviorSubject<ConnectionSnapshot>(snapshot());
  actor.subscribe(() => {
    const next = snapshot();
    const last = state$.getValue();
    if (next.state !== last.state || next.statusDetails !== last.statusDetails) {
      logger?.info({ connectionId: connection.id, state: next.state, statusDetails: next.statusDetails }, 'connection state');
      state$.next(next);
    }
  });
  const tokenSubscription: Subscription | undefined = tokenSource?.status$.subscribe((status) => {
    const event = tokenEventOf(status, tokenSource.current() !== undefined);
    if (event) actor.send(event);
  });

  return {
    id: connection.id,
    open: () => actor.send({ type: 'OPEN' }),
    close: () => actor.send({ type: 'CLOSE' }),
    enqueue: (message) => publisher.enqueue(message),
    async drain(timeoutMs) {
      const report = await publisher.drain(timeoutMs);
      tokenSubscription?.unsubscribe();
      actor.stop();
      state$.complete();
      transport.close();
      return report;
    },
    snapshot,
    get queueSize() {
      return publisher.queueSize;
    },
    get inFlight() {
      return publisher.inFlight;
    },
    state$: state$.asObservable(),
  };
}
