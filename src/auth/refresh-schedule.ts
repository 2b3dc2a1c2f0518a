/**
 * When a token is served and when its refresh starts: pure functions of the token's lifetime,
 * `engine.oauth2.maxClockSkew` and a random number (jitter), table-tested.
 *
 * - Serving: a token is handed out only while `now < expiresAt - min(skew, lifetime/4)`, so no
 *   request leaves with a token at or past its expiry even with some clock skew, and a token
 *   shorter than the skew is still usable for three quarters of its life.
 * - Refresh: starts at `expiresAt - margin - jitter` with `margin = min(max(2·skew, lifetime/10),
 *   lifetime/2)` and `jitter` uniform in `[0, margin/2)`. The margin is at least twice the serving
 *   cut-off, so the old token keeps serving while the new one is fetched; capping it at half the
 *   lifetime means a token shorter than the skew does not cause a refresh loop; the jitter keeps
 *   many connections from refreshing in lockstep.
 */
import type { AccessToken } from './token-source.ts';

/** Node's `setTimeout` fires at once for delays above this (about 24.8 days): never ask for more. */
export const MAX_TIMER_DELAY = 2 ** 31 - 1;

function lifetime(token: AccessToken): number {
  return Math.max(0, token.expiresAt - token.obtainedAt);
}

/** Epoch ms from which `token` is no longer served. */
export function servingDeadline(token: AccessToken, maxClockSkew: number): number {
  return token.expiresAt - Math.min(maxClockSkew, lifetime(token) / 4);
}

/** Whether `token` may be put on a request at `now`. */
export function isServable(token: AccessToken, now: number, maxClockSkew: number): boolean {
  return now < servingDeadline(token, maxClockSkew);
}

/**
 * Epoch ms at which the refresh of `token` starts; `random` returns [0, 1).
 *
 * @example refreshAt({ value: 't', obtainedAt: 0, expiresAt: 3_600_000 }, 60_000, () => 0) // 3_240_000
 */
export function refreshAt(token: AccessToken, maxClockSkew: number, random: () => number): number {
  const life = lifetime(token);
  const margin = Math.min(Math.max(2 * maxClockSkew, life / 10), life / 2);
  return Math.floor(token.expiresAt - margin - random() * (margin / 2));
}

/**
 * A `setTimeout` delay towards `at`, clamped to `[0, MAX_TIMER_DELAY]`. A timer that fires before
 * `at` (because of the clamp) must check and wait again rather than act.
 */
export function timerDelay(at: number, now: number): number {
  return Math.min(MAX_TIMER_DELAY, Math.max(0, at - now));
}
