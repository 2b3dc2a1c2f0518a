/**
 * Metric names, label names and label values, as constants: dashboards and alert rules are
 * written against these strings, so they change only by addition. Every name carries the
 * `twinlink_` prefix and Prometheus' unit/type suffixes (`_total`, `_seconds`); every label value
 * comes from a bounded set (connection id, target address *template*, the enums below).
 */
import type { ConnectionState } from '../engine/types.ts';
import type { RefreshTrigger } from '../auth/token-source.ts';

/** Prefix of every twinlink metric, including the Node process metrics. */
export const METRIC_PREFIX = 'twinlink_';

/** Names of the metrics twinlink registers. */
export const MetricName = {
  /** Gauge `{connection,state}`: 1 for the connection's current machine state, 0 for the others. */
  CONNECTION_STATE: 'twinlink_connection_state',
  /** Counter `{connection,target,outcome}`: outbound messages by pipeline outcome. */
  OUTBOUND_MESSAGES: 'twinlink_outbound_messages_total',
  /** Histogram `{connection,target,status_class}`: duration of one HTTP publish attempt. */
  PUBLISH_DURATION: 'twinlink_publish_duration_seconds',
  /** Gauge `{connection}`: messages waiting in the connection's queue. */
  QUEUE_SIZE: 'twinlink_queue_size',
  /** Gauge `{connection}`: HTTP requests to targets currently in flight. */
  IN_FLIGHT_REQUESTS: 'twinlink_in_flight_requests',
  /** Counter `{connection,outcome}`: token requests, `success` or the error code. */
  TOKEN_REQUESTS: 'twinlink_token_requests_total',
  /** Counter `{connection,trigger}`: token refreshes started, by why. */
  TOKEN_REFRESHES: 'twinlink_token_refreshes_total',
  /** Gauge `{connection}`: seconds until the current token expires (negative once expired). */
  TOKEN_EXPIRY: 'twinlink_token_expiry_seconds',
  /** Histogram `{connection}`: duration of token endpoint requests. */
  TOKEN_REQUEST_DURATION: 'twinlink_token_request_duration_seconds',
} as const;
export type MetricName = (typeof MetricName)[keyof typeof MetricName];

/** Label names. */
export const LabelName = {
  CONNECTION: 'connection',
  TARGET: 'target',
  OUTCOME: 'outcome',
  STATUS_CLASS: 'status_class',
  STATE: 'state',
  TRIGGER: 'trigger',
} as const;

/**
 * Outcomes of `twinlink_outbound_messages_total`. `dispatched` counts every event that reached a
 * target; `filtered`, `unauthorized`, `dropped`, `published` and `failed` are terminal (each
 * dispatched event ends in exactly one); `mapped`, `retried` and `acknowledged` are intermediate.
 */
export const OUTBOUND_OUTCOMES = [
  'dispatched',
  'filtered',
  'unauthorized',
  'mapped',
  'published',
  'failed',
  'dropped',
  'retried',
  'acknowledged',
] as const;
export type OutboundOutcome = (typeof OUTBOUND_OUTCOMES)[number];

/** The outcomes that end an event's life at a target: `dispatched` = the sum of these. */
export const TERMINAL_OUTCOMES = ['filtered', 'unauthorized', 'dropped', 'published', 'failed'] as const satisfies readonly OutboundOutcome[];
export type TerminalOutcome = (typeof TERMINAL_OUTCOMES)[number];

/** Position of each outcome in {@link OUTBOUND_OUTCOMES}; used to index per-series arrays. */
export const OUTCOME_INDEX: Readonly<Record<OutboundOutcome, number>> = Object.freeze(
  Object.fromEntries(OUTBOUND_OUTCOMES.map((outcome, index) => [outcome, index])) as Record<OutboundOutcome, number>,
);

/** Connection machine states, the values of `twinlink_connection_state{state}`. */
export const CONNECTION_STATES = [
  'closed',
  'connecting',
  'authenticated',
  'refreshing',
  'backoff',
  'failed',
] as const satisfies readonly ConnectionState[];

/** Why a token refresh started, the values of `twinlink_token_refreshes_total{trigger}`. */
export const REFRESH_TRIGGERS = ['initial', 'preemptive', 'expired', 'unauthorized'] as const satisfies readonly RefreshTrigger[];

/** `twinlink_token_requests_total{outcome}` for a token obtained; failures use the error code. */
export const TOKEN_SUCCESS = 'success';

/** Status classes of `twinlink_publish_duration_seconds`; `error` = no HTTP response (network, timeout). */
export const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx', 'error'] as const;
export type StatusClass = (typeof STATUS_CLASSES)[number];

/**
 * The status class of an HTTP status, or `error` when there was no response.
 *
 * @example statusClassOf(204) // '2xx'
 * @example statusClassOf(undefined) // 'error'
 */
export function statusClassOf(status: number | undefined): StatusClass {
  if (status === undefined || !Number.isInteger(status) || status < 100 || status > 599) return 'error';
  return STATUS_CLASSES[Math.floor(status / 100) - 1] ?? 'error';
}

/** Buckets of `twinlink_publish_duration_seconds`: loopback (~1 ms) to slow WAN (30 s). */
export const PUBLISH_DURATION_BUCKETS: readonly number[] = Object.freeze([
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
]);

/** Buckets of `twinlink_token_request_duration_seconds` (token requests time out after 10 s by default). */
export const TOKEN_REQUEST_DURATION_BUCKETS: readonly number[] = Object.freeze([
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
]);
