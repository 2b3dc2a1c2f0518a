/**
 * Authorization stage: a target receives a signal only when its `authorizationContext` shares a
 * subject with the READ-granted subjects and none of the shared subjects is revoked.
 * Policy announcements go to targets whose context contains an announced subject (carried as
 * `readGrantedSubjects`); connection announcements go only to the connection they are about.
 */
import { filter, type OperatorFunction } from 'rxjs';
import type { Signal } from '../protocol/signal.ts';

/** The authorization facts of one target. */
export interface TargetAuthorization {
  readonly connectionId: string;
  readonly subjects: ReadonlySet<string>;
}

/**
 * Whether the target may receive `signal`.
 * @example isAuthorized(signal, { connectionId: 'c', subjects: new Set(['integration:ditto']) })
 */
export function isAuthorized(signal: Signal, target: TargetAuthorization): boolean {
  return authorizationOf(signal, target) === 'granted';
}

/**
 * The authorization verdict: `granted`; `revoked` when the target shares a granted subject whose
 * READ is revoked (the target is concerned but refused — counted as `unauthorized`); `none` when it
 * shares no granted subject at all (the signal is not for this target).
 */
export function authorizationOf(signal: Signal, target: TargetAuthorization): 'granted' | 'revoked' | 'none' {
  if (signal.type === 'connection.announcement') return signal.connectionId === target.connectionId ? 'granted' : 'none';
  let granted = false;
  for (const subject of signal.readGrantedSubjects) {
    if (!target.subjects.has(subject)) continue;
    if (signal.readRevokedSubjects.includes(subject)) return 'revoked';
    granted = true;
  }
  return granted ? 'granted' : 'none';
}

/** Operator: passes authorized items, reports the others. */
export function authorize<T extends { readonly signal: Signal }>(
  target: TargetAuthorization,
  onUnauthorized: (signal: Signal) => void = () => {},
): OperatorFunction<T, T> {
  return filter((item) => {
    if (isAuthorized(item.signal, target)) return true;
    onUnauthorized(item.signal);
    return false;
  });
}
