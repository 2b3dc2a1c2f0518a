/**
 * What a publisher needs from a credential's token actor: the current token, a bounded wait
 * for one, and a way to report that a target refused a token.
 */
import type { Observable } from 'rxjs';

/** An access token as cached by the token actor. `value` is secret: never log it. */
export interface AccessToken {
  readonly value: string;
  /** Epoch ms when the token stops being valid (before the skew margin). */
  readonly expiresAt: number;
  /** Epoch ms when it was obtained. */
  readonly obtainedAt: number;
}

/** The token actor's machine states. */
export type TokenState = 'idle' | 'fetching' | 'valid' | 'refreshing' | 'backoff' | 'failed' | 'stopped';

/** A secret-free snapshot of a credential's token lifecycle, for status documents. */
export interface TokenStatus {
  readonly state: TokenState;
  /** Epoch ms the state was entered. */
  readonly since: number;
  /** Expiry of the current token, epoch ms. */
  readonly expiresAt?: number;
  /** When the current token was obtained, epoch ms. */
  readonly lastRefresh?: number;
  /** The last token-endpoint failure, secret-free (code, message, RFC 6749 §5.2 fields). */
  readonly lastError?: {
    readonly code: string;
    readonly message: string;
    readonly error?: string;
    readonly errorDescription?: string;
    readonly errorUri?: string;
  };
}

/** Why a token request was started. */
export type RefreshTrigger = 'initial' | 'preemptive' | 'expired' | 'unauthorized';

/** What the token actor reports for metrics. */
export type TokenEvent =
  | { readonly type: 'request'; readonly outcome: string; readonly durationMs: number }
  | { readonly type: 'refresh'; readonly trigger: RefreshTrigger };

export interface TokenSource {
  /** Lifecycle snapshots (replays the latest); drives the connection's state. */
  readonly status$: Observable<TokenStatus>;
  /** Token requests (outcome `success` or the error code) and refreshes (trigger). */
  readonly events$: Observable<TokenEvent>;
  /**
   * Emits each new token (replaying the current one to late subscribers) and errors never;
   * failures are reported through `state$`.
   */
  readonly token$: Observable<AccessToken>;
  /** The token to use now, if one is valid (not within the skew margin of expiry). */
  current(): AccessToken | undefined;
  /**
   * The current token, or waits (bounded by `engine.oauth2.tokenWaitTimeout`) for the next one.
   * All waiters share one token request. Rejects with a coded error (`ERR_TOKEN_UNAVAILABLE`,
   * carrying the last token-endpoint error as `cause`) when none arrives in time.
   */
  get(signal?: AbortSignal): Promise<AccessToken>;
  /**
   * A target refused `token` (401). Invalidates it only if it is still current, and starts one
   * refresh for all such reports. Returns the token to retry with.
   */
  reportUnauthorized(token: AccessToken, signal?: AbortSignal): Promise<AccessToken>;
}
