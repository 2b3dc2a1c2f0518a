/**
 * The baselines every engine figure is divided by: the same POSTs (same URL, headers and body as
 * the engine sent) at the same concurrency over a keep-alive agent with the same pool size, sent
 * directly with got (the engine's HTTP client) and with bare `node:http` (the practical limit).
 */
import http from 'node:http';
import got, { type Got } from 'got';
import type { TransportRequest } from '../src/connection/transport.ts';
import { epochNow, PARALLELISM } from './fixture.ts';

/** Sends one request; resolves with the status code. */
export type SendOne = (extraHeaders?: Readonly<Record<string, string>>) => Promise<number>;

/** A baseline client bound to one captured request. */
export interface BaselineClient {
  readonly name: 'got' | 'node:http';
  readonly send: SendOne;
  close(): void;
}

function keepAliveAgent(): http.Agent {
  // The agent settings of the engine's got transport.
  return new http.Agent({ keepAlive: true, maxSockets: PARALLELISM, scheduling: 'fifo' });
}

/** got, configured like the engine's transport (no retries, no redirects, any status resolves). */
export function gotClient(request: TransportRequest): BaselineClient {
  const agent = keepAliveAgent();
  const client: Got = got.extend({
    agent: { http: agent },
    retry: { limit: 0 },
    throwHttpErrors: false,
    followRedirect: false,
  });
  const { url, headers, body } = request;
  return {
    name: 'got',
    send: async (extraHeaders) => {
      const response = await client(url, {
        method: 'POST',
        headers: extraHeaders ? { ...headers, ...extraHeaders } : headers,
        body: body ?? '',
        timeout: { request: 30_000 },
      });
      return response.statusCode;
    },
    close: () => agent.destroy(),
  };
}

/** Bare node:http with a keep-alive agent. */
export function nodeHttpClient(request: TransportRequest): BaselineClient {
  const agent = keepAliveAgent();
  const target = new URL(request.url);
  const body = Buffer.from(request.body ?? '');
  const headers = { ...request.headers, 'content-length': String(body.length) };
  return {
    name: 'node:http',
    send: (extraHeaders) =>
      new Promise<number>((resolve, reject) => {
        const req = http.request(
          {
            agent,
            host: target.hostname,
            port: target.port,
            path: `${target.pathname}${target.search}`,
            method: 'POST',
            headers: extraHeaders ? { ...headers, ...extraHeaders } : headers,
          },
          (res) => {
            res.on('end', () => resolve(res.statusCode ?? 0));
            res.on('error', reject);
            res.resume();
          },
        );
        req.on('error', reject);
        req.end(body);
      }),
    close: () => agent.destroy(),
  };
}

/** `total` requests through `concurrency` workers, each sending as soon as its previous answer came. */
export async function closedLoop(send: SendOne, total: number, concurrency = PARALLELISM): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < total) {
      next += 1;
      await send();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

/** Sends at a fixed rate (open loop), stamping each request with `x-bench-sent`. */
export async function openLoop(fire: (sentAt: number, i: number) => void, rate: number, seconds: number): Promise<number> {
  const total = Math.round(rate * seconds);
  const intervalMs = 1000 / rate;
  const start = epochNow();
  let i = 0;
  while (i < total) {
    const due = start + i * intervalMs;
    const wait = due - epochNow();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    // Catch up in one go after a late timer, each request stamped with the real send time.
    while (i < total && start + i * intervalMs <= epochNow()) {
      fire(epochNow(), i);
      i += 1;
    }
  }
  return total;
}
