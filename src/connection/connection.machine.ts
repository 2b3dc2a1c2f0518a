/**
 * The state of one connection: the single source of truth for its status. It reacts to the token
 * actor (`TOKEN.*`, mapped from `TokenSource.status$` by {@link tokenEventOf}), to the publisher's
 * circuit breaker (`CIRCUIT.*`) and to commands (`OPEN`, `CLOSE`, `RECONFIGURE`). Side effects are
 * named actions (`pausePublisher`, `resumePublisher`, `retryToken`) calling the `effects` of `input`;
 * for an https target, `connecting` also invokes the `reachTarget` actor (TCP + TLS handshake).
 *
 * ```
 *  closed ──OPEN──▶ connecting ──token usable (or no credentials) AND target reached (https)──▶ authenticated ⇄ refreshing
 *                       │                                               │    ▲
 *                       └──TOKEN.BACKOFF / probe failed──▶ backoff ◀────┘    │ TOKEN.VALID / CIRCUIT.CLOSED
 *                       │                     └──probe retry delay──▶ connecting
 *                       └──TOKEN.FAILED──▶ failed ──OPEN / RECONFIGURE / retry delay──▶ connecting
 * ```
 */
import { assign, fromPromise, setup, type StateValue } from 'xstate';
import type { TokenStatus } from '../auth/token-source.ts';
import type { ConnectionState, DittoConnectionStatus } from '../engine/types.ts';
import { ErrorCode } from '../errors.ts';
import { backoffDelay, type BackoffPolicy } from '../shared/backoff.ts';
import { reachFailureReason } from './reach-target.ts';

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
  | { readonly type: 'RECONFIGURE'; readonly hasCredentials: boolean; readonly startClosed?: boolean; readonly probeTarget?: string }
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
  /**
   * The reachability probe of an https target (TCP connect + TLS handshake, see `reach-target.ts`):
   * resolves when reached, rejects with a coded error (`ECONNREFUSED`, `timeout`, a certificate
   * error, …); must stop when `signal` aborts. Absent: the target counts as reachable.
   */
  reachTarget?(signal: AbortSignal): Promise<void>;
}

/** Default backoff between failed probes of an https target while `connecting`. */
export const DEFAULT_PROBE_BACKOFF: BackoffPolicy = Object.freeze({ initialDelay: 1000, maxDelay: 60_000 });

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
  /**
   * `scheme://host:port` of an https target: `connecting` then also waits for the `reachTarget`
   * probe. Absent (plain http): no probe. Shown in `statusDetails`, so never userinfo or a path.
   */
  readonly probeTarget?: string;
  /** Delay between failed probes, growing with consecutive failures (default {@link DEFAULT_PROBE_BACKOFF}). */
  readonly probeBackoff?: BackoffPolicy;
  /** Jitter source for the probe retry delay, [0, 1) (default `Math.random`). */
  readonly random?: () => number;
}

/** What the `reachTarget` actor receives. */
export interface ReachTargetInput {
  readonly effects?: ConnectionEffects;
  readonly probeTarget?: string;
}

/** The machine's context: its input (with defaults filled in) plus what it tracks. */
export interface ConnectionContext
  extends Pick<ConnectionMachineInput, 'connectionId' | 'effects' | 'hasCredentials' | 'startClosed' | 'now' | 'failedRetryDelay' | 'probeTarget'> {
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
  readonly probeBackoff: BackoffPolicy;
  readonly random: () => number;
  /** The last probe of the target succeeded since `connecting` was entered (always true without a probe). */
  readonly targetReachable: boolean;
  /** Why the last probe failed (`ECONNREFUSED`, `timeout`, …); set while waiting to probe again. */
  readonly targetProblem?: string;
  /** Consecutive failed probes (grows the retry delay). */
  readonly probeFailures: number;
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
      if (context.probeTarget === undefined) return 'acquiring access token';
      return `${context.hasCredentials ? 'acquiring access token and ' : ''}checking that ${context.probeTarget} is reachable`;
    case 'authenticated':
      return context.hasCredentials ? 'publishing with a valid access token' : 'publishing';
    case 'refreshing':
      return 'refreshing the access token; publishing continues';
    case 'backoff':
      if (context.targetProblem !== undefined) return `target ${context.probeTarget ?? ''} unreachable, retrying: ${context.targetProblem}`;
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
  actors: {
    // Without an implementation in the effects, the target counts as reached.
    reachTarget: fromPromise<void, ReachTargetInput>(({ input, signal }) => input.effects?.reachTarget?.(signal) ?? Promise.resolve()),
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
    /** Every entry to `connecting` probes again (reopened, retried, recovered from a token failure). */
    beginProbe: assign({ targetReachable: ({ context }) => context.probeTarget === undefined, targetProblem: undefined }),
    targetReached: assign({ targetReachable: true, targetProblem: undefined, probeFailures: 0 }),
    targetUnreachable: assign(({ context, event }) => ({
      targetReachable: false,
      // The error's code only (ECONNREFUSED, a certificate error, timeout): never a secret.
      targetProblem: reachFailureReason((event as { error?: unknown }).error),
      probeFailures: context.probeFailures + 1,
    })),
    applyDefinition: assign(({ context, event }) =>
      event.type === 'RECONFIGURE'
        ? {
          hasCredentials: event.hasCredentials, startClosed: event.startClosed ?? false, tokenUsable: !event.hasCredentials, problem: undefined, circuitOpen: false,
          probeTarget: event.probeTarget, targetReachable: event.probeTarget === undefined, targetProblem: undefined, probeFailures: 0,
        }
        : context,
    ),
  },
  guards: {
    startsClosed: ({ context }) => context.startClosed,
    withoutCredentials: ({ context }) => !context.hasCredentials,
    circuitOpen: ({ context }) => context.circuitOpen,
    tokenUsable: ({ context }) => context.tokenUsable,
    probesTarget: ({ context }) => context.probeTarget !== undefined,
    targetReachable: ({ context }) => context.targetReachable,
    /** Token usable (or none needed) and target reached (or not probed): publishing may start. */
    ready: ({ context }) => context.tokenUsable && context.targetReachable,
    /** In backoff because a probe failed: the probe retry delay brings it back to `connecting`. */
    probeFailed: ({ context }) => context.targetProblem !== undefined,
    retriesWhenFailed: ({ context }) => context.failedRetryDelay !== undefined,
  },
  delays: {
    // 0 when disabled: the guard then keeps the machine in `failed`.
    failedRetry: ({ context }) => context.failedRetryDelay ?? 0,
    // At least half the initial delay: full jitter alone may retry a refusing target at once.
    probeRetry: ({ context }) => Math.max(
      Math.floor(context.probeBackoff.initialDelay / 2),
      backoffDelay(Math.max(1, context.probeFailures), context.probeBackoff, context.random),
    ),
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
    probeTarget: input.probeTarget,
    probeBackoff: input.probeBackoff ?? DEFAULT_PROBE_BACKOFF,
    random: input.random ?? Math.random,
    targetReachable: input.probeTarget === undefined,
    probeFailures: 0,
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
      entry: ['pausePublisher', 'beginProbe', { type: 'stamp', params: { state: 'connecting' } }],
      // Without credentials, or reopened while the token actor still holds a valid token (it will
      // not announce TOKEN.VALID again), only the probe (https) is left to wait for.
      always: { guard: 'ready', target: 'authenticated' },
      // Sub-states only say whether the probe runs; status readers see `connecting` ({@link connectionStateOf}).
      initial: 'checking',
      states: {
        checking: {
          always: [{ guard: 'probesTarget', target: 'probing' }, { target: 'waiting' }],
        },
        // Leaving `connecting` (CLOSE, a token failure) stops the actor and aborts its `signal`.
        probing: {
          invoke: {
            src: 'reachTarget',
            input: ({ context }): ReachTargetInput => ({ effects: context.effects, probeTarget: context.probeTarget }),
            onDone: { target: 'waiting', actions: 'targetReached' },
            onError: { target: '#connection.backoff', actions: 'targetUnreachable' },
          },
        },
        /** For the token (the target is reached or not probed). */
        waiting: {},
      },
      on: {
        'TOKEN.VALID': { actions: 'tokenUsable' },
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
        // A failed probe waits for its retry delay; a probe cut short by a token failure runs again.
        'TOKEN.VALID': [
          { guard: 'circuitOpen', actions: ['tokenUsable', 'resumePublisher'] },
          { guard: 'targetReachable', target: 'authenticated', actions: 'tokenUsable' },
          { guard: 'probeFailed', actions: 'tokenUsable' },
          { target: 'connecting', actions: 'tokenUsable' },
        ],
        'TOKEN.REFRESHING': [
          { guard: 'circuitOpen', actions: ['tokenUsable', 'resumePublisher'] },
          { guard: 'targetReachable', target: 'refreshing', actions: 'tokenUsable' },
          { guard: 'probeFailed', actions: 'tokenUsable' },
          { target: 'connecting', actions: 'tokenUsable' },
        ],
        'TOKEN.BACKOFF': { actions: ['tokenUnusable', 'rememberProblem', 'pausePublisher'] },
        'TOKEN.FAILED': { target: 'failed', actions: ['tokenUnusable', 'rememberProblem'] },
        'CIRCUIT.OPEN': { actions: 'circuitOpened' },
        'CIRCUIT.CLOSED': [
          { guard: 'ready', target: 'authenticated', actions: 'circuitClosed' },
          { actions: 'circuitClosed' },
        ],
      },
      after: {
        probeRetry: { guard: 'probeFailed', target: 'connecting' },
      },
    },
    failed: {
      entry: ['pausePublisher', 'clearConnected', { type: 'stamp', params: { state: 'failed' } }],
      after: {
        failedRetry: { guard: 'retriesWhenFailed', target: 'connecting', actions: 'retryToken' },
      },
      on: {
        OPEN: { target: 'connecting', actions: 'retryToken' },
        // The token actor may succeed on its own later (its misconfiguration retry delay); an
        // https target not reached since is probed first.
        'TOKEN.VALID': [
          { guard: 'targetReachable', target: 'authenticated', actions: 'tokenUsable' },
          { target: 'connecting', actions: 'tokenUsable' },
        ],
        'TOKEN.FAILED': { actions: 'rememberProblem' },
        'CIRCUIT.OPEN': { actions: 'circuitOpened' },
        'CIRCUIT.CLOSED': { actions: 'circuitClosed' },
      },
    },
  },
});

/**
 * The {@link ConnectionState} of a machine snapshot's `value`: `connecting` has sub-states (whether
 * the https probe runs) that status readers do not see.
 *
 * @example connectionStateOf(actor.getSnapshot().value) // 'connecting'
 */
export function connectionStateOf(value: StateValue): ConnectionState {
  return (typeof value === 'string' ? value : Object.keys(value)[0]) as ConnectionState;
}

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
