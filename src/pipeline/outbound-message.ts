/**
 * What the routing/mapping pipeline hands to a connection's publisher: one fully resolved HTTP
 * request for one target, plus the bookkeeping needed to account for it.
 */
import type { HttpVerb } from '../config/types.ts';
import type { Signal } from '../protocol/signal.ts';

export interface OutboundMessage {
  readonly connectionId: string;
  /** Index of the target in the connection's `targets`. */
  readonly targetIndex: number;
  /** The target's address template as configured (a bounded metric label). */
  readonly targetAddress: string;
  readonly method: HttpVerb;
  /** Resolved path and query, appended to the connection `uri` (path prefix kept). */
  readonly pathAndQuery: string;
  /** Headers from the mapping and `headerMapping`, values free of CR/LF. Content-Type included. */
  readonly headers: Readonly<Record<string, string>>;
  /** Request body; absent when the method is in `omitRequestBody`. */
  readonly body?: string;
  readonly correlationId: string;
  /** Resolved `issuedAcknowledgementLabel`, when the target issues acknowledgements. */
  readonly acknowledgementLabel?: string;
  /** The signal this message was built from (for logs: thing id, topic). */
  readonly signal: Signal;
}
