/**
 * Address stage: resolves the target address `VERB:/path[?query]` with placeholders. Resolved values
 * are percent-encoded for their position (path segment or query component), so event data cannot
 * add segments, parameters or change the request line. An unresolvable address drops the message.
 */
import { mergeMap, type OperatorFunction } from 'rxjs';
import type { HttpVerb } from '../config/types.ts';
import { ErrorCode, PlaceholderError, TwinlinkError } from '../errors.ts';
import { compileTemplate, type CompiledTemplate } from '../placeholders/compile-template.ts';
import type { PlaceholderContext } from '../placeholders/placeholder-resolvers.ts';
import type { Clock } from '../shared/clock.ts';
import { placeholderContextOf } from './apply-header-mapping.ts';
import type { HeaderMappedSignal } from './target-work.ts';

const VERBS = new Set<string>(['POST', 'PUT', 'PATCH', 'GET', 'DELETE']);

/** A compiled target address. */
export interface CompiledAddress {
  readonly source: string;
  readonly method: HttpVerb;
  readonly path: CompiledTemplate;
  readonly query?: CompiledTemplate;
}

/** Encodes a value as one path segment (keeps RFC 3986 pchar such as `:` and `@`). */
export function encodePathSegment(value: string): string {
  return encodeURIComponent(value).replace(/%(3A|40|24|26|2B|2C|3B|3D)/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/** Encodes a value as part of a query component (`&`, `=`, `+`, `#` stay encoded). */
export function encodeQueryValue(value: string): string {
  return encodeURIComponent(value).replace(/%(3A|40|2F|3F|2C|24|3B)/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

// For whole `http.path` / `http.query` values: keep their structure, encode everything else.
function sanitize(value: string, keep: RegExp): string {
  let out = '';
  for (const ch of value) out += keep.test(ch) ? ch : encodeURIComponent(ch);
  return out;
}
const PATH_CHARS = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/%]$/;
const QUERY_CHARS = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]$/;

/** Splits the query part off outside `{{ }}`, so `?` inside a placeholder argument is not mistaken. */
function splitQuery(text: string): [string, string | undefined] {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    if (text.startsWith('{{', i)) { depth++; i++; } else if (text.startsWith('}}', i)) { depth--; i++; } else if (text[i] === '?' && depth === 0) return [text.slice(0, i), text.slice(i + 1)];
  }
  return [text, undefined];
}

/**
 * Compiles a target address once.
 * @throws {TwinlinkError} `ERR_CONFIG_INVALID` when it is not `<VERB>:/<path>`.
 * @throws {PlaceholderError} `ERR_PLACEHOLDER_INVALID` with the position inside the address.
 * @example compileAddress('POST:/events/{{ thing:id }}?ns={{ thing:namespace }}')
 */
export function compileAddress(address: string): CompiledAddress {
  const colon = address.indexOf(':');
  const verb = colon < 0 ? '' : address.slice(0, colon);
  const rest = colon < 0 ? '' : address.slice(colon + 1);
  if (!VERBS.has(verb) || !rest.startsWith('/')) {
    throw new TwinlinkError(ErrorCode.CONFIG_INVALID, `Target address has invalid format. Expect '<VERB>:/<path>' with VERB one of POST, PUT, PATCH, GET, DELETE: '${address}'`);
  }
  const [pathText, queryText] = splitQuery(rest);
  const offset = colon + 1;
  const compile = (text: string, base: number): CompiledTemplate => {
    try {
      return compileTemplate(text);
    } catch (error) {
      if (error instanceof PlaceholderError) throw new PlaceholderError(`address '${address}': ${error.message}`, error.position + base);
      throw error;
    }
  };
  const path = compile(pathText, offset);
  const query = queryText === undefined ? undefined : compile(queryText, offset + pathText.length + 1);
  return { source: address, method: verb as HttpVerb, path, ...(query ? { query } : {}) };
}

/** The resolved `path[?query]`, or `undefined` when a placeholder cannot be resolved. */
export function resolvePathAndQuery(address: CompiledAddress, ctx: PlaceholderContext, overrides: { pathOverride?: string; queryOverride?: string } = {}): string | undefined {
  let path: string | undefined;
  if (overrides.pathOverride !== undefined) {
    const p = sanitize(overrides.pathOverride, PATH_CHARS);
    path = p.startsWith('/') ? p : `/${p}`;
  } else {
    path = address.path.resolve(ctx, encodePathSegment);
  }
  if (path === undefined) return undefined;
  let query: string | undefined;
  if (overrides.queryOverride !== undefined) {
    const q = overrides.queryOverride.startsWith('?') ? overrides.queryOverride.slice(1) : overrides.queryOverride;
    query = sanitize(q, QUERY_CHARS);
  } else if (address.query !== undefined) {
    query = address.query.resolve(ctx, encodeQueryValue);
    if (query === undefined) return undefined;
  }
  return query === undefined || query === '' ? path : `${path}?${query}`;
}

/** An item with its resolved request target. */
export type AddressedSignal = HeaderMappedSignal & { readonly pathAndQuery: string };

/** Operator form of {@link resolvePathAndQuery}; unresolvable addresses are reported and dropped. */
export function resolveAddress(
  address: CompiledAddress,
  connectionId: string,
  clock: Clock,
  onDropped: (item: HeaderMappedSignal, reason: string) => void = () => {},
): OperatorFunction<HeaderMappedSignal, AddressedSignal> {
  return mergeMap((item) => {
    const pathAndQuery = resolvePathAndQuery(address, placeholderContextOf(item, connectionId, clock.now()), item);
    if (pathAndQuery === undefined) {
      onDropped(item, `address '${address.source}' could not be resolved`);
      return [];
    }
    return [{ ...item, pathAndQuery }];
  });
}
