/**
 * Ditto's connection logs (`GET /connections/{id}/logs`): the most recent entries of one
 * connection, kept in two bounded rings (successes and failures have separate capacities, so a
 * flood of successes never pushes out the failure an operator is looking for).
 *
 * Logging is O(1) and, once a ring is full, allocation-free: ring slots are reused in place.
 * Messages are built by the caller and should never contain secrets; as a second line of defence
 * every message is scrubbed of bearer tokens, Basic credentials and `client_secret`/token pairs
 * when it leaves the ring (reading is rare, logging is on the hot path).
 */
import { systemClock, type Clock } from '../shared/clock.ts';

/** What an entry is about: one target's message, or the connection itself (token, state). */
export type ConnectionLogCategory = 'target' | 'connection';
/** The pipeline step the entry reports (Ditto's log types), or `other`. */
export type ConnectionLogType = 'dispatched' | 'filtered' | 'mapped' | 'dropped' | 'published' | 'acknowledged' | 'other';
export type ConnectionLogLevel = 'success' | 'failure';

/** One entry as the logs document shows it. */
export interface ConnectionLogEntry {
  readonly correlationId: string;
  /** ISO time. */
  readonly timestamp: string;
  readonly category: ConnectionLogCategory;
  readonly type: ConnectionLogType;
  readonly level: ConnectionLogLevel;
  readonly message: string;
  /** The target address (template), for target entries. */
  readonly address?: string;
  /** The thing the message was about. */
  readonly entityId?: string;
}

/** What the engine logs; `timestamp` (epoch ms) defaults to the clock's now. */
export interface ConnectionLogInput extends Omit<ConnectionLogEntry, 'correlationId' | 'timestamp'> {
  readonly correlationId?: string;
  readonly timestamp?: number;
}

/** Ditto's `retrieveConnectionLogs` response body. */
export interface ConnectionLogsDocument {
  readonly connectionId: string;
  /** ISO time logging started (creation or the last `clear()`). */
  readonly enabledSince: string;
  /** twinlink logs continuously: always null. */
  readonly enabledUntil: string | null;
  /** Successes and failures merged, oldest first. */
  readonly connectionLogs: readonly ConnectionLogEntry[];
}

/** Options of {@link ConnectionLogs}. */
export interface ConnectionLogsOptions {
  readonly clock?: Clock;
  /** Success entries kept (default 10; 0 keeps none). */
  readonly successCapacity?: number;
  /** Failure entries kept (default 40; 0 keeps none). */
  readonly failureCapacity?: number;
}

/** Default ring capacities. */
export const DEFAULT_LOG_CAPACITY = Object.freeze({ success: 10, failure: 40 });

/** Ditto's correlation id for entries without one. */
export const NO_CORRELATION_ID = '<not-provided>';

const SECRET_PATTERNS: readonly [RegExp, string][] = [
  [/\b(Bearer|Basic)\s+[A-Za-z0-9\-._~+/]+=*/gi, '$1 ***'],
  [/\b(client_secret|access_token|refresh_token|id_token|password)=[^&\s"',;]*/gi, '$1=***'],
  [/("(?:client_secret|clientSecret|access_token|refresh_token|id_token|password)"\s*:\s*)"(?:[^"\\]|\\.)*"/gi, '$1"***"'],
];

/**
 * Removes credentials from a text: `Bearer …`/`Basic …` values, `client_secret=…` and token
 * pairs in form or query syntax, and the same keys as JSON string members.
 *
 * @example scrubSecrets('token endpoint said: client_secret=s3cr3t') // 'token endpoint said: client_secret=***'
 */
export function scrubSecrets(text: string): string {
  let scrubbed = text;
  for (const [pattern, replacement] of SECRET_PATTERNS) scrubbed = scrubbed.replace(pattern, replacement);
  return scrubbed;
}

/** A reusable ring slot; `seq` orders entries across both rings. */
interface Slot {
  seq: number;
  at: number;
  correlationId: string;
  category: ConnectionLogCategory;
  type: ConnectionLogType;
  message: string;
  address: string | undefined;
  entityId: string | undefined;
}

/** A fixed-capacity ring overwriting its oldest slot. */
class Ring {
  private readonly slots: Slot[] = [];
  private next = 0;
  constructor(readonly capacity: number, readonly level: ConnectionLogLevel) {}

  push(seq: number, at: number, input: ConnectionLogInput): void {
    if (this.capacity <= 0) return;
    let slot = this.slots[this.next];
    if (!slot) {
      slot = { seq, at, correlationId: '', category: input.category, type: input.type, message: '', address: undefined, entityId: undefined };
      this.slots[this.next] = slot;
    }
    slot.seq = seq;
    slot.at = at;
    slot.correlationId = input.correlationId ?? NO_CORRELATION_ID;
    slot.category = input.category;
    slot.type = input.type;
    slot.message = input.message;
    slot.address = input.address;
    slot.entityId = input.entityId;
    this.next = (this.next + 1) % this.capacity;
  }

  clear(): void {
    this.slots.length = 0;
    this.next = 0;
  }

  /** Slots, oldest first. */
  ordered(): Slot[] {
    return [...this.slots.slice(this.next), ...this.slots.slice(0, this.next)];
  }
}

function toEntry(slot: Slot, level: ConnectionLogLevel): ConnectionLogEntry {
  return {
    correlationId: slot.correlationId,
    timestamp: new Date(slot.at).toISOString(),
    category: slot.category,
    type: slot.type,
    level,
    message: scrubSecrets(slot.message),
    ...(slot.address !== undefined ? { address: slot.address } : {}),
    ...(slot.entityId !== undefined ? { entityId: slot.entityId } : {}),
  };
}

/**
 * The recent log entries of one connection.
 *
 * @example
 * const logs = new ConnectionLogs('shop');
 * logs.log({ category: 'target', type: 'published', level: 'failure', address: 'POST:/orders',
 *   correlationId: 'c-1', entityId: 'org.acme:pump-1', message: 'Target answered 503.' });
 * logs.toDocument().connectionLogs; // [{ correlationId: 'c-1', level: 'failure', … }]
 */
export class ConnectionLogs {
  readonly connectionId: string;
  private readonly clock: Clock;
  private readonly success: Ring;
  private readonly failure: Ring;
  private seq = 0;
  private enabledSince: number;

  constructor(connectionId: string, options: ConnectionLogsOptions = {}) {
    this.connectionId = connectionId;
    this.clock = options.clock ?? systemClock;
    this.success = new Ring(Math.max(0, Math.floor(options.successCapacity ?? DEFAULT_LOG_CAPACITY.success)), 'success');
    this.failure = new Ring(Math.max(0, Math.floor(options.failureCapacity ?? DEFAULT_LOG_CAPACITY.failure)), 'failure');
    this.enabledSince = this.clock.now();
  }

  /** Adds an entry, evicting the oldest of its level when that ring is full. */
  log(input: ConnectionLogInput): void {
    const ring = input.level === 'success' ? this.success : this.failure;
    ring.push(this.seq++, input.timestamp ?? this.clock.now(), input);
  }

  /** The kept entries, successes and failures merged, oldest first (by logging order). */
  entries(): ConnectionLogEntry[] {
    const merged = [
      ...this.success.ordered().map((slot) => [slot, 'success'] as const),
      ...this.failure.ordered().map((slot) => [slot, 'failure'] as const),
    ];
    merged.sort((a, b) => a[0].seq - b[0].seq);
    return merged.map(([slot, level]) => toEntry(slot, level));
  }

  /** Ditto's logs document. */
  toDocument(): ConnectionLogsDocument {
    return {
      connectionId: this.connectionId,
      enabledSince: new Date(this.enabledSince).toISOString(),
      enabledUntil: null,
      connectionLogs: this.entries(),
    };
  }

  /** Drops every entry (Ditto's `resetConnectionLogs`); `enabledSince` becomes now. */
  clear(): void {
    this.success.clear();
    this.failure.clear();
    this.enabledSince = this.clock.now();
  }
}
