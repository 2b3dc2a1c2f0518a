/**
 * The `demo` section's loopback server: the two webhook.site URLs of the seed scenario, served
 * locally so `npm start` shows the whole flow without network. One path is an OAuth2 token
 * endpoint (client credentials, signed short-lived JWTs); every other path is a webhook that logs
 * each request it receives and answers 200.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPair, randomUUID, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import { parseBasicAuthorization, safeEqual } from './basic-auth.ts';
import type { DemoConfig } from '../config/types.ts';
import { systemClock } from '../shared/clock.ts';
import type { Clock } from '../shared/clock.ts';

/** The seed's token webhook path. */
export const DEMO_TOKEN_PATH = '/785e80cd-e6e6-452a-be97-a59c53edb4d9';
/** The seed's event webhook path (any other path logs the same way). */
export const DEMO_WEBHOOK_PATH = '/6148b899-736f-47e6-9382-90b1d721630e';
/** Where the demo publishes the public key of its token signer, as a JWK set. */
export const DEMO_JWKS_PATH = '/.well-known/jwks.json';

const MAX_BODY_BYTES = 1024 * 1024;

/** One request the demo server received, as logged (secrets shortened or masked). */
export interface DemoRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: unknown;
}

export interface DemoServerOptions {
  readonly logger: Logger;
  readonly clock?: Clock;
  /** Called for every request after it was logged (specs observe the demo through this). */
  readonly onRequest?: (request: DemoRequest) => void;
}

/** A running demo server. */
export interface DemoServer {
  /** `http://host:port`, without trailing slash. */
  readonly url: string;
  close(): Promise<void>;
}

/** `Bearer eyJhbGciOi…`: enough to recognise a token in the log, not enough to use it. */
export function truncateSecret(value: string): string {
  return value.length > 16 ? `${value.slice(0, 16)}…` : value;
}

function base64url(input: string | Buffer): string {
  return Buffer.from(input).toString('base64url');
}

function readBody(request: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        resolve(undefined);
        request.destroy();
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

function loggedHeaders(request: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value === undefined) continue;
    const text = Array.isArray(value) ? value.join(', ') : value;
    headers[name] = name === 'authorization' ? truncateSecret(text) : text;
  }
  return headers;
}

function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
  response.end(JSON.stringify(body));
}

/**
 * Starts the demo server on `config.host:config.port` (port 0 = any free port).
 *
 * @example const demo = await startDemoServer(config.demo, { logger }); // demo.url = 'http://127.0.0.1:8181'
 */
export async function startDemoServer(config: DemoConfig, options: DemoServerOptions): Promise<DemoServer> {
  const logger = options.logger.child({ component: 'demo' });
  const clock = options.clock ?? systemClock;
  const { privateKey, publicKey } = await promisify(generateKeyPair)('rsa', { modulusLength: 2048 }) as { privateKey: KeyObject; publicKey: KeyObject };
  const keyId = randomUUID();
  let url = '';

  const issueToken = (scope: string): { token: string; expiresIn: number } => {
    const iat = Math.floor(clock.now() / 1000);
    const expiresIn = Math.max(1, Math.round(config.tokenLifetime / 1000));
    // The seed's claim set, in the seed's order.
    const claims = {
      aud: [], client_id: config.clientId, exp: iat + expiresIn, ext: {}, iat, iss: `${url}/`, jti: randomUUID(), nbf: iat,
      scp: scope === '' ? [] : scope.split(' '), sub: config.clientId,
    };
    const signingInput = `${base64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: keyId }))}.${base64url(JSON.stringify(claims))}`;
    return { token: `${signingInput}.${base64url(sign('sha256', Buffer.from(signingInput), privateKey))}`, expiresIn };
  };

  const record = (request: IncomingMessage, path: string, body: unknown, message: string): void => {
    const entry: DemoRequest = { method: request.method ?? '', path, headers: loggedHeaders(request), body };
    logger.info({ webhook: entry }, message);
    options.onRequest?.(entry);
  };

  const handleToken = (request: IncomingMessage, response: ServerResponse, text: string): void => {
    const form = new URLSearchParams(text);
    const masked = new URLSearchParams(form);
    if (masked.has('client_secret')) masked.set('client_secret', '***');
    record(request, DEMO_TOKEN_PATH, masked.toString(), `demo token endpoint: ${request.method} ${DEMO_TOKEN_PATH}`);
    if (request.method !== 'POST') return sendJson(response, 405, { error: 'invalid_request', error_description: 'use POST' }, { allow: 'POST' });
    if (form.get('grant_type') !== 'client_credentials') {
      return sendJson(response, 400, { error: 'unsupported_grant_type', error_description: 'only client_credentials is supported' });
    }
    const basic = parseBasicAuthorization(request.headers.authorization);
    // RFC 6749 §2.3.1: Basic credentials are form-urlencoded before base64.
    const decode = (value: string): string => decodeURIComponent(value.replace(/\+/g, ' '));
    const clientId = basic ? decode(basic.username) : form.get('client_id') ?? '';
    const clientSecret = basic ? decode(basic.password) : form.get('client_secret') ?? '';
    const idOk = safeEqual(clientId, config.clientId);
    const secretOk = safeEqual(clientSecret, config.clientSecret);
    if (!idOk || !secretOk) {
      logger.warn({ clientId }, 'demo token endpoint: invalid client credentials');
      return sendJson(response, 401, { error: 'invalid_client', error_description: 'client authentication failed' },
        basic ? { 'www-authenticate': 'Basic realm="twinlink-demo"' } : {});
    }
    const scope = form.get('scope') ?? '';
    const { token, expiresIn } = issueToken(scope);
    sendJson(response, 200, { access_token: token, expires_in: expiresIn, scope, token_type: 'bearer' });
  };

  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0] ?? '/';
    readBody(request).then((text) => {
      if (text === undefined) return sendJson(response, 413, { error: 'request body too large' });
      if (path === DEMO_TOKEN_PATH) return handleToken(request, response, text);
      if (path === DEMO_JWKS_PATH && request.method === 'GET') {
        return sendJson(response, 200, { keys: [{ ...publicKey.export({ format: 'jwk' }), kid: keyId, alg: 'RS256', use: 'sig' }] });
      }
      let body: unknown = text;
      if (/json/i.test(request.headers['content-type'] ?? '')) {
        try {
          body = JSON.parse(text);
        } catch {
          // Not JSON after all: log the text as it came.
        }
      }
      record(request, path, body, `demo webhook: ${request.method} ${path}`);
      response.writeHead(200).end();
    }).catch((error: unknown) => {
      logger.warn({ err: error }, 'demo server: request failed');
      if (!response.headersSent) response.writeHead(400).end();
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  url = `http://${host}:${address.port}`;
  logger.info({ url, tokenEndpoint: `${url}${DEMO_TOKEN_PATH}`, webhook: `${url}${DEMO_WEBHOOK_PATH}` }, `demo server listening at ${url}`);
  return {
    url,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}
