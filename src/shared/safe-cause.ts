/**
 * got's errors keep the request options (headers with `Authorization`, the token request body with
 * the client secret) and the response. Hidden as a non-enumerable `cause` they stay out of JSON
 * and pino, but `util.inspect` (console.log, uncaught-error dumps, REPLs) prints a `cause` with
 * all its own properties. So translated errors keep a sanitized copy of the cause chain instead.
 */
import { TwinlinkError } from '../errors.ts';

/** The properties of an error that are safe to keep: they name what failed, never with what. */
const SAFE_FIELDS = ['code', 'errno', 'syscall', 'address', 'port', 'event'] as const;

/**
 * A copy of `error` with only its class name, message, stack, network fields (`code`, `errno`,
 * `syscall`, `address`, `port`) and sanitized `cause` — no request options, headers, bodies or
 * responses. Twinlink errors (already secret-free) and non-errors pass through unchanged.
 *
 * @example new PublishError('POST … failed: ECONNRESET', { reason: 'ECONNRESET', cause: safeCause(gotError) })
 */
export function safeCause(error: unknown, depth = 0): unknown {
  if (!(error instanceof Error) || error instanceof TwinlinkError) return error;
  const copy = new Error(error.message);
  Object.defineProperty(copy, 'name', { value: error.name, enumerable: false, writable: true, configurable: true });
  copy.stack = error.stack;
  const source = error as unknown as Record<string, unknown>;
  for (const field of SAFE_FIELDS) {
    const value = source[field];
    if (typeof value === 'string' || typeof value === 'number') (copy as unknown as Record<string, unknown>)[field] = value;
  }
  if (error.cause !== undefined && depth < 4) {
    Object.defineProperty(copy, 'cause', { value: safeCause(error.cause, depth + 1), enumerable: false, writable: true, configurable: true });
  }
  return copy;
}
