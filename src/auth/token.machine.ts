/**
 * The lifecycle of one credential's access token:
 *
 * ```
 * idle ─START→ fetching ─ok→ valid ─(refresh time)→ refreshing ─ok→ valid
 *                 │  ↖          │ UNAUTHORIZED (current token)    │
 *                 │   └─────────┘                                 │ transient failure
 *                 ├─transient→ backoff ─(delay)→ fetching | refreshing (old token still serving)
 *                 └─rejected→ failed ─(misconfiguredRetryDelay | RETRY)→ fetching
 * ```
 * The token request is an invoked promise actor (`fetchToken`, provided by the token actor) that
 * receives an `AbortSignal`, so leaving a state aborts the request. Every timed step waits for
 * `context.wakeAt` through the clamped `untilWake` delay and re-arms itself when woken early:
 * timers never exceed Node's `setTimeout` limit (the seed's token expires in the year 3000).
 */
import { and, assign, emit, fromPromise, setup } from 'xstate';
import type { OAuth2Settings } from '../config/types.ts';
import { HostBlockedError, TokenEndpointError, TokenRejectedError, TwinlinkError } from '../errors.ts';
import { backoffDelay } from '../shared/backoff.ts';
import type { Clock } from '../shared/clock.ts';
import { isServable, refreshAt, timerDelay } from './refresh-schedule.ts';
import type { AccessToken, RefreshTrigger } from './token-source.ts';

/** What the machine needs to know; arrives as `input`. */
export interface TokenMachineInput {
  readonly settings: Pick<OAuth2Settings, 'maxClockSkew' | 'backoff' | 'misconfiguredRetryDelay'>;
  readonly clock: Clock;
  /** [0, 1), for jitter. */
  readonly random: () => number;
}

export interface TokenMachineContext extends TokenMachineInput {
  /** The token being served (possibly past its serving deadline while refreshing). Secret. */
  readonly token?: AccessToken;
  /** Epoch ms of the next timed step: the refresh (valid), the retry (backoff, failed). */
  readonly wakeAt: number;
  /** Consecutive transient failures, for the backoff. */
  readonly attempt: number;
  /** The last token-endpoint failure; cleared by a success. */
  readonly lastError?: TwinlinkError;
  /** Why the current token request started. */
  readonly trigger: RefreshTrigger;
}

export type TokenMachineEvent =
  /** Fetch the first token (eager start). */
  | { readonly type: 'START' }
  /** Leave `failed`/`backoff` now (connection reopened or reconfigured). */
  | { readonly type: 'RETRY' }
  /** A target refused the token with this value. */
  | { readonly type: 'UNAUTHORIZED'; readonly value: string };

/** Emitted when a refresh episode starts (backoff retries within it are not counted again). */
export type TokenMachineEmitted = { readonly type: 'refresh'; readonly trigger: RefreshTrigger };

/** Any failure of the fetch actor as a coded error. */
export function asTokenError(error: unknown): TwinlinkError {
  if (error instanceof TwinlinkError) return error;
  return new TokenEndpointError(`token request failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
}

/**
 * The token machine. Provide the `fetchToken` actor (`machine.provide({ actors: { fetchToken } })`);
 * the default one fails.
 *
 * @example
 * const actor = createActor(tokenMachine.provide({ actors: { fetchToken: fromPromise(({ signal }) => fetch(signal)) } }),
 *   { input: { settings, clock: systemClock, random: Math.random } });
 * actor.start(); actor.send({ type: 'START' });
 */
export const tokenMachine = setup({
  types: {
    context: {} as TokenMachineContext,
    events: {} as TokenMachineEvent,
    input: {} as TokenMachineInput,
    emitted: {} as TokenMachineEmitted,
  },
  actors: {
    fetchToken: fromPromise<AccessToken>(async () => {
      throw new TokenEndpointError('no token fetcher provided to the token machine');
    }),
  },
  delays: {
    untilWake: ({ context }) => timerDelay(context.wakeAt, context.clock.now()),
  },
  guards: {
    wakeDue: ({ context }) => context.clock.now() >= context.wakeAt,
    hasServableToken: ({ context }) =>
      context.token !== undefined && isServable(context.token, context.clock.now(), context.settings.maxClockSkew),
    isCurrentToken: ({ context, event }) => event.type === 'UNAUTHORIZED' && context.token?.value === event.value,
    // A token endpoint refused by engine host filtering will not become allowed by retrying soon
    // (an unresolvable one may: DNS can come back).
    rejected: (_, params: { error: unknown }) =>
      params.error instanceof TokenRejectedError || (params.error instanceof HostBlockedError && params.error.rule !== 'unresolvable'),
  },
  actions: {
    storeToken: assign(({ context }, params: { token: AccessToken }) => ({
      token: params.token,
      attempt: 0,
      lastError: undefined,
      wakeAt: refreshAt(params.token, context.settings.maxClockSkew, context.random),
    })),
    recordFailure: assign(({ context }, params: { error: unknown }) => {
      const error = asTokenError(params.error);
      const attempt = context.attempt + 1;
      const retryAfterMs = error instanceof TokenEndpointError ? error.retryAfterMs : undefined;
      const delay = backoffDelay(attempt, context.settings.backoff, context.random, retryAfterMs);
      return { attempt, lastError: error, wakeAt: context.clock.now() + delay };
    }),
    recordRejection: assign(({ context }, params: { error: unknown }) => ({
      // Misconfigured credentials: stop serving whatever token we had, wait long.
      token: undefined,
      attempt: 0,
      lastError: asTokenError(params.error),
      wakeAt: context.clock.now() + context.settings.misconfiguredRetryDelay,
    })),
    dropToken: assign({ token: undefined }),
    setTrigger: assign((_, params: { trigger: RefreshTrigger }) => ({ trigger: params.trigger })),
    emitRefresh: emit(({ context }) => ({ type: 'refresh' as const, trigger: context.trigger })),
  },
}).createMachine({
  id: 'token',
  context: ({ input }) => ({ ...input, wakeAt: 0, attempt: 0, trigger: 'initial' }),
  initial: 'idle',
  states: {
    idle: {
      on: {
        START: { target: 'fetching', actions: [{ type: 'setTrigger', params: { trigger: 'initial' } }, 'emitRefresh'] },
        RETRY: { target: 'fetching', actions: [{ type: 'setTrigger', params: { trigger: 'initial' } }, 'emitRefresh'] },
      },
    },
    fetching: {
      invoke: {
        src: 'fetchToken',
        onDone: { target: 'valid', actions: { type: 'storeToken', params: ({ event }) => ({ token: event.output }) } },
        onError: [
          {
            guard: { type: 'rejected', params: ({ event }) => ({ error: event.error }) },
            target: 'failed',
            actions: { type: 'recordRejection', params: ({ event }) => ({ error: event.error }) },
          },
          { target: 'backoff', actions: { type: 'recordFailure', params: ({ event }) => ({ error: event.error }) } },
        ],
      },
    },
    valid: {
      after: {
        untilWake: [
          {
            guard: and(['wakeDue', 'hasServableToken']),
            target: 'refreshing',
            actions: [{ type: 'setTrigger', params: { trigger: 'preemptive' } }, 'emitRefresh'],
          },
          {
            // Woken past the serving deadline (a suspended process, a stalled loop): no token to serve.
            guard: 'wakeDue',
            target: 'fetching',
            actions: ['dropToken', { type: 'setTrigger', params: { trigger: 'expired' } }, 'emitRefresh'],
          },
          // Woken early by the timer clamp: wait again.
          { target: 'valid', reenter: true },
        ],
      },
      on: {
        UNAUTHORIZED: {
          guard: 'isCurrentToken',
          target: 'fetching',
          actions: ['dropToken', { type: 'setTrigger', params: { trigger: 'unauthorized' } }, 'emitRefresh'],
        },
      },
    },
    refreshing: {
      invoke: {
        src: 'fetchToken',
        onDone: { target: 'valid', actions: { type: 'storeToken', params: ({ event }) => ({ token: event.output }) } },
        onError: [
          {
            guard: { type: 'rejected', params: ({ event }) => ({ error: event.error }) },
            target: 'failed',
            actions: { type: 'recordRejection', params: ({ event }) => ({ error: event.error }) },
          },
          // Transient: the old token keeps serving while it is valid.
          { target: 'backoff', actions: { type: 'recordFailure', params: ({ event }) => ({ error: event.error }) } },
        ],
      },
      on: {
        // The request in flight will bring the replacement: just stop serving the refused token.
        UNAUTHORIZED: { guard: 'isCurrentToken', actions: 'dropToken' },
      },
    },
    backoff: {
      after: {
        untilWake: [
          { guard: and(['wakeDue', 'hasServableToken']), target: 'refreshing' },
          { guard: 'wakeDue', target: 'fetching', actions: 'dropToken' },
          { target: 'backoff', reenter: true },
        ],
      },
      on: {
        RETRY: [{ guard: 'hasServableToken', target: 'refreshing' }, { target: 'fetching', actions: 'dropToken' }],
        UNAUTHORIZED: { guard: 'isCurrentToken', actions: 'dropToken' },
      },
    },
    failed: {
      after: {
        untilWake: [
          { guard: 'wakeDue', target: 'fetching', actions: [{ type: 'setTrigger', params: { trigger: 'initial' } }, 'emitRefresh'] },
          { target: 'failed', reenter: true },
        ],
      },
      on: {
        RETRY: { target: 'fetching', actions: [{ type: 'setTrigger', params: { trigger: 'initial' } }, 'emitRefresh'] },
      },
    },
  },
});
