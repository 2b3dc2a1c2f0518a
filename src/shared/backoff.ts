/** Exponential backoff with full jitter and a cap: a pure function of the attempt and the policy. */

export interface BackoffPolicy {
  /** Delay ceiling for the first retry, ms. */
  readonly initialDelay: number;
  /** Upper bound for any delay, ms. */
  readonly maxDelay: number;
}

/**
 * Delay before retry number `attempt` (1-based): a uniformly random value in
 * `[0, min(maxDelay, initialDelay · 2^(attempt-1))]` ("full jitter", which spreads retries of many
 * clients instead of synchronising them). `random` returns [0, 1) and is injected for tests.
 * A server's `Retry-After` overrides the computed value but never exceeds `maxDelay`.
 *
 * @example backoffDelay(3, { initialDelay: 100, maxDelay: 10_000 }, () => 0.5) // 200
 */
export function backoffDelay(
  attempt: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
  retryAfterMs?: number,
): number {
  if (retryAfterMs !== undefined && retryAfterMs >= 0) return Math.min(retryAfterMs, policy.maxDelay);
  const exponent = Math.max(0, attempt - 1);
  // 2^exponent overflows to Infinity for huge attempts; min() keeps the cap.
  const ceiling = Math.min(policy.maxDelay, policy.initialDelay * 2 ** Math.min(exponent, 1023));
  return Math.floor(random() * ceiling);
}

/**
 * Parses an HTTP `Retry-After` header (delta-seconds or HTTP-date) into milliseconds from `now`.
 * Returns undefined when absent or unparseable.
 */
export function parseRetryAfter(value: string | string[] | undefined, now: number): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  if (raw === undefined) return undefined;
  const trimmed = raw.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
