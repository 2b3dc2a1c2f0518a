/**
 * A real local webhook (HTTP or HTTPS on 127.0.0.1, port 0) for specs: records every request and
 * answers from a programmable handler. Reusable by any spec that needs a publishing target.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';

/** One request as the server saw it. */
export interface RecordedRequest {
  readonly method: string;
  /** Path and query as sent. */
  readonly url: string;
  /** Lower-case header names (Node's parsing). */
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
  /** Body as UTF-8 text. */
  readonly text: string;
  /** 0-based arrival order. */
  readonly index: number;
  /** Client port: equal ports on sequential requests mean the connection was kept alive. */
  readonly remotePort: number;
}

/** How to answer one request. */
export interface WebhookReply {
  readonly status?: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Buffer;
  /** Stream this many bytes of filler (a huge body) instead of `body`. */
  readonly bodyBytes?: number;
  /** Abort abruptly: `reset` sends a TCP RST (ECONNRESET), `destroy` just closes the socket. */
  readonly fault?: 'reset' | 'destroy';
  /** Never answer (the client must time out). */
  readonly hang?: boolean;
  /** Real delay before answering, ms. Prefer a deferred promise from the handler in specs. */
  readonly delayMs?: number;
}

/** Decides the reply; may be async (return a promise to hold the request open). */
export type WebhookHandler = (request: RecordedRequest) => WebhookReply | Promise<WebhookReply>;

export interface WebhookServer {
  /** `http://127.0.0.1:<port>` (or https). */
  readonly url: string;
  readonly port: number;
  readonly requests: readonly RecordedRequest[];
  /** Requests currently being handled. */
  readonly concurrent: number;
  /** Highest number of requests handled at the same time. */
  readonly maxConcurrent: number;
  /** Replaces the handler (default: 200 with an empty body). */
  handle(handler: WebhookHandler): void;
  /** Resolves when `count` requests in total have arrived. */
  waitForRequests(count: number): Promise<readonly RecordedRequest[]>;
  /** Stops listening and destroys open sockets (the target is "down"); the port is kept. */
  stop(): Promise<void>;
  /** Listens again on the same port (the target is "up"). */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export interface WebhookServerOptions {
  /** PEM key and certificate: serve HTTPS. */
  readonly tls?: { readonly key: string; readonly cert: string };
  readonly handler?: WebhookHandler;
}

const FILLER = Buffer.alloc(64 * 1024, 0x61);

/**
 * Starts a webhook on 127.0.0.1 with an ephemeral port.
 *
 * @example
 * const hook = await startWebhookServer();
 * hook.handle(() => ({ status: 503, headers: { 'retry-after': '2' } }));
 * // … publish to hook.url …
 * expect(hook.requests[0]?.headers.authorization).to.equal('Bearer t1');
 * await hook.close();
 */
export async function startWebhookServer(options: WebhookServerOptions = {}): Promise<WebhookServer> {
  let handler: WebhookHandler = options.handler ?? (() => ({ status: 200 }));
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  const waiters: { count: number; resolve: () => void }[] = [];
  let concurrent = 0;
  let maxConcurrent = 0;

  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    concurrent += 1;
    maxConcurrent = Math.max(maxConcurrent, concurrent);
    let done = false;
    const finish = (): void => {
      if (!done) {
        done = true;
        concurrent -= 1;
      }
    };
    res.on('close', finish);
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const recorded: RecordedRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body,
        text: body.toString('utf8'),
        index: requests.length,
        remotePort: req.socket.remotePort ?? 0,
      };
      requests.push(recorded);
      for (const waiter of [...waiters]) {
        if (requests.length >= waiter.count) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve();
        }
      }
      void Promise.resolve()
        .then(() => handler(recorded))
        .then(async (reply) => {
          if (reply.delayMs) await new Promise((resolve) => setTimeout(resolve, reply.delayMs));
          answer(req, res, reply);
        })
        .catch(() => {
          if (!res.headersSent) res.writeHead(500).end();
        });
    });
  };

  const server = options.tls ? https.createServer({ key: options.tls.key, cert: options.tls.cert }, onRequest) : http.createServer(onRequest);
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  // TLS servers report the underlying TCP socket on 'connection' too; secureConnection adds nothing we need.

  const listen = (port: number): Promise<void> =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });

  await listen(0);
  const port = (server.address() as AddressInfo).port;
  const url = `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`;

  const stop = (): Promise<void> =>
    new Promise((resolve) => {
      if (!server.listening) return resolve();
      server.close(() => resolve());
      for (const socket of sockets) socket.destroy();
    });

  return {
    url,
    port,
    requests,
    get concurrent() {
      return concurrent;
    },
    get maxConcurrent() {
      return maxConcurrent;
    },
    handle(next) {
      handler = next;
    },
    waitForRequests(count) {
      if (requests.length >= count) return Promise.resolve(requests);
      return new Promise((resolve) => waiters.push({ count, resolve: () => resolve(requests) }));
    },
    stop,
    restart: () => listen(port),
    close: stop,
  };
}

function answer(req: http.IncomingMessage, res: http.ServerResponse, reply: WebhookReply): void {
  if (reply.hang) return;
  if (reply.fault === 'reset') {
    req.socket.resetAndDestroy();
    return;
  }
  if (reply.fault === 'destroy') {
    req.socket.destroy();
    return;
  }
  res.writeHead(reply.status ?? 200, reply.headers);
  if (reply.bodyBytes !== undefined) {
    writeFiller(res, reply.bodyBytes);
    return;
  }
  res.end(reply.body);
}

/** Streams `remaining` bytes, respecting back-pressure, stopping if the client goes away. */
function writeFiller(res: http.ServerResponse, remaining: number): void {
  while (remaining > 0 && !res.destroyed) {
    const chunk = remaining >= FILLER.length ? FILLER : FILLER.subarray(0, remaining);
    remaining -= chunk.length;
    if (!res.write(chunk)) {
      res.once('drain', () => writeFiller(res, remaining));
      return;
    }
  }
  if (!res.destroyed) res.end();
}

/** A promise with its resolve exposed: hold a webhook reply until the spec releases it. */
export function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}
