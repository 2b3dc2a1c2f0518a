/**
 * Copies of configuration objects with every secret replaced by `***`, for status documents, the
 * connections API, logs and error messages. The originals (deep-frozen) are never touched.
 */
import type { ConnectionConfig, TwinlinkConfig } from './types.ts';

/** What a redacted secret reads as. */
export const REDACTED = '***';

/**
 * Masks the password in a URL's userinfo (`https://user:***@host/`); other text is returned as is.
 *
 * @example maskUri('https://bob:secret@example.org/x') // 'https://bob:***@example.org/x'
 */
export function maskUri(uri: string): string {
  // Textual, so it also works on strings that are not valid URLs and keeps the user's spelling.
  return uri.replace(/^([A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#@:]*):[^/?#@]*@/, `$1:${REDACTED}@`);
}

/**
 * A copy of `connection` without secrets: `credentials.clientSecret` and the uri's userinfo password.
 *
 * @example redactConnection(conn).credentials?.clientSecret // '***'
 */
export function redactConnection(connection: ConnectionConfig): ConnectionConfig {
  const copy: ConnectionConfig = structuredClone({ ...connection, uri: maskUri(connection.uri) });
  if (connection.credentials) return { ...copy, credentials: { ...copy.credentials!, clientSecret: REDACTED } };
  return copy;
}

function redactPasswords<T extends { password?: string; passwordHash?: string }>(user: T): T {
  return {
    ...user,
    ...(user.password !== undefined ? { password: REDACTED } : {}),
    ...(user.passwordHash !== undefined ? { passwordHash: REDACTED } : {}),
  };
}

/** A copy of the whole configuration without secrets (passwords, hashes, client secrets, uri passwords). */
export function redactConfig(config: TwinlinkConfig): TwinlinkConfig {
  const copy = structuredClone(config) as TwinlinkConfig;
  return {
    ...copy,
    auth: { users: copy.auth.users.map(redactPasswords), devops: redactPasswords(copy.auth.devops) },
    connections: config.connections.map(redactConnection),
    ...(copy.demo ? { demo: { ...copy.demo, clientSecret: REDACTED } } : {}),
  };
}
