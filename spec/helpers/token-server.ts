/**
 * A real local OAuth2 token endpoint (HTTP or HTTPS on 127.0.0.1, port 0) for specs. It records
 * every request — method, path, headers, raw body and parsed form — and answers from a queue of
 * programmable handlers, falling back to a default (the seed's token response). Handlers may be
 * async: a handler that awaits a promise the spec controls is a "slow" endpoint without sleeping.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';

/** One token request as the server received it. */
export interface RecordedTokenRequest {
  readonly method: string;
  /** Path and query as sent. */
  readonly path: string;
  /** Lower-case header names. */
  readonly headers: http.IncomingHttpHeaders;
  /** The raw body, exactly as sent. */
  readonly body: string;
  /** The body parsed as `application/x-www-form-urlencoded`. */
  readonly form: Readonly<Record<string, string>>;
}

/** How to answer one token request. */
export interface TokenReply {
  readonly status?: number;
  /** Defaults to `content-type: application/json` when `body` is an object. */
  readonly headers?: Readonly<Record<string, string>>;
  /** An object is sent as JSON. */
  readonly body?: string | object;
  /** Close the socket without answering (a reset from the client's view). */
  readonly destroy?: boolean;
}

export type TokenHandler = (request: RecordedTokenRequest) => TokenReply | Promise<TokenReply>;

/** The seed's access token: a JWT (placeholder signature) whose `exp` is 1 January 3000. */
export const SEED_ACCESS_TOKEN =
  'ewogICJhbGciOiAiUlMyNTYiLAogICJ0eXAiOiAiSldUIgp9.ewogICJhdWQiOiBbXSwKICAiY2xpZW50X2lkIjogIm15LWNsaWVudC1pZCIsCiAgImV4cCI6IDMyNTAzNjgwMDAwLAogICJleHQiOiB7fSwKICAiaWF0IjogMCwKICAiaXNzIjogImh0dHBzOi8vbG9jYWxob3N0LyIsCiAgImp0aSI6ICI3ODVlODBjZC1lNmU2LTQ1MmEtYmU5Ny1hNTljNTNlZGI0ZDkiLAogICJuYmYiOiAwLAogICJzY3AiOiBbCiAgICAibXktc2NvcGUiCiAgXSwKICAic3ViIjogIm15LXN1YmplY3QiCn0.QUJD';

/** The seed's token response, verbatim. */
export const SEED_TOKEN_RESPONSE = Object.freeze({
  access_token: SEED_ACCESS_TOKEN,
  expires_in: 1048576,
  scope: 'my-scope',
  token_type: 'bearer',
});

/** An unsigned JWT-shaped token with these claims (we are a client: nobody checks signatures). */
export function makeJwt(claims: Record<string, unknown>): string {
  const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${encode({ alg: 'RS256', typ: 'JWT' })}.${encode(claims)}.c2lnbmF0dXJl`;
}

/** A 200 JSON token response for `accessToken` plus any extra fields. */
export function tokenReply(accessToken: string, extra: Record<string, unknown> = {}): TokenReply {
  return { status: 200, body: { access_token: accessToken, token_type: 'Bearer', ...extra } };
}

export interface TokenServer {
  /** `http(s)://127.0.0.1:<port>` */
  readonly origin: string;
  /** `<origin><path>`: the token endpoint to configure. */
  readonly tokenEndpoint: string;
  /** Every request received, in order. */
  readonly requests: readonly RecordedTokenRequest[];
  /** Queues handlers for the next requests, one each, in order. */
  enqueue(...handlers: (TokenHandler | TokenReply)[]): void;
  /** The handler used when the queue is empty (initially: the seed response). */
  setDefault(handler: TokenHandler | TokenReply): void;
  /** Resolves once `count` requests have arrived. */
  waitForRequests(count: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts a token endpoint on 127.0.0.1 with an OS-assigned port.
 *
 * @example
 * const server = await startTokenServer();
 * server.enqueue({ status: 401, body: { error: 'invalid_client' } });
 */
export async function startTokenServer(options: { tls?: { cert: string; key: string }; path?: string } = {}): Promise<TokenServer> {
  const path = options.path ?? '/oauth2/token';
  const requests: RecordedTokenRequest[] = [];
  const queue: TokenHandler[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  const toHandler = (handler: TokenHandler | TokenReply): TokenHandler => (typeof handler === 'function' ? handler : () => handler);
  let fallback: TokenHandler = () => ({ status: 200, body: SEED_TOKEN_RESPONSE });
  const sockets = new Set<Socket>();

  const listener: http.RequestListener = (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const recorded: RecordedTokenRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body,
        form: Object.fromEntries(new URLSearchParams(body)),
      };
      requests.push(recorded);
      for (const waiter of waiters.filter((w) => requests.length >= w.count)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
      const handler = queue.shift() ?? fallback;
      Promise.resolve()
        .then(() => handler(recorded))
        .then((reply) => {
          if (reply.destroy) {
            req.socket.destroy();
            return;
          }
          const isObject = typeof reply.body === 'object';
          const headers = { ...(isObject ? { 'content-type': 'application/json' } : {}), ...reply.headers };
          res.writeHead(reply.status ?? 200, headers);
          res.end(isObject ? JSON.stringify(reply.body) : reply.body);
        })
        .catch(() => req.socket.destroy());
    });
  };

  const server = options.tls ? https.createServer({ cert: options.tls.cert, key: options.tls.key }, listener) : http.createServer(listener);
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('secureConnection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`;

  return {
    origin,
    tokenEndpoint: `${origin}${path}`,
    requests,
    enqueue: (...handlers) => queue.push(...handlers.map(toHandler)),
    setDefault: (handler) => {
      fallback = toHandler(handler);
    },
    waitForRequests: (count) =>
      requests.length >= count ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ count, resolve })),
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
