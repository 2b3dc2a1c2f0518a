/**
 * The benchmark's servers, run in their own Node process (forked by `bench/servers.ts`) so that
 * their CPU never counts against the engine: a webhook answering 204 and an OAuth2 token endpoint
 * with a configurable delay and token lifetime. Both listen on 127.0.0.1 port 0 and report their
 * ports over IPC; the parent configures them and reads their counters over IPC.
 *
 * The webhook checks every bearer token against the tokens the token endpoint issued: a token used
 * at or after its expiry is counted and answered 401. A request with an `x-bench-sent` header
 * (epoch ms with fractions, `performance.timeOrigin + performance.now()`) yields one latency sample.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';

/** Commands the parent sends; each is answered with `{ id, result }`. */
export type ServerCommand =
  | { readonly cmd: 'configure'; readonly tokenDelayMs?: number; readonly tokenLifetimeS?: number; readonly recordTimes?: boolean }
  | { readonly cmd: 'reset' }
  | { readonly cmd: 'stats' };

/** Counters and samples since the last `reset`. */
export interface ServerStats {
  readonly webhookRequests: number;
  /** Requests whose bearer token had expired when they arrived (answered 401). */
  readonly expiredTokenRequests: number;
  readonly unknownTokenRequests: number;
  readonly statuses: Readonly<Record<string, number>>;
  readonly tokenRequests: number;
  /** `[received, answered]` epoch ms of every token request. */
  readonly tokenWindows: readonly (readonly [number, number])[];
  /** Arrival times (epoch ms) of webhook requests, when `recordTimes` is on. */
  readonly arrivals: readonly number[];
  /** dispatch→received latencies (ms) of requests carrying `x-bench-sent`. */
  readonly latencies: readonly number[];
}

const now = (): number => performance.timeOrigin + performance.now();

let tokenDelayMs = 0;
let tokenLifetimeS = 3600;
let recordTimes = false;
/** access token → epoch ms it expires (as the token endpoint meant it). */
const issued = new Map<string, number>();
let issuedCount = 0;

let webhookRequests = 0;
let expiredTokenRequests = 0;
let unknownTokenRequests = 0;
let statuses: Record<string, number> = {};
let tokenRequests = 0;
let tokenWindows: [number, number][] = [];
let arrivals: number[] = [];
let latencies: number[] = [];

function reset(): void {
  webhookRequests = 0;
  expiredTokenRequests = 0;
  unknownTokenRequests = 0;
  statuses = {};
  tokenRequests = 0;
  tokenWindows = [];
  arrivals = [];
  latencies = [];
}

function answer(res: http.ServerResponse, status: number): void {
  statuses[status] = (statuses[status] ?? 0) + 1;
  res.writeHead(status, { 'content-length': '0' });
  res.end();
}

const webhook = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  const received = now();
  webhookRequests += 1;
  if (recordTimes) arrivals.push(received);
  const sent = req.headers['x-bench-sent'];
  if (typeof sent === 'string') latencies.push(received - Number(sent));
  let status = 204;
  const authorization = req.headers.authorization;
  if (authorization?.startsWith('Bearer ')) {
    const expiresAt = issued.get(authorization.slice(7));
    if (expiresAt === undefined) unknownTokenRequests += 1;
    else if (received >= expiresAt) {
      expiredTokenRequests += 1;
      status = 401;
    }
  }
  req.on('end', () => answer(res, status));
  req.resume();
});

const tokenEndpoint = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  const received = now();
  tokenRequests += 1;
  req.resume();
  req.on('end', () => {
    setTimeout(() => {
      issuedCount += 1;
      const token = `bench-token-${issuedCount}`;
      const answered = now();
      issued.set(token, answered + tokenLifetimeS * 1000);
      tokenWindows.push([received, answered]);
      const body = JSON.stringify({ access_token: token, token_type: 'Bearer', expires_in: tokenLifetimeS });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    }, tokenDelayMs);
  });
});

function listen(server: http.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

function handle(command: ServerCommand): unknown {
  switch (command.cmd) {
    case 'configure':
      if (command.tokenDelayMs !== undefined) tokenDelayMs = command.tokenDelayMs;
      if (command.tokenLifetimeS !== undefined) tokenLifetimeS = command.tokenLifetimeS;
      if (command.recordTimes !== undefined) recordTimes = command.recordTimes;
      return { tokenDelayMs, tokenLifetimeS, recordTimes };
    case 'reset':
      reset();
      return {};
    case 'stats': {
      const stats: ServerStats = {
        webhookRequests, expiredTokenRequests, unknownTokenRequests, statuses, tokenRequests, tokenWindows, arrivals, latencies,
      };
      return stats;
    }
  }
}

const send = process.send?.bind(process);
if (!send) {
  console.error('bench/server.ts must be started with an IPC channel (child_process.fork)');
  process.exit(1);
}
process.on('message', (message: { id: number } & ServerCommand) => {
  send({ id: message.id, result: handle(message) });
});
// The parent went away: do not linger.
process.on('disconnect', () => process.exit(0));

const [webhookPort, tokenPort] = await Promise.all([listen(webhook), listen(tokenEndpoint)]);
send({ type: 'ready', webhookPort, tokenPort });
