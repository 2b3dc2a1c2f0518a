/** Shared settings and credentials for the auth specs (the config loader's defaults, typed). */
import { defaultEngineSettings } from '../../src/config/schema.ts';
import type { OAuth2Settings, OAuthClientCredentials } from '../../src/config/types.ts';

/** `engine.oauth2` with its documented defaults, straight from the loader. */
export const defaultOAuth2Settings: OAuth2Settings = defaultEngineSettings().oauth2;

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
