/**
 * The RFC 6749 §4.4 client credentials token request, on the wire exactly as Eclipse Ditto sends
 * it (the seed scenario), and the translation of whatever comes back (or fails) into coded errors
 * at this edge: {@link TokenEndpointError} (transient), {@link TokenRejectedError}
 * (misconfiguration), {@link TokenResponseError} (unusable 2xx answer).
 */
import got, { CancelError, RequestError, TimeoutError } from 'got';
import type { HostPolicy } from '../shared/host-policy.ts';
import type { OAuthClientCredentials } from '../config/types.ts';
import { HostBlockedError, TokenEndpointError, TokenRejectedError, TokenResponseError, TwinlinkError, type OAuthErrorFields } from '../errors.ts';
import { parseRetryAfter } from '../shared/backoff.ts';
import { safeCause } from '../shared/safe-cause.ts';
import { clean, parseOAuthError, parseTokenResponse, type TokenEndpointAnswer, type TokenResponse } from './token-response.ts';

/** TLS settings of the connection, applied to the token endpoint too (Ditto ignores them). */
export interface TokenRequestTls {
  /** Trusted CA certificate(s), PEM. */
  readonly ca?: string;
  readonly validateCertificates: boolean;
}

/** The request as sent: method POST, these headers, this form body. */
export interface TokenRequest {
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export interface TokenRequestOptions {
  readonly credentials: OAuthClientCredentials;
  readonly tls: TokenRequestTls;
  /** Whole-request timeout, ms (`engine.oauth2.requestTimeout`). */
  readonly timeout: number;
  /** Largest response body read, bytes (`engine.oauth2.maxResponseBytes`). */
  readonly maxResponseBytes: number;
  /** Aborts the request (the token machine aborts when it leaves the fetching state). */
  readonly signal?: AbortSignal;
  /** Epoch ms now, for `Retry-After` dates. */
  readonly now?: () => number;
  /**
   * Engine host filtering: when enabled, the endpoint's host is checked before the request and
   * again at connect time; a refusal rejects with {@link HostBlockedError} (`ERR_HOST_BLOCKED`).
   */
  readonly hostPolicy?: HostPolicy;
}

/** RFC 6749 §5.2 codes that mean the credentials themselves are wrong: retrying will not help. */
export const MISCONFIGURATION_ERRORS: ReadonlySet<string> = new Set([
  'invalid_client', 'unauthorized_client', 'invalid_grant', 'invalid_scope', 'unsupported_grant_type',
]);

/**
 * `application/x-www-form-urlencoded` encoding of one value (RFC 6749 Appendix B: spaces become
 * `+`, everything but `*-._` and alphanumerics is percent-encoded), as URLSearchParams does.
 *
 * @example formEncode('a b/c') // 'a+b%2Fc'
 */
export function formEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2);
}

/** Space-separated scopes with surrounding and repeated whitespace removed (RFC 6749 §3.3). */
export function normaliseScopes(scopes: string | undefined): string {
  return (scopes ?? '').trim().split(/\s+/).filter(Boolean).join(' ');
}

/**
 * The token request for `credentials`: `grant_type`, then `client_id` and `client_secret` in the
 * body (`client_secret_post`, Ditto's only method) or in an `Authorization: Basic` header of the
 * form-encoded id and secret (`client_secret_basic`, RFC 6749 §2.3.1) — never both — then `scope`
 * when scopes are requested and `audience` when set.
 *
 * @example buildTokenRequest(seedCredentials).body
 * // 'grant_type=client_credentials&client_id=my-client-id&client_secret=my-client-secret&scope=my-scope'
 */
export function buildTokenRequest(credentials: OAuthClientCredentials): TokenRequest {
  const form = new URLSearchParams();
  form.append('grant_type', 'client_credentials');
  const headers: Record<string, string> = {
    accept: 'application/json',
    'content-type': 'application/x-www-form-urlencoded',
  };
  if (credentials.clientAuthenticationMethod === 'client_secret_basic') {
    const pair = `${formEncode(credentials.clientId)}:${formEncode(credentials.clientSecret)}`;
    headers['authorization'] = `Basic ${Buffer.from(pair, 'utf8').toString('base64')}`;
  } else {
    form.append('client_id', credentials.clientId);
    form.append('client_secret', credentials.clientSecret);
  }
  const scopes = normaliseScopes(credentials.requestedScopes);
  if (scopes) form.append('scope', scopes);
  if (credentials.audience) form.append('audience', credentials.audience);
  return { url: credentials.tokenEndpoint, headers, body: form.toString() };
}

/** The endpoint without userinfo, query or fragment: safe to show in messages and logs. */
export function endpointLabel(tokenEndpoint: string): string {
  try {
    const url = new URL(tokenEndpoint);
    return `${url.origin}${url.pathname}`;
  } catch {
    return '<invalid token endpoint>';
  }
}

/** Values that must never appear in a message: the secret and the Basic header built from it. */
function secretsOf(credentials: OAuthClientCredentials): string[] {
  const request = buildTokenRequest({ ...credentials, clientAuthenticationMethod: 'client_secret_basic' });
  const basic = request.headers['authorization']?.slice('Basic '.length) ?? '';
  return [credentials.clientSecret, basic];
}

/**
 * Performs the token request and returns the validated token response, or throws one of the coded
 * token errors. No redirects are followed (a redirect could carry the secret elsewhere), got does
 * not retry (the token actor does, with backoff), and the body is read only up to
 * `maxResponseBytes`.
 */
export async function requestClientCredentialsToken(options: TokenRequestOptions): Promise<TokenResponse> {
  const { credentials, tls, timeout, maxResponseBytes, signal } = options;
  const now = options.now ?? Date.now;
  const label = endpointLabel(credentials.tokenEndpoint);
  const secrets = secretsOf(credentials);
  const request = buildTokenRequest(credentials);
  const hostPolicy = options.hostPolicy?.enabled ? options.hostPolicy : undefined;
  // Refused before any socket is opened; throws HostBlockedError naming host and rule, never the secret.
  if (hostPolicy) await hostPolicy.check(request.url);

  let tooLarge = false;
  const pending = got.post(request.url, {
    // Only the seed's headers: got's default User-Agent is dropped.
    headers: { ...request.headers, 'user-agent': undefined },
    body: request.body,
    followRedirect: false,
    throwHttpErrors: false,
    retry: { limit: 0 },
    // Without decompression no Accept-Encoding is sent (as in the seed) and a small compressed
    // body cannot inflate past the size cap.
    decompress: false,
    responseType: 'text',
    timeout: { request: timeout },
    https: { certificateAuthority: tls.ca, rejectUnauthorized: tls.validateCertificates },
    ...(hostPolicy ? { dnsLookup: hostPolicy.dnsLookup } : {}),
    ...(signal ? { signal } : {}),
  });
  // Count bytes as they arrive and give up before buffering an oversized body.
  void pending.on('downloadProgress', (progress: { transferred: number; total?: number }) => {
    if (!tooLarge && ((progress.total ?? 0) > maxResponseBytes || progress.transferred > maxResponseBytes)) {
      tooLarge = true;
      pending.cancel();
    }
  });

  let answer: TokenEndpointAnswer & { retryAfter?: string | string[] };
  try {
    const response = await pending;
    answer = {
      statusCode: response.statusCode,
      contentType: response.headers['content-type'],
      body: response.body,
      retryAfter: response.headers['retry-after'],
    };
  } catch (error) {
    if (tooLarge) throw new TokenResponseError(`invalid token response from ${label}: the body exceeds ${maxResponseBytes} bytes (engine.oauth2.maxResponseBytes)`);
    throw translateRequestError(error, label, timeout, secrets);
  }
  return classifyAnswer(answer, { label, secrets, now: now() });
}

/**
 * Turns a token endpoint's answer into a token response or the right error: 2xx is validated;
 * 429 and 5xx are transient ({@link TokenEndpointError} with `Retry-After`); 400, 401 and 403 are
 * a rejection ({@link TokenRejectedError}, with the RFC 6749 §5.2 fields when present) unless the
 * server says `temporarily_unavailable`; any other status is transient.
 */
export function classifyAnswer(
  answer: TokenEndpointAnswer & { readonly retryAfter?: string | string[] },
  context: { readonly label: string; readonly secrets: readonly string[]; readonly now: number },
): TokenResponse {
  const { statusCode } = answer;
  if (statusCode >= 200 && statusCode < 300) {
    try {
      return parseTokenResponse(answer, context.secrets);
    } catch (error) {
      if (error instanceof TokenResponseError) {
        throw new TokenResponseError(error.message.replace('invalid token response', `invalid token response from ${context.label}`), statusCode);
      }
      throw error;
    }
  }
  const oauth = parseOAuthError(answer.body, context.secrets);
  const detail = oauth ? `: ${describeOAuthError(oauth)}` : '';
  const rejected = (statusCode === 400 || statusCode === 401 || statusCode === 403) && oauth?.error !== 'temporarily_unavailable';
  if (rejected) {
    const fields: OAuthErrorFields = oauth ?? { error: `http_${statusCode}` };
    const hint = oauth && MISCONFIGURATION_ERRORS.has(oauth.error) ? '' : ' (check the credentials and token endpoint)';
    throw new TokenRejectedError(`token endpoint ${context.label} rejected the client credentials with ${statusCode}${detail}${hint}`, fields, statusCode);
  }
  const retryAfterMs = statusCode === 429 || statusCode >= 500 ? parseRetryAfter(answer.retryAfter, context.now) : undefined;
  const kind = statusCode >= 300 && statusCode < 400 ? ' (redirects are not followed)' : '';
  throw new TokenEndpointError(`token endpoint ${context.label} answered ${statusCode}${kind}${detail}`, {
    statusCode,
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    ...(oauth ? { oauth } : {}),
  });
}

/** `invalid_client (Client authentication failed) see https://…` */
export function describeOAuthError(oauth: OAuthErrorFields): string {
  return `${oauth.error}${oauth.errorDescription ? ` (${oauth.errorDescription})` : ''}${oauth.errorUri ? ` see ${oauth.errorUri}` : ''}`;
}

/** got's errors carry the request options (and so the secret): keep only a sanitized copy as hidden `cause`. */
function translateRequestError(error: unknown, label: string, timeout: number, secrets: readonly string[]): TwinlinkError {
  if (error instanceof TwinlinkError) return error;
  // Refused by the host filter at connect time (e.g. the name re-resolved to a private address).
  if (error instanceof RequestError && error.cause instanceof HostBlockedError) return error.cause;
  if (error instanceof TimeoutError) {
    return new TokenEndpointError(`token request to ${label} timed out after ${timeout} ms`, { cause: safeCause(error) });
  }
  if (error instanceof CancelError || (error instanceof RequestError && error.code === 'ERR_ABORTED')) {
    return new TokenEndpointError(`token request to ${label} was aborted`, { cause: safeCause(error) });
  }
  const code = error instanceof RequestError ? error.code : undefined;
  const message = error instanceof Error ? clean(error.message, secrets, 200) : 'unknown error';
  return new TokenEndpointError(`token request to ${label} failed${code ? ` (${code})` : ''}: ${message}`, { cause: safeCause(error) });
}
