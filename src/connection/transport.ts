import type { LookupFunction } from 'node:net';

/**
 * The HTTP transport: one request in, one response out. Kept minimal so that a faster client
 * (node:http, undici) can replace got behind it without touching the publisher.
 */

export interface TransportRequest {
  readonly method: string;
  /** Absolute URL. */
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string | Buffer;
  /** Whole-request timeout, ms. */
  readonly timeout: number;
  readonly signal?: AbortSignal;
}

export interface TransportResponse {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** Response body, truncated to the configured maximum. */
  readonly body: Buffer;
}

/**
 * Sends requests for one connection. Network failures and timeouts reject with a
 * {@link import('../errors.ts').PublishError} whose `cause` is the original; any HTTP status resolves.
 */
export interface Transport {
  request(request: TransportRequest): Promise<TransportResponse>;
  /** Releases sockets. */
  close(): void;
}

/** TLS and pool settings a transport is built from. */
export interface TransportOptions {
  /**
   * DNS lookup used when connecting (`net` signature), e.g. the engine's host filter
   * (`HostPolicy.dnsLookup`), which refuses blocked addresses at connect time.
   */
  readonly dnsLookup?: LookupFunction;
  readonly parallelism: number;
  readonly ca?: string;
  readonly validateCertificates: boolean;
  readonly maxResponseBytes: number;
}

/** Builds the transport of one connection; injectable into the engine for tests and benchmarks. */
export type TransportFactory = (options: TransportOptions) => Transport;
