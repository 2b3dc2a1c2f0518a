/**
 * The typed, validated configuration every component past the loader sees. The loader
 * (`load.ts`) produces these from YAML/JSON through the zod schema (`schema.ts`), deep-frozen.
 * Durations are normalised to milliseconds; everything optional in the file has its default here.
 */

/** HTTP verbs a Ditto http-push target may use. */
export type HttpVerb = 'POST' | 'PUT' | 'PATCH' | 'GET' | 'DELETE';

/** How the client authenticates at the token endpoint (RFC 6749 §2.3.1). */
export type ClientAuthenticationMethod = 'client_secret_post' | 'client_secret_basic';

/** `credentials` of type `oauth-client-credentials` (Ditto's shape plus `clientAuthenticationMethod`). */
export interface OAuthClientCredentials {
  readonly type: 'oauth-client-credentials';
  readonly tokenEndpoint: string;
  readonly clientId: string;
  /** Secret: redacted everywhere it could be shown. */
  readonly clientSecret: string;
  /** Space-separated scopes (RFC 6749 §3.3); may be empty. */
  readonly requestedScopes?: string;
  readonly audience?: string;
  readonly clientAuthenticationMethod: ClientAuthenticationMethod;
}

/** One Ditto target of an http-push connection. */
export interface TargetConfig {
  /** `VERB:/path[?query]`, placeholders allowed. */
  readonly address: string;
  /** Ditto topics with optional `?namespaces=&filter=&extraFields=`. */
  readonly topics: readonly string[];
  readonly authorizationContext: readonly string[];
  readonly headerMapping: Readonly<Record<string, string>>;
  readonly issuedAcknowledgementLabel?: string;
  readonly payloadMapping: readonly string[];
}

/** A payload mapper instance declared under `mappingDefinitions`. */
export interface MappingDefinition {
  readonly mappingEngine: string;
  readonly options: Readonly<Record<string, unknown>>;
}

/** `specificConfig` of an http-push connection, normalised. */
export interface HttpPushSpecificConfig {
  /** Maximum requests in flight for this connection (≥ 1). Ditto rounds up to a power of two; we do not. */
  readonly parallelism: number;
  /** Per-request timeout in ms; absent = `engine.httpPush.requestTimeout`. */
  readonly idleTimeout?: number;
  /** Methods sent without a body. */
  readonly omitRequestBody: readonly HttpVerb[];
}

/** One Eclipse Ditto http-push connection, as written by the user. */
export interface ConnectionConfig {
  readonly id: string;
  readonly name?: string;
  readonly connectionType: 'http-push';
  readonly connectionStatus: 'open' | 'closed';
  readonly uri: string;
  readonly validateCertificates: boolean;
  /** Trusted CA certificate(s), PEM. */
  readonly ca?: string;
  readonly clientCount: number;
  readonly failoverEnabled: boolean;
  readonly tags: readonly string[];
  readonly sources: readonly unknown[];
  readonly targets: readonly TargetConfig[];
  readonly mappingDefinitions: Readonly<Record<string, MappingDefinition>>;
  readonly specificConfig: HttpPushSpecificConfig;
  readonly credentials?: OAuthClientCredentials;
}

/** Retry policy for one outbound message. */
export interface RetryPolicy {
  /** Total attempts including the first (1 = no retry). */
  readonly maxAttempts: number;
  readonly initialDelay: number;
  readonly maxDelay: number;
  /** HTTP statuses that are retried (network errors and timeouts always are). */
  readonly statuses: readonly number[];
}

/** `engine.oauth2`: token acquisition settings shared by all credentials. */
export interface OAuth2Settings {
  /** Reject `http:` token endpoints at load (default true). */
  readonly enforceHttps: boolean;
  /** Safety margin before expiry, ms (default 60s). */
  readonly maxClockSkew: number;
  /** Token request timeout, ms (default 10s). */
  readonly requestTimeout: number;
  /** Lifetime assumed for tokens with neither `exp` nor `expires_in`, ms (default 1h). */
  readonly defaultTokenLifetime: number;
  /** How long a publisher waits for a token before failing, ms (default 30s). */
  readonly tokenWaitTimeout: number;
  /** Target statuses that mean "this token was refused" (default [401]). */
  readonly unauthorizedStatuses: readonly number[];
  /** Largest token response body accepted, bytes (default 64 KiB). */
  readonly maxResponseBytes: number;
  /** Backoff after a transient token failure. */
  readonly backoff: { readonly initialDelay: number; readonly maxDelay: number };
  /** Retry delay after a misconfiguration (`invalid_client`, …), ms (default 1h). */
  readonly misconfiguredRetryDelay: number;
}

/** What happens when a connection's queue is full. */
export type OverflowPolicy = 'drop-newest' | 'drop-oldest';

/** `engine.httpPush`: publishing settings shared by all connections. */
export interface HttpPushSettings {
  readonly maxQueueSize: number;
  /** Default per-request timeout, ms (default 60s). */
  readonly requestTimeout: number;
  readonly overflow: OverflowPolicy;
  readonly retry: RetryPolicy;
  /** Consecutive failed messages that open the circuit (connection to `backoff`). */
  readonly circuitBreakerThreshold: number;
  /** Largest response body read from a target, bytes. */
  readonly maxResponseBytes: number;
}

/** `engine.connectionLogs`: how many recent entries each connection's log keeps. */
export interface ConnectionLogSettings {
  /** Success entries kept (default 10). */
  readonly successCapacity: number;
  /** Failure entries kept (default 40). */
  readonly failureCapacity: number;
}

/** `engine`: settings for the engine itself. */
export interface EngineSettings {
  readonly oauth2: OAuth2Settings;
  readonly httpPush: HttpPushSettings;
  readonly connectionLogs: ConnectionLogSettings;
  /** Ditto-style host filtering; empty lists = off. */
  readonly allowedHosts: readonly string[];
  readonly blockedHosts: readonly string[];
  readonly blockedSubnets: readonly string[];
}

/** A Things API user (HTTP Basic). Exactly one of `password` / `passwordHash` is set. */
export interface UserConfig {
  readonly username: string;
  readonly password?: string;
  /** `scrypt$<salt-b64>$<hash-b64>` (Node's crypto.scrypt). */
  readonly passwordHash?: string;
  /** The subject policies name, e.g. `nginx:ditto`. */
  readonly subject: string;
}

/** The devops user for the connections API. */
export interface DevopsConfig {
  readonly username: string;
  readonly password?: string;
  readonly passwordHash?: string;
}

/** `demo`: loopback token endpoint and webhook for trying the seed scenario out of the box. */
export interface DemoConfig {
  readonly enabled: boolean;
  readonly host: string;
  /** Port of the demo server (token endpoint + webhook); 0 = any free port. */
  readonly port: number;
  readonly clientId: string;
  readonly clientSecret: string;
  /** Lifetime of issued tokens, ms. */
  readonly tokenLifetime: number;
}

/** The whole configuration file. */
export interface TwinlinkConfig {
  readonly http: { readonly host: string; readonly port: number };
  readonly auth: { readonly users: readonly UserConfig[]; readonly devops: DevopsConfig };
  readonly things: { readonly defaultNamespace: string };
  readonly engine: EngineSettings;
  readonly connections: readonly ConnectionConfig[];
  readonly connectionsDir?: string;
  readonly demo?: DemoConfig;
}
