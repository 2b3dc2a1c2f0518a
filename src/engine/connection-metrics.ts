/**
 * Ditto's per-connection metrics document (`GET /connections/{id}/metrics`): for each target
 * address and for the connection as a whole, counts of `dispatched`, `filtered`, `mapped`,
 * `dropped`, `published` and `acknowledged` messages, split into `success` and `failure`, over the
 * last minute (`PT1M`), hour (`PT1H`) and day (`PT24H`, Ditto's spelling of one day), with
 * `lastMessageAt`.
 *
 * Counting is O(1) with bounded memory: each (address, type, level) keeps three ring buffers of
 * time buckets, with Ditto's resolutions (10 s for the minute, 1 min for the hour, 1 h for the
 * day). A window's count is the sum of the buckets that started within it, so it covers the
 * window plus the part of the current bucket that has elapsed.
 */
import { systemClock, type Clock } from '../shared/clock.ts';

/** The measured message types of a target, in Ditto's order. */
export const OUTBOUND_METRIC_TYPES = ['dispatched', 'filtered', 'mapped', 'dropped', 'published', 'acknowledged'] as const;
export type OutboundMetricType = (typeof OUTBOUND_METRIC_TYPES)[number];

/** The measurement windows: Ditto's keys, lengths and bucket resolutions. */
export const MEASUREMENT_WINDOWS = [
  { key: 'PT1M', windowMs: 60_000, resolutionMs: 10_000 },
  { key: 'PT1H', windowMs: 3_600_000, resolutionMs: 60_000 },
  { key: 'PT24H', windowMs: 86_400_000, resolutionMs: 3_600_000 },
] as const;

/** Counts of one (type, level) over the windows, and when the last such message was counted. */
export interface Measurement {
  readonly PT1M: number;
  readonly PT1H: number;
  readonly PT24H: number;
  /** ISO time of the last message counted, or null. */
  readonly lastMessageAt: string | null;
}

/** `success` and `failure` measurements of one message type. */
export interface MeasurementPair {
  readonly success: Measurement;
  readonly failure: Measurement;
}

/** One measurement pair per outbound message type. */
export type OutboundMeasurements = Readonly<Record<OutboundMetricType, MeasurementPair>>;

/** Ditto's `retrieveConnectionMetrics` response body. */
export interface ConnectionMetricsDocument {
  readonly connectionId: string;
  /** True when any failure was counted in the last day. */
  readonly containsFailures: boolean;
  readonly connectionMetrics: {
    /** http-push connections have no sources: always empty. */
    readonly inbound: Readonly<Record<string, MeasurementPair>>;
    /** All target addresses together. */
    readonly outbound: OutboundMeasurements;
  };
  readonly sourceMetrics: { readonly addressMetrics: Readonly<Record<string, never>> };
  readonly targetMetrics: { readonly addressMetrics: Readonly<Record<string, OutboundMeasurements>> };
}

/** Recording handle for one target address; hold it to skip the address lookup. */
export interface AddressMetricsRecorder {
  readonly address: string;
  /** Counts `n` (default 1) messages of `type` as a success or a failure. */
  record(type: OutboundMetricType, success: boolean, n?: number): void;
}

/** Options of {@link ConnectionMetrics}. */
export interface ConnectionMetricsOptions {
  /** Time source for the windows (default: the system clock). */
  readonly clock?: Clock;
  /** Target addresses (templates) listed with zero counts before any traffic. */
  readonly addresses?: readonly string[];
}

const TYPE_INDEX: Readonly<Record<OutboundMetricType, number>> = Object.freeze(
  Object.fromEntries(OUTBOUND_METRIC_TYPES.map((type, index) => [type, index])) as Record<OutboundMetricType, number>,
);

// All three windows of one measurement share two flat arrays; these are each window's slot range.
const SLOTS = MEASUREMENT_WINDOWS.map((w) => w.windowMs / w.resolutionMs);
const OFFSETS = SLOTS.map((_, i) => SLOTS.slice(0, i).reduce((a, b) => a + b, 0));
const TOTAL_SLOTS = SLOTS.reduce((a, b) => a + b, 0);

/** Bucketed sliding-window counter of one (address, type, level). */
class WindowedCount {
  /** Count per bucket. */
  private readonly counts = new Float64Array(TOTAL_SLOTS);
  /** Which bucket (time / resolution) each slot currently holds; -Infinity = never used. */
  private readonly buckets = new Float64Array(TOTAL_SLOTS).fill(Number.NEGATIVE_INFINITY);
  /** Epoch ms of the last message counted; -Infinity = none. */
  last = Number.NEGATIVE_INFINITY;

  add(now: number, n: number): void {
    // A clock stepping back must not overwrite newer buckets: count it as "now" of the last record.
    const at = now < this.last ? this.last : now;
    for (let w = 0; w < MEASUREMENT_WINDOWS.length; w++) {
      const window = MEASUREMENT_WINDOWS[w];
      if (window === undefined) continue;
      const bucket = Math.floor(at / window.resolutionMs);
      const slot = (OFFSETS[w] ?? 0) + (bucket % (SLOTS[w] ?? 1));
      if (this.buckets[slot] !== bucket) {
        this.buckets[slot] = bucket;
        this.counts[slot] = 0;
      }
      this.counts[slot] = (this.counts[slot] ?? 0) + n;
    }
    this.last = at;
  }

  /** Sum of window `w`'s buckets that started within the window ending at `now`. */
  sum(now: number, w: number): number {
    const window = MEASUREMENT_WINDOWS[w];
    const slots = SLOTS[w] ?? 0;
    const offset = OFFSETS[w] ?? 0;
    if (window === undefined) return 0;
    const current = Math.floor(Math.max(now, this.last) / window.resolutionMs);
    let total = 0;
    for (let s = offset; s < offset + slots; s++) {
      const bucket = this.buckets[s] ?? Number.NEGATIVE_INFINITY;
      if (bucket > current - slots && bucket <= current) total += this.counts[s] ?? 0;
    }
    return total;
  }
}

/** Raw numbers of one (type, level), summed across addresses for the connection aggregate. */
interface Totals {
  PT1M: number;
  PT1H: number;
  PT24H: number;
  last: number;
}

const emptyTotals = (): Totals => ({ PT1M: 0, PT1H: 0, PT24H: 0, last: Number.NEGATIVE_INFINITY });

function toMeasurement(totals: Totals): Measurement {
  return {
    PT1M: totals.PT1M,
    PT1H: totals.PT1H,
    PT24H: totals.PT24H,
    lastMessageAt: Number.isFinite(totals.last) ? new Date(totals.last).toISOString() : null,
  };
}

/**
 * The sliding-window message counts of one connection, rendered as Ditto's metrics document.
 *
 * @example
 * const metrics = new ConnectionMetrics('shop', { addresses: ['POST:/orders'] });
 * const orders = metrics.forAddress('POST:/orders');
 * orders.record('dispatched', true);
 * orders.record('published', false); // the target answered 500
 * metrics.toDocument().targetMetrics.addressMetrics['POST:/orders'].published.failure.PT1M; // 1
 */
export class ConnectionMetrics {
  readonly connectionId: string;
  private readonly clock: Clock;
  /** Per address: one lazily created counter per (type, level), index = type * 2 + (failure ? 1 : 0). */
  private readonly addresses = new Map<string, (WindowedCount | undefined)[]>();
  private readonly recorders = new Map<string, AddressMetricsRecorder>();

  constructor(connectionId: string, options: ConnectionMetricsOptions = {}) {
    this.connectionId = connectionId;
    this.clock = options.clock ?? systemClock;
    for (const address of options.addresses ?? []) this.addAddress(address);
  }

  /** Lists `address` (with zero counts until traffic arrives). */
  addAddress(address: string): void {
    if (!this.addresses.has(address)) this.addresses.set(address, new Array<WindowedCount | undefined>(OUTBOUND_METRIC_TYPES.length * 2).fill(undefined));
  }

  /** Forgets `address` and its counts (its target was removed from the connection). */
  removeAddress(address: string): void {
    this.addresses.delete(address);
    this.recorders.delete(address);
  }

  /** Counts `n` (default 1) messages of `type` for `address` as a success or a failure. */
  record(address: string, type: OutboundMetricType, success: boolean, n = 1): void {
    this.forAddress(address).record(type, success, n);
  }

  /** The recording handle for `address` (listing the address if it is new). */
  forAddress(address: string): AddressMetricsRecorder {
    let recorder = this.recorders.get(address);
    if (!recorder) {
      this.addAddress(address);
      const clock = this.clock;
      const addresses = this.addresses;
      recorder = {
        address,
        record(type: OutboundMetricType, success: boolean, n = 1): void {
          // Looked up on each call so reset() and removeAddress() take effect for held handles.
          let counts = addresses.get(address);
          if (!counts) {
            counts = new Array<WindowedCount | undefined>(OUTBOUND_METRIC_TYPES.length * 2).fill(undefined);
            addresses.set(address, counts);
          }
          const index = TYPE_INDEX[type] * 2 + (success ? 0 : 1);
          let count = counts[index];
          if (!count) {
            count = new WindowedCount();
            counts[index] = count;
          }
          count.add(clock.now(), n);
        },
      };
      this.recorders.set(address, recorder);
    }
    return recorder;
  }

  /** Clears every count (Ditto's `resetConnectionMetrics`); known addresses stay listed at zero. */
  reset(): void {
    for (const address of this.addresses.keys()) this.addresses.set(address, new Array<WindowedCount | undefined>(OUTBOUND_METRIC_TYPES.length * 2).fill(undefined));
  }

  /** Ditto's metrics document, as of the clock's now. */
  toDocument(): ConnectionMetricsDocument {
    const now = this.clock.now();
    const aggregate = Array.from({ length: OUTBOUND_METRIC_TYPES.length * 2 }, emptyTotals);
    const addressMetrics: Record<string, OutboundMeasurements> = {};
    let containsFailures = false;
    for (const [address, counts] of this.addresses) {
      const measurements: Partial<Record<OutboundMetricType, MeasurementPair>> = {};
      OUTBOUND_METRIC_TYPES.forEach((type, t) => {
        const pair: Totals[] = [];
        for (let level = 0; level < 2; level++) {
          const index = t * 2 + level;
          const count = counts[index];
          const totals = emptyTotals();
          if (count) {
            totals.PT1M = count.sum(now, 0);
            totals.PT1H = count.sum(now, 1);
            totals.PT24H = count.sum(now, 2);
            totals.last = count.last;
          }
          const sum = aggregate[index];
          if (sum) {
            sum.PT1M += totals.PT1M;
            sum.PT1H += totals.PT1H;
            sum.PT24H += totals.PT24H;
            sum.last = Math.max(sum.last, totals.last);
          }
          if (level === 1 && totals.PT24H > 0) containsFailures = true;
          pair.push(totals);
        }
        measurements[type] = { success: toMeasurement(pair[0] ?? emptyTotals()), failure: toMeasurement(pair[1] ?? emptyTotals()) };
      });
      addressMetrics[address] = measurements as OutboundMeasurements;
    }
    const outbound = Object.fromEntries(
      OUTBOUND_METRIC_TYPES.map((type, t) => [
        type,
        { success: toMeasurement(aggregate[t * 2] ?? emptyTotals()), failure: toMeasurement(aggregate[t * 2 + 1] ?? emptyTotals()) },
      ]),
    ) as OutboundMeasurements;
    return {
      connectionId: this.connectionId,
      containsFailures,
      connectionMetrics: { inbound: {}, outbound },
      sourceMetrics: { addressMetrics: {} },
      targetMetrics: { addressMetrics },
    };
  }
}
