/**
 * When does an access token expire? The JWT `exp` claim when the token is a JWT, `expires_in`
 * otherwise, a configured default when neither exists; the earlier of `exp` and `expires_in` when
 * both do. We are the client: the signature is the resource server's business, not ours, so the
 * payload is only decoded, never verified. Opaque tokens simply have no `exp`.
 */

/** Largest epoch ms a `Date` can hold; a larger `exp` is nonsense and ignored. */
const MAX_EPOCH_MS = 8.64e15;

/**
 * The `exp` claim of a JWS compact-serialised JWT as epoch ms, or undefined when the token is not
 * such a JWT (opaque, encrypted JWE, undecodable payload) or has no numeric `exp`.
 *
 * @example jwtExpiry('eyJhbGciOiJub25lIn0.eyJleHAiOjEwfQ.') // 10000
 */
export function jwtExpiry(token: string): number | undefined {
  const segments = token.split('.');
  // A JWS has three segments; a JWE has five and its payload is encrypted.
  if (segments.length !== 3) return undefined;
  const payload = segments[1];
  // base64url, though the seed's token is plain base64 without padding: Node accepts both alphabets.
  if (!payload || !/^[A-Za-z0-9_\-+/]+=*$/.test(payload)) return undefined;
  let claims: unknown;
  try {
    claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) return undefined;
  const exp = (claims as { exp?: unknown }).exp;
  if (typeof exp !== 'number' || !Number.isFinite(exp) || exp < 0) return undefined;
  const ms = Math.floor(exp * 1000);
  return ms > MAX_EPOCH_MS ? undefined : ms;
}

/** What {@link tokenExpiresAt} needs from a validated token response. */
export interface ExpiryInput {
  readonly accessToken: string;
  /** Seconds, as validated from `expires_in`. */
  readonly expiresIn?: number;
}

/**
 * Epoch ms at which the token expires, given the time it was received and the default lifetime
 * (ms) for tokens that state none.
 *
 * @example tokenExpiresAt({ accessToken: 'opaque', expiresIn: 60 }, 0, 3_600_000) // 60000
 */
export function tokenExpiresAt(response: ExpiryInput, now: number, defaultLifetime: number): number {
  const fromJwt = jwtExpiry(response.accessToken);
  const fromExpiresIn = response.expiresIn !== undefined ? now + Math.floor(response.expiresIn * 1000) : undefined;
  if (fromJwt !== undefined && fromExpiresIn !== undefined) return Math.min(fromJwt, fromExpiresIn);
  return fromJwt ?? fromExpiresIn ?? now + defaultLifetime;
}
