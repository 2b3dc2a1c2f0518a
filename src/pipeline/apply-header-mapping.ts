/**
 * Header mapping stage: resolves the target's `headerMapping` templates into request headers.
 * An unresolvable header is left out; a value containing CR, LF or any other character an HTTP
 * header value cannot carry (controls, code points above U+00FF) is dropped, so event data can never
 * inject headers nor make the request itself fail. The special headers `http.path` and `http.query`
 * replace the request path and query.
 */
import { map, type OperatorFunction } from 'rxjs';
import { ErrorCode, PlaceholderError, TwinlinkError } from '../errors.ts';
import { compileTemplate, type CompiledTemplate } from '../placeholders/compile-template.ts';
import type { PlaceholderContext } from '../placeholders/placeholder-resolvers.ts';
import type { Clock } from '../shared/clock.ts';
import type { HeaderMappedSignal, MappedSignal } from './target-work.ts';

/** Special mapped header replacing the request path. */
export const HTTP_PATH_HEADER = 'http.path';
/** Special mapped header replacing the request query. */
export const HTTP_QUERY_HEADER = 'http.query';

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// Node's own rule for header values (RFC 9110 field-value, obs-text allowed): anything else makes
// http.request throw ERR_INVALID_CHAR, failing the whole message.
const INVALID_HEADER_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

/** One compiled `headerMapping` entry. */
export interface CompiledHeader {
  readonly name: string;
  readonly template: CompiledTemplate;
}

/**
 * Compiles a `headerMapping` once.
 * @throws {TwinlinkError} `ERR_HEADER_INVALID` for a name that is not an HTTP token.
 * @throws {PlaceholderError} `ERR_PLACEHOLDER_INVALID` naming the header, with the position in its value.
 */
export function compileHeaderMapping(headerMapping: Readonly<Record<string, string>>): CompiledHeader[] {
  return Object.entries(headerMapping).map(([name, value]) => {
    if (!TOKEN.test(name)) throw new TwinlinkError(ErrorCode.HEADER_INVALID, `headerMapping: '${name}' is not a valid header name`);
    try {
      return { name: name.toLowerCase(), template: compileTemplate(value) };
    } catch (error) {
      if (error instanceof PlaceholderError) throw new PlaceholderError(`headerMapping '${name}': ${error.message}`, error.position);
      throw error;
    }
  });
}

/** Resolved request headers plus the path/query overrides. */
export interface ResolvedHeaders {
  readonly headers: Record<string, string>;
  readonly pathOverride?: string;
  readonly queryOverride?: string;
}

/**
 * Resolves the mapping for one mapped message: `content-type` from the mapper, the mapper's headers,
 * then the mapped ones (which may override both).
 */
export function resolveHeaders(compiled: readonly CompiledHeader[], item: MappedSignal, ctx: PlaceholderContext): ResolvedHeaders {
  const headers: Record<string, string> = { 'content-type': item.message.contentType };
  const extra = item.message.headers;
  if (extra) for (const name in extra) {
    const value = extra[name];
    if (value !== undefined && !INVALID_HEADER_VALUE.test(value) && TOKEN.test(name)) headers[name.toLowerCase()] = value;
  }
  let pathOverride: string | undefined;
  let queryOverride: string | undefined;
  for (const { name, template } of compiled) {
    const value = template.resolve(ctx);
    if (value === undefined || INVALID_HEADER_VALUE.test(value)) continue;
    if (name === HTTP_PATH_HEADER) pathOverride = value;
    else if (name === HTTP_QUERY_HEADER) queryOverride = value;
    else headers[name] = value;
  }
  return { headers, ...(pathOverride !== undefined ? { pathOverride } : {}), ...(queryOverride !== undefined ? { queryOverride } : {}) };
}

/** The placeholder context of a mapped item: `header:` reads the envelope's Ditto headers. */
export function placeholderContextOf(item: { readonly signal: MappedSignal['signal']; readonly envelope: MappedSignal['envelope'] }, connectionId: string, now: number): PlaceholderContext {
  return { signal: item.signal, connectionId, now, headers: item.envelope.headers };
}

/** Operator form of {@link resolveHeaders}. */
export function applyHeaderMapping(compiled: readonly CompiledHeader[], connectionId: string, clock: Clock): OperatorFunction<MappedSignal, HeaderMappedSignal> {
  return map((item) => ({ ...item, ...resolveHeaders(compiled, item, placeholderContextOf(item, connectionId, clock.now())) }));
}
