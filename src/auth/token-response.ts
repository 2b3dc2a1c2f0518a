/**
 * Validation of what a token endpoint answered: the RFC 6749 §5.1 success document and the §5.2
 * error document. The body is untrusted input: anything unusable becomes a coded error whose
 * message says what was wrong and shows at most a short excerpt with token-like values removed.
 */
import { TokenResponseError, type OAuthErrorFields } from '../errors.ts';

/** A validated RFC 6749 §5.1 access token response. */
export interface TokenResponse {
  /** Secret: never log it. */
  readonly accessToken: string;
  readonly tokenType?: string;
  /** Lifetime in seconds, from `expires_in` (a number or a numeric string). */
  readonly expiresIn?: number;
  readonly scope?: string;
}

/** A token endpoint's HTTP answer, body already read (and size-capped) as text. */
export interface TokenEndpointAnswer {
  readonly statusCode: number;
  readonly contentType?: string;
  readonly body: string;
}

const JSON_CONTENT_TYPE = /^\s*application\/(?:[\w.!#$&^-]+\+)?json\s*(?:;|$)/i;
// RFC 6750 b64token is stricter; we accept any visible ASCII (opaque tokens vary) but never
// whitespace or control characters, which would break or inject into the Authorization header.
const HEADER_SAFE_TOKEN = /^[\x21-\x7e]+$/;
const EXCERPT_LENGTH = 120;
const REDACTED = '[redacted]';

/**
 * Validates a 2xx answer as an access token response, or throws {@link TokenResponseError}
 * (`ERR_TOKEN_RESPONSE_INVALID`). `secrets` are scrubbed from any excerpt in the message.
 *
 * @example parseTokenResponse({ statusCode: 200, contentType: 'application/json', body: '{"access_token":"x"}' })
 */
export function parseTokenResponse(answer: TokenEndpointAnswer, secrets: readonly string[] = []): TokenResponse {
  const fail = (problem: string, withExcerpt = true): never => {
    const excerpt = withExcerpt ? bodyExcerpt(answer.body, secrets) : '';
    throw new TokenResponseError(`invalid token response: ${problem}${excerpt ? ` (body: ${excerpt})` : ''}`, answer.statusCode);
  };
  if (answer.contentType === undefined || !JSON_CONTENT_TYPE.test(answer.contentType)) {
    fail(`content type is ${answer.contentType ? JSON.stringify(clean(answer.contentType, secrets, 60)) : 'missing'}, expected application/json`);
  }
  let document: unknown;
  try {
    document = JSON.parse(answer.body);
  } catch {
    fail(answer.body.trim() === '' ? 'the body is empty' : 'the body is not valid JSON', answer.body.trim() !== '');
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    return fail('the body is not a JSON object');
  }
  const fields = document as Record<string, unknown>;
  const token = fields['access_token'];
  if (token === undefined || token === null) fail('access_token is missing');
  if (typeof token !== 'string') return fail(`access_token is a ${typeof token}, not a string`);
  if (token === '') fail('access_token is empty');
  if (!HEADER_SAFE_TOKEN.test(token)) fail('access_token contains whitespace or control characters', false);

  const tokenType = fields['token_type'];
  if (tokenType !== undefined && (typeof tokenType !== 'string' || tokenType.toLowerCase() !== 'bearer')) {
    fail(`token_type ${JSON.stringify(clean(String(tokenType), secrets, 40))} is not "bearer"`, false);
  }
  const expiresIn = parseExpiresIn(fields['expires_in']);
  if (expiresIn === null) {
    fail(`expires_in ${JSON.stringify(clean(JSON.stringify(fields['expires_in']) ?? '', secrets, 40))} is not a positive number of seconds`, false);
  }
  const scope = fields['scope'];
  return {
    accessToken: token,
    ...(typeof tokenType === 'string' ? { tokenType } : {}),
    ...(expiresIn !== undefined && expiresIn !== null ? { expiresIn } : {}),
    ...(typeof scope === 'string' ? { scope } : {}),
  };
}

/** `expires_in` as seconds; undefined when absent, null when present but unusable. */
function parseExpiresIn(value: unknown): number | undefined | null {
  if (value === undefined || value === null) return undefined;
  const number = typeof value === 'number' ? value : typeof value === 'string' && /^\s*\d+(?:\.\d+)?\s*$/.test(value) ? Number(value) : NaN;
  return Number.isFinite(number) && number > 0 ? number : null;
}

/**
 * The RFC 6749 §5.2 fields of an error answer, when its body is a JSON object with a string
 * `error`. Values are made safe for messages and logs (secrets scrubbed, control characters
 * removed, length capped).
 *
 * @example parseOAuthError('{"error":"invalid_client"}') // { error: 'invalid_client' }
 */
export function parseOAuthError(body: string, secrets: readonly string[] = []): OAuthErrorFields | undefined {
  let document: unknown;
  try {
    document = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) return undefined;
  const { error, error_description: description, error_uri: uri } = document as Record<string, unknown>;
  if (typeof error !== 'string' || error === '') return undefined;
  return {
    error: clean(error, secrets, 64),
    ...(typeof description === 'string' ? { errorDescription: clean(description, secrets, 300) } : {}),
    ...(typeof uri === 'string' ? { errorUri: clean(uri, secrets, 300) } : {}),
  };
}

/**
 * A short, single-line excerpt of an untrusted body for error messages, with token-like values
 * (JSON or form fields named like tokens or secrets, JWT-shaped strings, long opaque runs) and the
 * given secrets replaced by `[redacted]`. Redaction runs on the whole body before truncation so a
 * cut can never expose half a token.
 */
export function bodyExcerpt(body: string, secrets: readonly string[] = [], length = EXCERPT_LENGTH): string {
  const redacted = scrubSecrets(body, secrets)
    .replace(/("[^"\\]*(?:token|secret|password|assertion)[^"\\]*"\s*:\s*)"(?:[^"\\]|\\.)*"?/gi, `$1"${REDACTED}"`)
    .replace(/((?:^|[&?\s])[\w.-]*(?:token|secret|password)[\w.-]*=)[^&\s]*/gi, `$1${REDACTED}`)
    .replace(/[\w-]{4,}\.[\w-]{4,}\.[\w-]*/g, REDACTED)
    .replace(/[\w+/=~.-]{40,}/g, REDACTED);
  return clean(redacted, secrets, length);
}

/**
 * Scrubs `secrets` (raw and form-encoded) from `text`, replaces control characters with spaces
 * and caps the length. Used for every server-supplied string that may reach a message or log.
 */
export function clean(text: string, secrets: readonly string[], length: number): string {
  // eslint-disable-next-line no-control-regex
  const result = scrubSecrets(text, secrets).replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return result.length > length ? `${result.slice(0, length)}…` : result;
}

/** Replaces every occurrence of each secret (raw, percent-encoded, form-encoded) by `[redacted]`. */
export function scrubSecrets(text: string, secrets: readonly string[]): string {
  let result = text;
  for (const secret of secrets) {
    if (secret.length === 0) continue;
    for (const form of new Set([secret, encodeURIComponent(secret), new URLSearchParams({ s: secret }).toString().slice(2)])) {
      result = result.split(form).join(REDACTED);
    }
  }
  return result;
}
