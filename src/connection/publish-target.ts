/**
 * Target addresses (`VERB:/path[?query]`) and how a message's path is joined to the connection `uri`.
 * Addresses are validated at config load; these helpers only split and join.
 */
import type { HttpVerb } from '../config/types.ts';

/** A target address split into verb and path (placeholders still unresolved). */
export interface PublishAddress {
  readonly method: HttpVerb;
  /** `/path[?query]`, as written. */
  readonly pathAndQuery: string;
}

const ADDRESS = /^(POST|PUT|PATCH|GET|DELETE):(\/.*)?$/;

/**
 * Splits `VERB:/path[?query]`. Throws a TypeError for anything else (config validation rejects
 * such addresses earlier, with Ditto's wording).
 *
 * @example parsePublishAddress('POST:/hooks/{{ thing:id }}') // { method: 'POST', pathAndQuery: '/hooks/{{ thing:id }}' }
 */
export function parsePublishAddress(address: string): PublishAddress {
  const match = ADDRESS.exec(address);
  if (!match) throw new TypeError("Target address has invalid format. Expect '<VERB>:/<path>'");
  return { method: match[1] as HttpVerb, pathAndQuery: match[2] ?? '/' };
}

/** Where a connection publishes to: its base URL without userinfo, and Basic credentials if the uri had some. */
export interface PublishBase {
  /** Origin plus path prefix, without a trailing slash and without userinfo. */
  readonly base: string;
  /** `Basic <base64>` built from the uri's userinfo, when present. Secret: never log it. */
  readonly basicAuthorization?: string;
}

/**
 * Parses the connection `uri` once: keeps the path prefix, strips userinfo into a Basic
 * `Authorization` value (Ditto: userinfo in the uri = HTTP Basic auth on publish).
 *
 * @example publishBaseOf('https://u:p@hook.example/prefix/') // { base: 'https://hook.example/prefix', basicAuthorization: 'Basic dTpw' }
 */
export function publishBaseOf(uri: string): PublishBase {
  const url = new URL(uri);
  const user = decodeURIComponent(url.username);
  const password = decodeURIComponent(url.password);
  const hasUserinfo = url.username !== '' || url.password !== '';
  url.username = '';
  url.password = '';
  // A query or fragment on the connection uri has no meaning for http-push; the target supplies one.
  const base = `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
  return hasUserinfo ? { base, basicAuthorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` } : { base };
}

/**
 * Joins the base and a resolved `/path[?query]` (a leading slash is added when missing).
 *
 * @example publishUrl({ base: 'http://127.0.0.1:8080/api' }, '/events?x=1') // 'http://127.0.0.1:8080/api/events?x=1'
 */
export function publishUrl(base: PublishBase, pathAndQuery: string): string {
  if (pathAndQuery === '') return `${base.base}/`;
  return pathAndQuery.startsWith('/') ? base.base + pathAndQuery : `${base.base}/${pathAndQuery}`;
}
