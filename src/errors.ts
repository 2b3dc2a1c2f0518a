/**
 * Every error twinlink raises extends {@link TwinlinkError} and carries a stable `code` that
 * callers may switch on (the README lists them). Messages never contain secrets: whatever could
 * hold one is attached as a non-enumerable property so loggers and JSON serialisation skip it.
 */

/** Stable error codes. Add, never rename: users script against them. */
export const ErrorCode = {
  CONFIG_INVALID: 'ERR_CONFIG_INVALID',
  CONFIG_SYNTAX: 'ERR_CONFIG_SYNTAX',
  CONFIG_ENV: 'ERR_CONFIG_ENV',
  CONFIG_READ: 'ERR_CONFIG_READ',
  TOKEN_ENDPOINT: 'ERR_TOKEN_ENDPOINT',
  TOKEN_REJECTED: 'ERR_TOKEN_REJECTED',
  TOKEN_RESPONSE_INVALID: 'ERR_TOKEN_RESPONSE_INVALID',
  TOKEN_UNAVAILABLE: 'ERR_TOKEN_UNAVAILABLE',
  PUBLISH_FAILED: 'ERR_PUBLISH_FAILED',
  PLACEHOLDER_INVALID: 'ERR_PLACEHOLDER_INVALID',
  RQL_INVALID: 'ERR_RQL_INVALID',
  MAPPING_FAILED: 'ERR_MAPPING_FAILED',
  HEADER_INVALID: 'ERR_HEADER_INVALID',
  CONNECTION_NOT_FOUND: 'ERR_CONNECTION_NOT_FOUND',
  CONNECTION_EXISTS: 'ERR_CONNECTION_EXISTS',
  ENGINE_STOPPED: 'ERR_ENGINE_STOPPED',
  HOST_BLOCKED: 'ERR_HOST_BLOCKED',
  /** A registry already holds a metric of a twinlink name with another type or labels. */
  METRIC_CONFLICT: 'ERR_METRIC_CONFLICT',
  /** A Things or connections API request was refused (the HTTP status and Ditto error code say why). */
  HTTP_API: 'ERR_HTTP_API',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Base class: a coded error whose `cause` keeps the original failure. */
export class TwinlinkError extends Error {
  override name = 'TwinlinkError';
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message);
    this.code = code;
    // `cause` may be a got error holding request options (and so secrets): keep it, hide it.
    if (options?.cause !== undefined) {
      Object.defineProperty(this, 'cause', { value: options.cause, enumerable: false, writable: true, configurable: true });
    }
  }

  /** What logs and API documents show: code and message, never the cause's internals. */
  toJSON(): { name: string; code: ErrorCode; message: string } {
    return { name: this.name, code: this.code, message: this.message };
  }
}

/** One problem found in a configuration: where it is and what is wrong. */
export interface ConfigIssue {
  /** Field path such as `connections[0].targets[1].address`, or `` for the whole document. */
  readonly path: string;
  readonly message: string;
  /** 1-based position in the source text, when known. */
  readonly line?: number;
  readonly column?: number;
  /** The file the issue is in, when it is not the error's `source` (e.g. a `connectionsDir` file). */
  readonly source?: string;
}

/** A configuration that cannot be used; `issues` lists every problem found, not just the first. */
export class ConfigError extends TwinlinkError {
  override name = 'ConfigError';
  readonly issues: readonly ConfigIssue[];
  readonly source: string;

  constructor(code: ErrorCode, source: string, issues: readonly ConfigIssue[], options?: { cause?: unknown }) {
    super(code, ConfigError.format(source, issues), options);
    this.source = source;
    this.issues = Object.freeze([...issues]);
  }

  /** `file:line:column path: message`, one line per issue. */
  static format(source: string, issues: readonly ConfigIssue[]): string {
    const lines = issues.map((issue) => {
      const file = issue.source ?? source;
      const where = issue.line !== undefined ? `${file}:${issue.line}:${issue.column ?? 1}` : file;
      return issue.path ? `${where} ${issue.path}: ${issue.message}` : `${where} ${issue.message}`;
    });
    const head = issues.length === 1 ? 'invalid configuration' : `invalid configuration (${issues.length} problems)`;
    return `${head}\n  ${lines.join('\n  ')}`;
  }
}

/** RFC 6749 §5.2 error fields as returned by a token endpoint. */
export interface OAuthErrorFields {
  readonly error: string;
  readonly errorDescription?: string;
  readonly errorUri?: string;
}

/** The token endpoint could not be reached or answered with a transient failure (5xx, 429, timeout). */
export class TokenEndpointError extends TwinlinkError {
  override name = 'TokenEndpointError';
  readonly statusCode?: number;
  /** Milliseconds the server asked us to wait (`Retry-After`), when it did. */
  readonly retryAfterMs?: number;
  readonly oauth?: OAuthErrorFields;
  constructor(message: string, details: { statusCode?: number; retryAfterMs?: number; oauth?: OAuthErrorFields; cause?: unknown } = {}) {
    super(ErrorCode.TOKEN_ENDPOINT, message, { cause: details.cause });
    this.statusCode = details.statusCode;
    this.retryAfterMs = details.retryAfterMs;
    this.oauth = details.oauth;
  }
}

/** The token endpoint refused the credentials (RFC 6749 §5.2 `invalid_client`, …): misconfiguration. */
export class TokenRejectedError extends TwinlinkError {
  override name = 'TokenRejectedError';
  readonly statusCode?: number;
  readonly oauth: OAuthErrorFields;
  constructor(message: string, oauth: OAuthErrorFields, statusCode?: number) {
    super(ErrorCode.TOKEN_REJECTED, message);
    this.oauth = oauth;
    this.statusCode = statusCode;
  }
}

/** The token endpoint answered 2xx with something that is not a usable token response. */
export class TokenResponseError extends TwinlinkError {
  override name = 'TokenResponseError';
  readonly statusCode?: number;
  constructor(message: string, statusCode?: number) {
    super(ErrorCode.TOKEN_RESPONSE_INVALID, message);
    this.statusCode = statusCode;
  }
}

/** No valid token became available within the wait timeout. */
export class TokenUnavailableError extends TwinlinkError {
  override name = 'TokenUnavailableError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCode.TOKEN_UNAVAILABLE, message, options);
  }
}

/** A message could not be delivered to its target. */
export class PublishError extends TwinlinkError {
  override name = 'PublishError';
  readonly statusCode?: number;
  /** Short, bounded reason (`timeout`, `ECONNREFUSED`, `ECONNRESET`, `status 503`, …), usable as a metric label. */
  readonly reason?: string;
  /** False when no retry can help (a blocked host, a header the client refuses); default true. */
  readonly retryable: boolean;
  constructor(message: string, details: { statusCode?: number; reason?: string; retryable?: boolean; cause?: unknown } = {}) {
    super(ErrorCode.PUBLISH_FAILED, message, { cause: details.cause });
    this.statusCode = details.statusCode;
    this.reason = details.reason;
    this.retryable = details.retryable ?? true;
  }
}

/** A placeholder expression is malformed or names an unknown placeholder or function. */
export class PlaceholderError extends TwinlinkError {
  override name = 'PlaceholderError';
  /** 0-based offset in the template where the problem starts. */
  readonly position: number;
  constructor(message: string, position: number) {
    super(ErrorCode.PLACEHOLDER_INVALID, message);
    this.position = position;
  }
}

/** An RQL filter cannot be parsed. */
export class RqlError extends TwinlinkError {
  override name = 'RqlError';
  /** 0-based offset in the filter string. */
  readonly position: number;
  constructor(message: string, position: number) {
    super(ErrorCode.RQL_INVALID, message);
    this.position = position;
  }
}

/** A lookup or change named a connection that does not exist (or already exists). */
export class ConnectionError extends TwinlinkError {
  override name = 'ConnectionError';
}

/** A connection host or token endpoint resolves to an address the engine is configured to refuse. */
export class HostBlockedError extends TwinlinkError {
  override name = 'HostBlockedError';
  /** The refused host name (or address), lower-cased, without port or brackets. */
  readonly host?: string;
  /** Which rule refused it: `loopback`, `private`, `link-local`, `unspecified`, `multicast`, `blocked-subnet`, `blocked-host`, `unresolvable`, `invalid-url`. */
  readonly rule?: string;
  constructor(message: string, details: { host?: string; rule?: string; cause?: unknown } = {}) {
    super(ErrorCode.HOST_BLOCKED, message, { cause: details.cause });
    this.host = details.host;
    this.rule = details.rule;
  }
}
