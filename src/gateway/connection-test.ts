/**
 * What `POST /api/2/connections?dry-run=true` does after validation: test the connection the way
 * it will run, without creating it. With credentials it fetches one token with the real client
 * credentials request; then it opens a TCP connection (and, for https, completes the TLS handshake
 * with the connection's `ca` / `validateCertificates`) to the target host. No event is published.
 * Engine host filtering (`engine.allowedHosts`, …) applies to both, so a dry run cannot probe
 * hosts a connection could not use.
 */
import { requestClientCredentialsToken } from '../auth/client-credentials.ts';
import type { ConnectionConfig, EngineSettings } from '../config/types.ts';
import { reachFailureReason, reachTarget } from '../connection/reach-target.ts';
import { HostBlockedError, TokenRejectedError, TwinlinkError } from '../errors.ts';
import { createHostPolicy } from '../shared/host-policy.ts';
import type { HostPolicy } from '../shared/host-policy.ts';
import { DittoApiError } from '../things/ditto-api-error.ts';

/** Default time the target gets to accept a TCP connection (and finish the TLS handshake), ms. */
export const DEFAULT_REACH_TIMEOUT = 5000;

/** One step of a connection test that succeeded. */
export interface ConnectionTestCheck {
  readonly check: 'token' | 'target';
  /** What was reached, without userinfo, query or secrets. */
  readonly detail: string;
}

/** The 200 body of a successful dry run (Ditto answers a `testResult` string; the checks are ours). */
export interface ConnectionTestResult {
  readonly connectionId: string;
  readonly status: 200;
  readonly testResult: string;
  readonly checks: readonly ConnectionTestCheck[];
}

export interface ConnectionTestOptions {
  /** Timeout of the target's TCP connect and TLS handshake, ms (default {@link DEFAULT_REACH_TIMEOUT}). */
  readonly reachTimeout?: number;
  /** Host filter; default built from `settings` (off unless configured). */
  readonly hostPolicy?: HostPolicy;
}

/** Tests a validated connection; resolves with the result or rejects with a {@link DittoApiError}. */
export type ConnectionTester = (connection: ConnectionConfig, settings: EngineSettings) => Promise<ConnectionTestResult>;

/** `scheme://host:port` of a URL: what messages may show. */
function originOf(url: URL): string {
  return `${url.protocol}//${url.host}`;
}

/** `connectivity:connection.failed`: 400 for what the user must fix, 502 for what did not answer. */
function failed(status: 400 | 502, message: string, description: string): DittoApiError {
  return new DittoApiError(status, 'connectivity:connection.failed', message, description);
}

function blocked(error: HostBlockedError): DittoApiError {
  return new DittoApiError(400, 'connectivity:connection.configuration.invalid', error.message,
    'The host is refused by the engine host filter (engine.allowedHosts, blockedHosts, blockedSubnets).');
}

/**
 * Tests `connection` (already validated): one token request when it has credentials, then a TCP
 * (and TLS) connect to the target host. Messages name the step, the endpoint (origin and path
 * only) and the reason, never a secret.
 *
 * @example
 * const result = await testConnection(parseConnection(body, config.engine, 'POST'), config.engine);
 * // { connectionId: 'http_oauth2', status: 200, testResult: 'ok', checks: [{ check: 'token', … }, { check: 'target', … }] }
 * @throws {DittoApiError} 400 `connectivity:connection.failed` when the token endpoint rejects the
 *   credentials, 400 `connectivity:connection.configuration.invalid` for a host the engine refuses,
 *   502 `connectivity:connection.failed` when the token endpoint or the target cannot be reached
 *   or answers unusably.
 */
export async function testConnection(
  connection: ConnectionConfig,
  settings: EngineSettings,
  options: ConnectionTestOptions = {},
): Promise<ConnectionTestResult> {
  const hostPolicy = options.hostPolicy ?? createHostPolicy(settings);
  const policy = hostPolicy.enabled ? hostPolicy : undefined;
  const checks: ConnectionTestCheck[] = [];

  if (connection.credentials) {
    const endpoint = new URL(connection.credentials.tokenEndpoint);
    const label = `${originOf(endpoint)}${endpoint.pathname}`;
    try {
      await requestClientCredentialsToken({
        credentials: connection.credentials,
        tls: { validateCertificates: connection.validateCertificates, ...(connection.ca !== undefined ? { ca: connection.ca } : {}) },
        timeout: settings.oauth2.requestTimeout,
        maxResponseBytes: settings.oauth2.maxResponseBytes,
        ...(policy ? { hostPolicy: policy } : {}),
      });
    } catch (error) {
      if (error instanceof HostBlockedError) throw blocked(error);
      // The token errors' messages are already free of secrets (client-credentials.ts cleans them).
      const message = error instanceof TwinlinkError ? `${error.code}: ${error.message}` : `token request to ${label} failed`;
      if (error instanceof TokenRejectedError) {
        throw failed(400, `The token request failed: ${message}`, 'Check clientId, clientSecret, requestedScopes and tokenEndpoint of the credentials.');
      }
      throw failed(502, `The token request failed: ${message}`, 'Check that the token endpoint is reachable and answers a valid token response.');
    }
    checks.push({ check: 'token', detail: `access token obtained from ${label}` });
  }

  const target = new URL(connection.uri);
  const origin = originOf(target);
  try {
    if (policy) await policy.check(connection.uri);
    await reachTarget(target, {
      timeout: options.reachTimeout ?? DEFAULT_REACH_TIMEOUT,
      validateCertificates: connection.validateCertificates,
      ...(connection.ca !== undefined ? { ca: connection.ca } : {}),
      ...(policy ? { lookup: policy.dnsLookup } : {}),
    });
  } catch (error) {
    if (error instanceof HostBlockedError) throw blocked(error);
    throw failed(502, `The target ${origin} is not reachable: ${reachFailureReason(error)}`,
      'Check the uri of the connection (host, port, https certificate) and that the target accepts connections.');
  }
  checks.push({ check: 'target', detail: `${origin} accepts ${target.protocol === 'https:' ? 'TLS ' : ''}connections` });
  return { connectionId: connection.id, status: 200, testResult: 'ok', checks };
}
