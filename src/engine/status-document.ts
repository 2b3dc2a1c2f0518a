/**
 * Builds the Ditto-compatible connection status document (`GET /connections/{id}/status`) from
 * a connection actor's snapshot. A pure function: times come in as epoch ms and go out as ISO
 * strings; the token section copies only secret-free fields (never the token value).
 */
import type { ConnectionConfig } from '../config/types.ts';
import type { TokenStatus } from '../auth/token-source.ts';
import type { ConnectionState, ConnectionStatusDocument, DittoConnectionStatus } from './types.ts';

/** What {@link buildStatusDocument} needs from the connection actor. */
export interface StatusDocumentInput {
  readonly connection: ConnectionConfig;
  readonly state: ConnectionState;
  /** Ditto's live status, as the connection machine derives it (`dittoStatusOf`). */
  readonly dittoStatus: DittoConnectionStatus;
  /** Human-readable reason for the current state. */
  readonly statusDetails: string;
  /** Epoch ms the current state was entered. */
  readonly inStateSince: number;
  /** Epoch ms the connection last became open, if it did. */
  readonly connectedSince?: number;
  /** The credential's token lifecycle, for connections with credentials. */
  readonly token?: TokenStatus;
}

/**
 * The stable client name of a connection's `index`-th client, as shown in `clientStatus` and
 * `targetStatus`.
 *
 * @example clientName('shop', 0) // 'twinlink-shop-0'
 */
export function clientName(connectionId: string, index: number): string {
  return `twinlink-${connectionId}-${index}`;
}

const iso = (ms: number | undefined): string | null => (ms === undefined || !Number.isFinite(ms) ? null : new Date(ms).toISOString());

/**
 * The status document of one connection.
 *
 * @example
 * buildStatusDocument({ connection, state: 'authenticated', dittoStatus: 'open', statusDetails: 'Connected.',
 *   inStateSince: Date.now(), connectedSince: Date.now() }).liveStatus; // 'open'
 */
export function buildStatusDocument(input: StatusDocumentInput): ConnectionStatusDocument {
  const { connection, state, statusDetails, token } = input;
  const live = input.dittoStatus;
  const inStateSince = iso(input.inStateSince) ?? new Date(0).toISOString();
  const clients = Math.max(1, connection.clientCount);
  const clientStatus = Array.from({ length: clients }, (_, index) => ({
    type: 'client' as const,
    client: clientName(connection.id, index),
    state: live,
    status: live,
    statusDetails,
    inStateSince,
  }));
  const addresses = [...new Set(connection.targets.map((target) => target.address))];
  const targetStatus = addresses.map((address) => ({
    type: 'target' as const,
    client: clientName(connection.id, 0),
    address,
    status: live,
    statusDetails,
    inStateSince,
  }));
  return {
    connectionId: connection.id,
    // The desired status: what the config says, or the last open/close command.
    connectionStatus: state === 'closed' ? 'closed' : 'open',
    liveStatus: live,
    connectedSince: iso(input.connectedSince),
    clientStatus,
    sourceStatus: [],
    targetStatus,
    state,
    statusDetails,
    ...(token ? { token: tokenSection(token) } : {}),
  };
}

/** Copies field by field so nothing else a snapshot might carry (a token, a cause) slips through. */
function tokenSection(token: TokenStatus): NonNullable<ConnectionStatusDocument['token']> {
  const error = token.lastError;
  return {
    state: token.state,
    expiresAt: iso(token.expiresAt),
    lastRefresh: iso(token.lastRefresh),
    lastError: error
      ? {
          code: error.code,
          message: error.message,
          ...(error.error !== undefined ? { error: error.error } : {}),
          ...(error.errorDescription !== undefined ? { errorDescription: error.errorDescription } : {}),
          ...(error.errorUri !== undefined ? { errorUri: error.errorUri } : {}),
        }
      : null,
  };
}
