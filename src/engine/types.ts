/**
 * The engine's public surface: what an embedding gateway (and our reference gateway) uses.
 * Documents returned here are secret-free and JSON-serialisable.
 */
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Observable, Subscription } from 'rxjs';
import type { ConnectionConfig, TwinlinkConfig, EngineSettings } from '../config/types.ts';
import type { TransportFactory } from '../connection/transport.ts';
import type { Clock } from '../shared/clock.ts';
import type { JsonObject, Signal } from '../protocol/signal.ts';
import type { MapperRegistry } from '../pipeline/payload-mapper.ts';

/** Machine states of a connection actor. */
export type ConnectionState = 'closed' | 'connecting' | 'authenticated' | 'refreshing' | 'backoff' | 'failed';

/** Ditto's connection status values. */
export type DittoConnectionStatus = 'open' | 'closed' | 'failed' | 'misconfigured' | 'unknown';

/** Ditto-compatible status document, plus twinlink's `state` and `token`. */
export interface ConnectionStatusDocument {
  readonly connectionId: string;
  readonly connectionStatus: DittoConnectionStatus;
  readonly liveStatus: DittoConnectionStatus;
  /** ISO time the connection last became open, or null. */
  readonly connectedSince: string | null;
  /** `status` is Ditto's key for the client state; `state` carries the same value. */
  readonly clientStatus: readonly { readonly type?: 'client'; readonly client: string; readonly state: DittoConnectionStatus; readonly status?: DittoConnectionStatus; readonly statusDetails: string; readonly inStateSince: string }[];
  readonly sourceStatus: readonly unknown[];
  readonly targetStatus: readonly { readonly type?: 'target'; readonly client: string; readonly address: string; readonly status: DittoConnectionStatus; readonly statusDetails: string; readonly inStateSince: string }[];
  /** The live machine state. */
  readonly state: ConnectionState;
  /** Human-readable reason for the current state. */
  readonly statusDetails: string;
  /** Token lifecycle, when the connection has credentials; never the token itself. */
  readonly token?: {
    readonly state: string;
    readonly expiresAt: string | null;
    readonly lastRefresh: string | null;
    readonly lastError: { readonly code: string; readonly message: string; readonly error?: string; readonly errorDescription?: string; readonly errorUri?: string } | null;
  };
}

/** An acknowledgement issued by a target with `issuedAcknowledgementLabel`. */
export interface Acknowledgement {
  readonly label: string;
  readonly connectionId: string;
  readonly correlationId: string;
  /** Address template of the target that issued it. */
  readonly targetAddress?: string;
  /** HTTP status of the target's response; 2xx is positive. Failures without a response use 500/503/408. */
  readonly status: number;
  readonly success: boolean;
  readonly entityId?: string;
  readonly payload?: unknown;
}

/** What `stop()` reports after draining: every event queued or in flight at the start lands in one. */
export interface DrainReport {
  /** Published during the drain. */
  readonly delivered: number;
  /** Failed for good during the drain (non-retryable status, retries exhausted). */
  readonly failed: number;
  /** Dropped: still queued or in flight at the deadline, or arriving after intake stopped. */
  readonly undelivered: number;
}

/** Looks up extra fields (`extraFields=attributes/x,...`) for an entity; host-provided. */
export type ExtraFieldsLookup = (thingId: string, fields: readonly string[]) => JsonObject | undefined;

export interface EngineOptions {
  /** A whole loaded config (`loadConfig`), or … */
  readonly config?: TwinlinkConfig;
  /** … just connections, with `settings` (defaults apply when absent). */
  readonly connections?: readonly ConnectionConfig[];
  readonly settings?: EngineSettings;
  readonly logger?: Logger;
  readonly registry?: Registry;
  readonly transport?: TransportFactory;
  readonly clock?: Clock;
  /** [0,1) random source for jitter. */
  readonly random?: () => number;
  readonly extraFields?: ExtraFieldsLookup;
  /** Payload mappers by name; default: the process-wide registry (`Ditto`, `Normalized`, `registerMapper`). */
  readonly mappers?: MapperRegistry;
}

export interface Engine {
  start(): Promise<void>;
  /** Stops intake, drains queues and in-flight requests within `drainTimeout` ms, then stops. */
  stop(options?: { drainTimeout?: number }): Promise<DrainReport>;
  /** Routes one signal to every matching, authorized target. */
  dispatch(signal: Signal): void;
  /** Dispatches every signal of a stream until the subscription ends. */
  connect(signals$: Observable<Signal>): Subscription;
  addConnection(definition: ConnectionConfig): Promise<void>;
  updateConnection(definition: ConnectionConfig): Promise<void>;
  removeConnection(id: string): Promise<void>;
  open(id: string): Promise<void>;
  close(id: string): Promise<void>;
  status(id: string): ConnectionStatusDocument;
  connections(): readonly ConnectionConfig[];
  connection(id: string): ConnectionConfig | undefined;
  readonly statusChanges$: Observable<ConnectionStatusDocument>;
  readonly acknowledgements$: Observable<Acknowledgement>;
  readonly registry: Registry;
}
