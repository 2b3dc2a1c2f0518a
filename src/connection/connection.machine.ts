/**
 * The state of one connection: the single source of truth for its status. It reacts to the token
 * actor (`TOKEN.*`, mapped from `TokenSource.status$` by {@link tokenEventOf}), to the publisher's
 * circuit breaker (`CIRCUIT.*`) and to commands (`OPEN`, `CLOSE`, `RECONFIGURE`). Side effects are
 * named actions (`pausePublisher`, `resumePublisher`, `retryToken`) calling the `effects` of `input`.
 *
 * ```
 *  closed ──OPEN──▶ connecting ──TOKEN.VALID (or no credentials)──▶ authenticated ⇄ refreshing
 *                       │                                               │    ▲
 *                       └──TOKEN.BACKOFF / CIRCUIT.OPEN──▶ backoff ◀────┘    │ TOKEN.VALID / CIRCUIT.CLOSED
 *                       └──TOKEN.FAILED──▶ failed ──OPEN / RECONFIGURE / retry delay──▶ connecting
 * ```
 */
import { assign, setup } from 'xstate';
import type { TokenStatus } from '../auth/token-source.ts';
import type { ConnectionState, DittoConnectionStatus } from '../engine/types.ts';
import { ErrorCode } from '../errors.ts';

/** A secret-free token failure, as in {@link TokenStatus.lastError}. */
export interface TokenProblem {
  readonly code: string;
  readonly message: string;
  readonly error?: string;
  readonly errorDescription?: string;
  readonly errorUri?: string;
}

export type ConnectionEvent =
  | { readonly type: 'OPEN' }
  | { readonly type: 'CLOSE' }
  /** The definition changed; the creator has already swapped token source and publisher. */
  | { readonly type: 'RECONFIGURE'; readonly hasCredentials: boolean; readonly startClosed?: boolean }
  | { readonly type: 'TOKEN.VALID' }
  /** A token is being renewed while the old one still serves. */
  | { readonly type: 'TOKEN.REFRESHING' }
  /** No usable token and the token endpoint failed transiently; the token actor retries. */
  | { readonly type: 'TOKEN.BACKOFF'; readonly problem?: TokenProblem }
  /** The token endpoint refused the credentials or failed permanently. */
  | { readonly type: 'TOKEN.FAILED'; readonly problem: TokenProblem }
  | { readonly type: 'CIRCUIT.OPEN'; readonly reason?: string }
  | { readonly type: 'CIRCUIT.CLOSED' };

/**
 * Side effects the machine triggers on the publisher and token actor. Passed through `input` so
 * every connection shares one machine definition (a `.provide()` per connection builds a whole new
 * machine, about 23 KB of heap each).
 */
export interface ConnectionEffects {
  /** Stop starting requests, keep queueing. */
  pausePublisher(): void;
  resumePublisher(): void;
  /** Ask the token actor to try again now. */
  retryToken(): void;
}

export interface ConnectionMachineInput {
  readonly connectionId: string;
  /** What the machine's actions do; absent: nothing (or supply the actions with `.provide()`). */
  readonly effects?: ConnectionEffects;
  /** OAuth credentials configured (token states apply). */
  readonly hasCredentials: boolean;
  /** `connectionStatus: closed`. */
  readonly startClosed: boolean;
  /** Epoch ms; inject the engine clock (or the SimulatedClock's `now`). */
  readonly now: () => number;
  /** When set, `failed` retries by itself after this many ms (else it waits for OPEN/RECONFIGURE). */
  readonly failedRetryDelay?: number;
}

export interface ConnectionContext {
  readonly connectionId: string;
  readonly effects?: ConnectionEffects;
  readonly hasCredentials: boolean;
  readonly startClosed: boolean;
  readonly now: () => number;
  readonly failedRetryDelay?: number;
  /** Human-readable reason for the current state. */
  readonly statusDetails: string;
  /** Epoch ms the current state was entered. */
  readonly inStateSince: number;
  /** Epoch ms publishing (re)started, while connected. */
  readonly connectedSince?: number;
  /** The last token failure (for `failed`: misconfigured when the credentials were rejected). */
  readonly problem?: TokenProblem;
  /** A usable token exists (always true without credentials). */
  readonly tokenUsable: boolean;
  /** The publisher's circuit is open. */
  readonly circuitOpen: boolean;
  readonly circuitReason?: string;
}

/** `invalid_client: Client authentication failed` (RFC 6749 §5.2), else the error message. */
export function describeProblem(problem: TokenProblem | undefined): string {
  if (!problem) return 'unknown error';
  if (problem.error) return problem.errorDescription ? `${problem.error}: ${problem.errorDescription}` : problem.error;
  return problem.message;
}

/** The `statusDetails` text of a state. */
function detailsOf(state: ConnectionState, context: ConnectionContext): string {
  switch (state) {
    case 'closed':
      return 'closed';
    case 'connecting':
      return 'acquiring access token';
    case 'authenticated':
      return context.hasCredentials ? 'publishing with a valid access token' : 'publishing';
    case 'refreshing':
      return 'refreshing the access token; publishing continues';
    case 'backoff':
      return !context.tokenUsable
        ? `token endpoint unavailable, retrying: ${describeProblem(context.problem)}`
        : `target failing, publishing paused until a probe succeeds${context.circuitReason ? `: ${context.circuitReason}` : ''}`;
    case 'failed':
      return `access token refused: ${describeProblem(context.problem)}`;
  }
}

/**
 * The connection state machine. Its actions `pausePublisher` (stop starting requests, keep
 * queueing), `resumePublisher` and `retryToken` (ask the token actor to try again now) call the
 * `effects` given in `input`; they can also be replaced with `.provide()`.
 *
 * @example
 * const actor = createActor(connectionMachine, { input: { connectionId: 'c', hasCredentials: true,
 *   startClosed: false, now: Date.now, effects: { pausePublisher: () => publisher.pause(),
 *   resumePublisher: () => publisher.resume(), retryToken: () => {} } } }).start();
 */
export const connectionMachine = setup({
  types: {
    context: {} as ConnectionContext,
    events: {} as ConnectionEvent,
    input: {} as ConnectionMachineInput,
  },
  actions: {
    pausePublisher: ({ context }) => context.effects?.pausePublisher(),
    resumePublisher: ({ context }) => context.effects?.resumePublisher(),
    retryToken: ({ context }) => context.effects?.retryToken(),
    /** Records when and why the state was entered. */
    stamp: assign(({ context }, params: { state: ConnectionState }) => ({ statusDetails: detailsOf(params.state, context), inStateSince: context.now() })),
    markConnected: assign(({ context }) => ({ connectedSince: context.connectedSince ?? context.now() })),
    clearConnected: assign({ connectedSince: undefined }),
    tokenUsable: assign({ tokenUsable: true }),
    tokenUnusable: assign({ tokenUsable: ({ context }) => !context.hasCredentials }),
    rememberProblem: assign({
      problem: ({ context, event }) => (event.type === 'TOKEN.BACKOFF' || event.type === 'TOKEN.FAILED' ? (event.problem ?? context.problem) : context.problem),
    }),
    circuitOpened: assign({
      circuitOpen: true,
      circuitReason: ({ event }) => (event.type === 'CIRCUIT.OPEN' ? event.reason : undefined),
    }),
    circuitClosed: assign({ circuitOpen: false, circuitReason: undefined }),
    applyDefinition: assign(({ context, event }) =>
      event.type === 'RECONFIGURE'
        ? { hasCredentials: event.hasCredentials, startClosed: event.startClosed ?? false, tokenUsable: !event.hasCredentials, problem: undefined, circuitOpen: false }
        : context,
    ),
  },
  guards: {
    startsClosed: ({ context }) => context.startClosed,
    withoutCredentials: ({ context }) => !context.hasCredentials,
    circuitOpen: ({ context }) => context.circuitOpen,
    tokenUsable: ({ context }) => context.tokenUsable,
    retriesWhenFailed: ({ context }) => context.failedRetryDelay !== undefined,
  },
  delays: {
    // 0 when disabled: the guard then keeps the machine in `failed`.
    failedRetry: ({ context }) => context.failedRetryDelay ?? 0,
  },
}).createMachine({
  id: 'connection',
  context: ({ input }) => ({
    connectionId: input.connectionId,
    ...(input.effects ? { effects: input.effects } : {}),
    hasCredentials: input.hasCredentials,
    startClosed: input.startClosed,
    now: input.now,
    failedRetryDelay: input.failedRetryDelay,
    statusDetails: '',
    inStateSince: input.now(),
    tokenUsable: !input.hasCredentials,
    circuitOpen: false,
  }),
  initial: 'init',
  on: {
    CLOSE: { target: '.closed' },
    RECONFIGURE: { target: '.init', actions: ['applyDefinition', 'clearConnected'] },
  },
  states: {
    // Transient: decides the first resting state from the definition.
    init: {
      always: [{ guard: 'startsClosed', target: 'closed' }, { target: 'connecting' }],
    },
    closed: {
      entry: ['pausePublisher', 'clearConnected', { type: 'stamp', params: { state: 'closed' } }],
      on: {
        OPEN: { target: 'connecting', actions: 'retryToken' },
        CLOSE: {},
        'TOKEN.VALID': { actions: 'tokenUsable' },
        'TOKEN.REFRESHING': { actions: 'tokenUsable' },
        'TOKEN.BACKOFF': { actions: ['tokenUnusable', 'rememberProblem'] },
        'TOKEN.FAILED': { actions: ['tokenUnusable', 'rememberProblem'] },
        'CIRCUIT.OPEN': { actions: 'circuitOpened' },
        'CIRCUIT.CLOSED': { actions: 'circuitClosed' },
      },
    },
    connecting: {
      entry: ['pausePublisher', { type: 'stamp', params: { state: 'connecting' } }],
      // Without credentials, or reopened while the token actor still holds a valid token (it will
      // not announce TOKEN.VALID again), there is nothing to wait for.
      always: { guard: 'tokenUsable', target: 'authenticated' },
      on: {
        'TOKEN.VALID': { target: 'authenticated', actions: 'tokenUsable' },
        'TOKEN.BACKOFF': { target: 'backoff', actions: ['tokenUnusable', 'rememberProblem', 'pausePublisher'] },
        'TOKEN.FAILED': { target: 'failed', actions: ['tokenUnusable', 'rememberProblem'] },
        'CIRCUIT.OPEN': { actions: 'circuitOpened' },
        'CIRCUIT.CLOSED': { actions: 'circuitClosed' },
      },
    },
    authenticated: {
      entry: [
        'markConnected',
        'resumePublisher',
        { type: 'stamp', params: { state: 'authenticated' } },
      ],
      always: { guard: 'circuitOpen', target: 'backoff' },
      on: {
        'TOKEN.REFRESHING': { target: 'refreshing', actions: 'tokenUsable' },
        'TOKEN.BACKOFF': { target: 'backoff', actions: ['tokenUnusable', 'rememberProblem', 'pausePublisher'] },
        'TOKEN.FAILED': { target: 'failed', actions: ['tokenUnusable', 'rememberProblem'] },
        'CIRCUIT.OPEN': { target: 'backoff', actions: 'circuitOpened' },
      },
    },
    refreshing: {
      entry: ['resumePublisher', { type: 'stamp', params: { state: 'refreshing' } }],
      on: {
        'TOKEN.VALID': { target: 'authenticated', actions: 'tokenUsable' },
        'TOKEN.BACKOFF': { target: 'backoff', actions: ['tokenUnusable', 'rememberProblem', 'pausePublisher'] },
        'TOKEN.FAILED': { target: 'failed', actions: ['tokenUnusable', 'rememberProblem'] },
        'CIRCUIT.OPEN': { target: 'backoff', actions: 'circuitOpened' },
      },
    },
    backoff: {
      // Publisher pausing happens on the token transitions: an open circuit gates the publisher
      // itself and must let its probe through, so circuit-caused backoff must not pause it.
      entry: [
        'clearConnected',
        { type: 'stamp', params: { state: 'backoff' } },
      ],
      on: {
        'TOKEN.VALID': [
          { guard: 'circuitOpen', actions: ['tokenUsable', 'resumePublisher'] },
          { target: 'authenticated', actions: 'tokenUsable' },
        ],
        'TOKEN.REFRESHING': [
          { guard: 'circuitOpen', actions: ['tokenUsable', 'resumePublisher'] },
          { target: 'refreshing', actions: 'tokenUsable' },
        ],
        'TOKEN.BACKOFF': { actions: ['tokenUnusable', 'rememberProblem', 'pausePublisher'] },
        'TOKEN.FAILED': { target: 'failed', actions: ['tokenUnusable', 'rememberProblem'] },
        'CIRCUIT.OPEN': { actions: 'circuitOpened' },
        'CIRCUIT.CLOSED': [
          { guard: 'tokenUsable', target: 'authenticated', actions: 'circuitClosed' },
          { actions: 'circuitClosed' },
        ],
      },
    },
    failed: {
      entry: ['pausePublisher', 'clearConnected', { type: 'stamp', params: { state: 'failed' } }],
      after: {
        failedRetry: { guard: 'retriesWhenFailed', target: 'connecting', actions: 'retryToken' },
      },
      on: {
        OPEN: { target: 'connecting', actions: 'retryToken' },
        // The token actor may succeed on its own later (its misconfiguration retry delay).
        'TOKEN.VALID': { target: 'authenticated', actions: 'tokenUsable' },
        'TOKEN.FAILED': { actions: 'rememberProblem' },
        'CIRCUIT.OPEN': { actions: 'circuitOpened' },
        'CIRCUIT.CLOSED': { actions: 'circuitClosed' },
      },
    },
  },
});

/**
 * Ditto's status for a machine state: `open` while connecting or publishing, `failed` in backoff,
 * `misconfigured` when the token endpoint rejected the credentials, `closed` when closed.
 */
export function dittoStatusOf(state: ConnectionState, context: Pick<ConnectionContext, 'problem'>): DittoConnectionStatus {
  switch (state) {
    case 'closed':
      return 'closed';
    case 'connecting':
      // Not yet known to work: Ditto reports such a client as `unknown`.
      return 'unknown';
    case 'backoff':
      return 'failed';
    case 'failed':
      return context.problem?.code === ErrorCode.TOKEN_REJECTED ? 'misconfigured' : 'failed';
    default:
      return 'open';
  }
}

/**
 * Maps a token status snapshot to the machine event it means. A token actor in `backoff` or
 * `fetching` while a token still serves is only `TOKEN.REFRESHING` for the connection.
 */
export function tokenEventOf(status: TokenStatus, hasUsableToken: boolean): ConnectionEvent | undefined {
  const problem = status.lastError;
  switch (status.state) {
    case 'valid':
      return { type: 'TOKEN.VALID' };
    case 'refreshing':
      return { type: 'TOKEN.REFRESHING' };
    case 'fetching':
      return hasUsableToken ? { type: 'TOKEN.REFRESHING' } : undefined;
    case 'backoff':
      return hasUsableToken ? { type: 'TOKEN.REFRESHING' } : { type: 'TOKEN.BACKOFF', problem };
    case 'failed':
      return { type: 'TOKEN.FAILED', problem: problem ?? { code: ErrorCode.TOKEN_ENDPOINT, message: 'token acquisition failed' } };
    default:
      return undefined;
  }
}
