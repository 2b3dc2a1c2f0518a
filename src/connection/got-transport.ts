/**
 * The default {@link Transport}: got over a keep-alive agent per connection. got is created once per
 * connection (`got.extend`, on its first request) and used in stream mode so the response body can
 * be counted and cut at `maxResponseBytes` instead of being buffered whole; no hooks run on this
 * hot path.
 */
import http from 'node:http';
import https from 'node:https';
import got, { TimeoutError, type Got } from 'got';
import { PublishError } from '../errors.ts';
import { safeCause } from '../shared/safe-cause.ts';
import type { Transport, TransportOptions, TransportRequest, TransportResponse } from './transport.ts';

/**
 * Builds the got-backed transport of one connection: `maxSockets = parallelism`, TLS from
 * `ca`/`validateCertificates`, no got retries (the publisher retries), no redirects, any HTTP status
 * resolves, and no headers beyond the request's own (no `User-Agent`, no `Accept-Encoding`). Network
 * failures and timeouts reject with a {@link PublishError} whose `reason` is short (`timeout`,
 * `ECONNREFUSED`, `ECONNRESET`, `aborted`, …) and whose hidden `cause` is got's error.
 *
 * @example
 * const transport = createGotTransport({ parallelism: 4, validateCertificates: true, maxResponseBytes: 65536 });
 * const res = await transport.request({ method: 'POST', url: 'https://hook.example/in', headers: {}, body: '{}', timeout: 5000 });
 * transport.close();
 */
export function createGotTransport(options: TransportOptions): Transport {
  // Built on the first request: an idle connection then holds no agents and no got instance
  // (~7 KB each; 10,000 mostly idle connections are a supported size).
  let built: { client: Got; close: () => void } | undefined;
  const maxBytes = options.maxResponseBytes;
  return {
    request: (request) => send((built ??= buildClient(options)).client, request, maxBytes),
    close() {
      built?.close();
    },
  };
}

function buildClient(options: TransportOptions): { client: Got; close: () => void } {
  const agentOptions = { keepAlive: true, maxSockets: Math.max(1, options.parallelism), scheduling: 'fifo' as const };
  const httpAgent = new http.Agent(agentOptions);
  const httpsAgent = new https.Agent({
    ...agentOptions,
    rejectUnauthorized: options.validateCertificates,
    ...(options.ca !== undefined ? { ca: options.ca } : {}),
  });
  const client: Got = got.extend({
    agent: { http: httpAgent, https: httpsAgent },
    https: {
      rejectUnauthorized: options.validateCertificates,
      ...(options.ca !== undefined ? { certificateAuthority: options.ca } : {}),
    },
    retry: { limit: 0 },
    throwHttpErrors: false,
    followRedirect: false,
    // On the wire exactly as the seed shows Ditto's request: no Accept-Encoding (got sends
    // `gzip, deflate, br` when it decompresses) and no User-Agent (got's default is dropped).
    // A target's headerMapping may still set either.
    decompress: false,
    headers: { 'user-agent': undefined },
    ...(options.dnsLookup ? { dnsLookup: options.dnsLookup } : {}),
  });
  return {
    client,
    close() {
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}

function send(client: Got, request: TransportRequest, maxBytes: number): Promise<TransportResponse> {
  return new Promise<TransportResponse>((resolve, reject) => {
    const bodyless = request.method === 'GET' || request.method === 'HEAD';
    const stream = client.stream(request.url, {
      method: request.method as 'POST',
      headers: request.headers,
      // In stream mode got waits for a piped body unless one is given: an empty one ends the request.
      body: bodyless ? undefined : (request.body ?? ''),
      timeout: { request: request.timeout },
      ...(request.signal ? { signal: request.signal } : {}),
    });
    let statusCode = 0;
    let headers: TransportResponse['headers'] = {};
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const done = (): void => {
      if (settled) return;
      settled = true;
      resolve({ statusCode, headers, body: chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks) });
    };
    stream.once('response', (response: http.IncomingMessage) => {
      statusCode = response.statusCode ?? 0;
      headers = response.headers;
    });
    stream.on('data', (chunk: Buffer) => {
      if (settled) return;
      const room = maxBytes - size;
      if (chunk.length >= room) {
        // Enough read: keep what fits and drop the rest of the body (and its socket) unread.
        if (room > 0) chunks.push(chunk.subarray(0, room));
        size = maxBytes;
        done();
        stream.destroy();
        return;
      }
      chunks.push(chunk);
      size += chunk.length;
    });
    stream.once('end', () => {
      done();
      // As got's promise API does: releases its abort listener on `signal` (else one leaks per
      // request on a long-lived shared signal); the keep-alive socket is already back in the pool.
      stream.destroy();
    });
    stream.once('error', (error: Error) => {
      if (settled) return;
      settled = true;
      reject(toPublishError(error, request));
    });
  });
}

/** Translates a got/network error into a coded {@link PublishError} with a short reason. */
export function toPublishError(error: Error, request: Pick<TransportRequest, 'method' | 'url' | 'timeout'>): PublishError {
  const code = (error as { code?: unknown }).code;
  let reason: string;
  if (error instanceof TimeoutError) reason = 'timeout';
  else if (error.name === 'AbortError' || code === 'ERR_ABORTED' || code === 'ABORT_ERR') reason = 'aborted';
  else if (typeof code === 'string' && code !== 'ERR_GOT_REQUEST_ERROR') reason = code;
  else reason = 'network';
  const what = reason === 'timeout' ? `no response within ${request.timeout}ms` : reason;
  // The URL may carry credentials in its query; show only origin and path.
  // got's error holds the request headers (Authorization): keep a sanitized copy as cause.
  return new PublishError(`${request.method} ${safeUrl(request.url)} failed: ${what}`, {
    reason,
    retryable: !PERMANENT_CODES.has(reason),
    cause: safeCause(error),
  });
}

/** Failures no retry can fix: the host stays blocked, the header or URL stays invalid. */
const PERMANENT_CODES: ReadonlySet<string> = new Set(['ERR_HOST_BLOCKED', 'ERR_INVALID_CHAR', 'ERR_INVALID_HEADER_VALUE', 'ERR_INVALID_URL']);

function safeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    return '<invalid url>';
  }
}
