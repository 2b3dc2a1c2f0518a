/**
 * The token actor of one credential: runs {@link tokenMachine} with the real token request and
 * exposes it as a {@link TokenSource} — a shared, replaying `token$`, a bounded `get()` that lets
 * any number of waiters share one token request, and `reportUnauthorized()` for targets that
 * refuse a token. The engine keeps one per {@link credentialKey}.
 */
import type { Logger } from 'pino';
import type { HostPolicy } from '../shared/host-policy.ts';
import { BehaviorSubject, Subject, distinctUntilChanged, filter } from 'rxjs';
import { createActor, fromPromise, type SnapshotFrom } from 'xstate';
import type { OAuth2Settings, OAuthClientCredentials } from '../config/types.ts';
import { TokenRejectedError, TokenResponseError, TokenUnavailableError, type TwinlinkError } from '../errors.ts';
import { systemClock, type Clock } from '../shared/clock.ts';
import { endpointLabel, requestClientCredentialsToken, type TokenRequestTls } from './client-credentials.ts';
import { tokenExpiresAt } from './jwt-expiry.ts';
import { MAX_TIMER_DELAY, isServable } from './refresh-schedule.ts';
import { asTokenError, tokenMachine } from './token.machine.ts';
import type { TokenResponse } from './token-response.ts';
import type { AccessToken, TokenEvent, TokenSource, TokenState, TokenStatus } from './token-source.ts';

/** Minimum time between two refreshes triggered by a target's 401, ms. */
export const UNAUTHORIZED_REFRESH_INTERVAL = 10_000;

export interface TokenActorOptions {
  readonly credentials: OAuthClientCredentials;
  readonly settings: OAuth2Settings;
  /** The connection's TLS settings, used for the token endpoint too. */
  readonly tls: TokenRequestTls;
  readonly clock?: Clock;
  /** [0, 1), for jitter; defaults to `Math.random`. */
  readonly random?: () => number;
  readonly logger?: Logger;
  /** Engine host filtering for the token endpoint (see `requestClientCredentialsToken`). */
  readonly hostPolicy?: HostPolicy;
  /** Replaces the HTTP token request (machine specs); gets the signal that aborts it. */
  readonly fetchToken?: (signal: AbortSignal) => Promise<TokenResponse>;
}

/** A {@link TokenSource} with a lifecycle. */
export interface TokenActor extends TokenSource {
  /** Fetches the first token now (instead of on the first `get()`). Idempotent. */
  start(): void;
  /** Stops timers and any request in flight; waiters fail with `ERR_TOKEN_UNAVAILABLE`. Final. */
  stop(): void;
  /** Leaves `failed` or `backoff` at once (connection reopened or reconfigured). */
  retry(): void;
  /** The machine state now. */
  readonly state: TokenState;
}

type Snapshot = SnapshotFrom<typeof tokenMachine>;

/**
 * Creates the token actor for one credential; it is idle until `start()` or the first `get()`.
 *
 * @example
 * const tokens = createTokenActor({ credentials, settings: config.engine.oauth2, tls: { validateCertificates: true } });
 * tokens.start();
 * const { value } = await tokens.get(); // Authorization: Bearer <value>
 */
export function createTokenActor(options: TokenActorOptions): TokenActor {
  const { credentials, settings, tls } = options;
  const clock = options.clock ?? systemClock;
  let lastUnauthorizedRefresh = Number.NEGATIVE_INFINITY;
  const random = options.random ?? Math.random;
  const label = endpointLabel(credentials.tokenEndpoint);
  const logger = options.logger;

  const events = new Subject<TokenEvent>();
  const tokens = new BehaviorSubject<AccessToken | undefined>(undefined);
  let since = clock.now();
  const status = new BehaviorSubject<TokenStatus>({ state: 'idle', since });
  let stopped = false;

  const servable = (token: AccessToken | undefined): token is AccessToken =>
    token !== undefined && isServable(token, clock.now(), settings.maxClockSkew);

  const fetchResponse = options.fetchToken ?? ((signal: AbortSignal) =>
    requestClientCredentialsToken({
      credentials,
      tls,
      timeout: settings.requestTimeout,
      maxResponseBytes: settings.maxResponseBytes,
      signal,
      now: () => clock.now(),
      ...(options.hostPolicy ? { hostPolicy: options.hostPolicy } : {}),
    }));

  const fetchToken = fromPromise<AccessToken>(async ({ signal }) => {
    const started = clock.now();
    try {
      const response = await fetchResponse(signal);
      const obtainedAt = clock.now();
      const expiresAt = tokenExpiresAt(response, obtainedAt, settings.defaultTokenLifetime);
      if (expiresAt <= obtainedAt) {
        throw new TokenResponseError(`invalid token response from ${label}: the token expired already (at ${new Date(expiresAt).toISOString()})`);
      }
      events.next({ type: 'request', outcome: 'success', durationMs: clock.now() - started });
      return { value: response.accessToken, expiresAt, obtainedAt };
    } catch (error) {
      const coded = asTokenError(error);
      // An abort means we left the state on purpose (stop, RETRY): not a request outcome.
      if (!signal.aborted) events.next({ type: 'request', outcome: coded.code, durationMs: clock.now() - started });
      throw coded;
    }
  });

  const actor = createActor(tokenMachine.provide({ actors: { fetchToken } }), {
    input: { settings, clock, random },
  });

  actor.on('refresh', (event) => {
    events.next({ type: 'refresh', trigger: event.trigger });
  });

  let previous: Snapshot | undefined;
  actor.subscribe({
    next: (snapshot) => {
      const state = snapshot.value as TokenState;
      const { token, lastError } = snapshot.context;
      if (token !== tokens.value) tokens.next(token);
      if (previous?.value !== state) {
        since = clock.now();
        log(state, previous?.value as TokenState | undefined, snapshot);
      }
      const next = toStatus(state, since, token, lastError);
      if (!sameStatus(status.value, next)) status.next(next);
      previous = snapshot;
    },
    error: (error) => logger?.error({ err: asTokenError(error).toJSON() }, 'token actor crashed'),
  });
  actor.start();

  function log(state: TokenState, from: TokenState | undefined, snapshot: Snapshot): void {
    if (!logger) return;
    const { token, lastError } = snapshot.context;
    const error = lastError ? describeError(lastError) : undefined;
    const fields = { tokenState: state, from, expiresAt: token ? new Date(token.expiresAt).toISOString() : undefined };
    if (state === 'failed') logger.error({ ...fields, error }, `token endpoint ${label} refused the credentials; retrying in ${settings.misconfiguredRetryDelay} ms or on reopen`);
    else if (state === 'backoff') logger.warn({ ...fields, error, retryInMs: snapshot.context.wakeAt - clock.now() }, `token request to ${label} failed; backing off`);
    else logger.debug(fields, `token ${from ?? 'none'} → ${state}`);
  }

  const token$ = tokens.pipe(filter(servable), distinctUntilChanged());

  function current(): AccessToken | undefined {
    const token = tokens.value;
    return !stopped && servable(token) ? token : undefined;
  }

  function get(signal?: AbortSignal): Promise<AccessToken> {
    const token = current();
    if (token) return Promise.resolve(token);
    if (stopped) return Promise.reject(new TokenUnavailableError(`token source for ${label} is stopped`));
    if (signal?.aborted) return Promise.reject(signal.reason);
    const snapshot = actor.getSnapshot();
    if (snapshot.value === 'failed' && snapshot.context.lastError) return Promise.reject(snapshot.context.lastError);
    if (snapshot.value === 'idle') actor.send({ type: 'START' });

    return new Promise<AccessToken>((resolve, reject) => {
      let settled = false;
      const cleanups: (() => void)[] = [];
      const settle = (outcome: () => void): void => {
        if (settled) return;
        settled = true;
        for (const cleanup of cleanups) cleanup();
        outcome();
      };
      const timer = setTimeout(() => {
        const cause = actor.getSnapshot().context.lastError;
        settle(() => reject(new TokenUnavailableError(
          `no access token from ${label} within ${settings.tokenWaitTimeout} ms${cause ? ` (last error: ${cause.message})` : ''}`,
          { cause },
        )));
      }, Math.min(settings.tokenWaitTimeout, MAX_TIMER_DELAY));
      cleanups.push(() => clearTimeout(timer));
      if (signal) {
        const onAbort = (): void => settle(() => reject(signal.reason));
        signal.addEventListener('abort', onAbort, { once: true });
        cleanups.push(() => signal.removeEventListener('abort', onAbort));
      }
      const tokenSubscription = token$.subscribe({
        next: (next) => settle(() => resolve(next)),
        complete: () => settle(() => reject(new TokenUnavailableError(`token source for ${label} stopped`))),
      });
      cleanups.push(() => tokenSubscription.unsubscribe());
      const statusSubscription = status.subscribe((next) => {
        const error = actor.getSnapshot().context.lastError;
        if (next.state === 'failed' && error) settle(() => reject(error));
      });
      cleanups.push(() => statusSubscription.unsubscribe());
      // A subscription may have settled synchronously, before its cleanup was registered.
      if (settled) for (const cleanup of cleanups) cleanup();
    });
  }

  function reportUnauthorized(token: AccessToken, signal?: AbortSignal): Promise<AccessToken> {
    // Only the current token is invalidated: a late report about an older token must not
    // discard its successor. The machine ignores reports about anything else.
    if (!stopped && actor.getSnapshot().context.token?.value === token.value) {
      const now = clock.now();
      // A target that refuses every token would otherwise make the token endpoint's load follow
      // the event rate: at most one 401-triggered refresh per interval; within it the refused
      // token is handed back and the message fails on its second 401.
      if (now - lastUnauthorizedRefresh < UNAUTHORIZED_REFRESH_INTERVAL) return Promise.resolve(token);
      lastUnauthorizedRefresh = now;
      actor.send({ type: 'UNAUTHORIZED', value: token.value });
    }
    return get(signal);
  }

  return {
    status$: status.asObservable(),
    events$: events.asObservable(),
    token$,
    current,
    get,
    reportUnauthorized,
    start: () => {
      if (!stopped) actor.send({ type: 'START' });
    },
    retry: () => {
      if (!stopped) actor.send({ type: 'RETRY' });
    },
    stop: () => {
      if (stopped) return;
      stopped = true;
      actor.stop();
      since = clock.now();
      status.next({ state: 'stopped', since });
      logger?.debug({ tokenState: 'stopped' }, `token actor for ${label} stopped`);
      status.complete();
      events.complete();
      tokens.complete();
    },
    get state(): TokenState {
      return stopped ? 'stopped' : (actor.getSnapshot().value as TokenState);
    },
  };
}

/** The secret-free description of a token error for status documents and logs. */
export function describeError(error: TwinlinkError): NonNullable<TokenStatus['lastError']> {
  const oauth = error instanceof TokenRejectedError ? error.oauth : (error as { oauth?: TokenRejectedError['oauth'] }).oauth;
  return {
    code: error.code,
    message: error.message,
    ...(oauth ? { error: oauth.error } : {}),
    ...(oauth?.errorDescription ? { errorDescription: oauth.errorDescription } : {}),
    ...(oauth?.errorUri ? { errorUri: oauth.errorUri } : {}),
  };
}

function toStatus(state: TokenState, since: number, token: AccessToken | undefined, lastError: TwinlinkError | undefined): TokenStatus {
  return {
    state,
    since,
    ...(token ? { expiresAt: token.expiresAt, lastRefresh: token.obtainedAt } : {}),
    ...(lastError ? { lastError: describeError(lastError) } : {}),
  };
}

function sameStatus(a: TokenStatus, b: TokenStatus): boolean {
  return a.state === b.state && a.since === b.since && a.expiresAt === b.expiresAt && a.lastRefresh === b.lastRefresh
    && a.lastError?.message === b.lastError?.message && a.lastError?.code === b.lastError?.code;
}
