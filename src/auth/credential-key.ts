/**
 * The identity of a credential: connections whose credentials have the same key share one token
 * actor (and so one token request per refresh). Everything that changes the token request or
 * whom it is sent to takes part: token endpoint, client id, requested scopes, audience, client
 * authentication method, the secret, and the TLS settings (a different CA is a different trust).
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { OAuthClientCredentials } from '../config/types.ts';
import { normaliseScopes, type TokenRequestTls } from './client-credentials.ts';

// The secret and CA enter the key only as a keyed digest: the key may end up in a debug log, and a
// plain hash of a weak secret could be brute-forced. The per-process key makes digests useless
// outside this process, which is the only place keys are compared.
const DIGEST_KEY = randomBytes(32);

function digest(value: string): string {
  return createHmac('sha256', DIGEST_KEY).update(value).digest('base64url').slice(0, 22);
}

/**
 * A string that is equal for two credentials exactly when one token actor can serve both.
 * Opaque and secret-free, but meant for comparison only, not for display.
 *
 * @example credentialKey(connection.credentials, { ca: connection.ca, validateCertificates: true })
 */
export function credentialKey(credentials: OAuthClientCredentials, tls: TokenRequestTls): string {
  return JSON.stringify([
    credentials.tokenEndpoint,
    credentials.clientId,
    normaliseScopes(credentials.requestedScopes),
    credentials.audience ?? '',
    credentials.clientAuthenticationMethod,
    digest(credentials.clientSecret),
    tls.validateCertificates,
    tls.ca ? digest(tls.ca.trim()) : '',
  ]);
}
