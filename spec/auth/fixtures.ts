/** Shared settings and credentials for the auth specs (the config loader's defaults, typed). */
import type { OAuth2Settings, OAuthClientCredentials } from '../../src/config/types.ts';

/** `engine.oauth2` with its documented defaults. */
export const defaultOAuth2Settings: OAuth2Settings = Object.freeze({
  enforceHttps: true,
  maxClockSkew: 60_000,
  requestTimeout: 10_000,
  defaultTokenLifetime: 3_600_000,
  tokenWaitTimeout: 30_000,
  unauthorizedStatuses: [401],
  maxResponseBytes: 64 * 1024,
  backoff: { initialDelay: 1_000, maxDelay: 60_000 },
  misconfiguredRetryDelay: 3_600_000,
});

/** The seed's credentials, pointed at `tokenEndpoint`. */
export function seedCredentials(tokenEndpoint: string, overrides: Partial<OAuthClientCredentials> = {}): OAuthClientCredentials {
  return {
    type: 'oauth-client-credentials',
    tokenEndpoint,
    clientId: 'my-client-id',
    clientSecret: 'my-client-secret',
    requestedScopes: 'my-scope',
    clientAuthenticationMethod: 'client_secret_post',
    ...overrides,
  };
}
