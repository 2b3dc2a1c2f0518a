/**
 * `npm run soak -- --minutes N [--rate R] [--connections C]`: a bounded, loopback-only soak test.
 *
 * A child process serves a token endpoint and a webhook on 127.0.0.1 and switches both between
 * healthy and faulty modes at random (500s, HTML, resets, slow answers, `invalid_client`; 503 with
 * Retry-After, 401 for the current token, timeouts, huge bodies). This process drives a steady load
 * of thing events through a real engine built from YAML, then calms the faults, lets the engine
 * settle, stops it, and prints an accounting table:
 * dispatched = published + failed + dropped (by reason) + undelivered at stop, nothing unaccounted,
 * with memory at start and end. Exits 1 if anything is unaccounted.
 */
import { fork, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { parseConfigText } from '../src/config/load.ts';
import { createEngine } from '../src/engine/engine.ts';
import { MetricName } from '../src/metrics/names.ts';

// ───────────────────────────── the fault server (child process) ─────────────────────────────

type TokenMode = 'ok' | 'error-500' | 'html' | 'reset' | 'slow' | 'invalid-client';
type HookMode = 'ok' | 'unavailable-503' | 'error-500' | 'reset' | 'slow' | 'unauthorized-401' | 'huge-body';

const TOKEN_MODES: readonly [TokenMode, number][] = [['ok', 6], ['error-500', 1], ['html', 1], ['reset', 1], ['slow', 1], ['invalid-client', 1]];
const HOOK_MODES: readonly [HookMode, number][] = [
  ['ok', 8], ['unavailable-503', 1], ['error-500', 1], ['reset', 1], ['slow', 1], ['unauthorized-401', 1], ['huge-body', 1],
];

/** Messages between the two processes. */
type ToParent = { type: 'listening'; port: number } | { type: 'mode'; token: TokenMode; hook: HookMode } | { type: 'calm' };
type ToChild = { type: 'calm' } | { type: 'exit' };

function pick<T>(weighted: readonly [T, number][]): T {
  const total = weighted.reduce((sum, [, weight]) => sum + weight, 0);
  let roll = Math.random() * total;
  for (const [value, weight] of weighted) {
    roll -= weight;
    if (roll < 0) return value;
  }
  return weighted[0]?.[0] as T;
}

function runFaultServer(): void {
  const send = (message: ToParent): void => void process.send?.(message);
  let tokenMode: TokenMode = 'ok';
  let hookMode: HookMode = 'ok';
  let calm = false;
  let issued = 0;
  let current = '';
  const sockets = new Set<Socket>();
  const filler = Buffer.alloc(64 * 1024, 0x61);

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (req.url?.startsWith('/token')) answerToken(req, res);
      else answerHook(req, res);
    });
  });

  function answerToken(req: http.IncomingMessage, res: http.ServerResponse): void {
    switch (tokenMode) {
      case 'error-500':
        return void res.writeHead(500).end('boom');
      case 'html':
        return void res.writeHead(200, { 'content-type': 'text/html' }).end('<html>login</html>');
      case 'reset':
        return void req.socket.resetAndDestroy();
      case 'slow':
        return void setTimeout(() => res.writeHead(500).end(), 3000).unref();
      case 'invalid-client':
        return void res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"invalid_client"}');
      case 'ok': {
        issued += 1;
        current = `soak-token-${issued}`;
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: current, token_type: 'Bearer', expires_in: 20 }));
      }
    }
  }

  function answerHook(req: http.IncomingMessage, res: http.ServerResponse): void {
    switch (hookMode) {
      case 'unavailable-503':
        return void res.writeHead(503, { 'retry-after': '0' }).end();
      case 'error-500':
        return void res.writeHead(500).end('nope');
      case 'reset':
        return void req.socket.resetAndDestroy();
      case 'slow':
        return void setTimeout(() => res.writeHead(200).end(), 1500).unref();
      case 'unauthorized-401':
        // Refuses the newest token: the engine must refresh once and retry, without looping.
        return void res.writeHead(req.headers.authorization === `Bearer ${current}` ? 401 : 200).end();
      case 'huge-body': {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(8 * 1024 * 1024) });
        let left = 8 * 1024 * 1024;
        const pump = (): void => {
          while (left > 0 && !res.destroyed) {
            left -= filler.length;
            if (!res.write(filler)) return void res.once('drain', pump);
          }
          if (!res.destroyed) res.end();
        };
        return pump();
      }
      case 'ok':
        return void res.writeHead(200).end();
    }
  }

  const switchModes = (): void => {
    if (calm) return;
    tokenMode = pick(TOKEN_MODES);
    hookMode = pick(HOOK_MODES);
    send({ type: 'mode', token: tokenMode, hook: hookMode });
    setTimeout(switchModes, 1000 + Math.random() * 3000).unref();
  };

  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  process.on('message', (message: ToChild) => {
    if (message.type === 'calm') {
      calm = true;
      tokenMode = 'ok';
      hookMode = 'ok';
      send({ type: 'calm' });
    } else {
      for (const socket of sockets) socket.destroy();
      server.close(() => process.exit(0));
    }
  });
  // Never outlive the parent.
  process.on('disconnect', () => process.exit(0));
  server.listen(0, '127.0.0.1', () => {
    send({ type: 'listening', port: (server.address() as AddressInfo).port });
    setTimeout(switchModes, 1000).unref();
  });
}

// ───────────────────────────── the driver (parent process) ─────────────────────────────

interface SoakOptions {
  readonly minutes: number;
  readonly rate: number;
  readonly connections: number;
}

function parseArgs(argv: readonly string[]): SoakOptions {
  const value = (name: string, fallback: number): number => {
    const index = argv.indexOf(`--${name}`);
    const raw = index >= 0 ? Number(argv[index + 1]) : fallback;
    if (!Number.isFinite(raw) || raw <= 0) throw new Error(`--${name} expects a positive number`);
    return raw;
  };
  return { minutes: Math.min(value('minutes', 1), 120), rate: Math.min(value('rate', 400), 20_000), connections: Math.min(Math.round(value('connections', 4)), 50) };
}

function soakYaml(port: number, connections: number): string {
  const origin = `http://127.0.0.1:${port}`;
  const connection = (i: number): string => `
  - id: soak-${i}
    connectionType: http-push
    uri: "${origin}"
    specificConfig: { parallelism: 4, idleTimeout: 1s }
    targets:
      - address: "POST:/hook/{{ thing:name }}"
        topics: ["_/_/things/twin/events"]
        authorizationContext: ["integration:soak"]
    credentials:
      type: oauth-client-credentials
      tokenEndpoint: "${origin}/token"
      clientId: soak-client-${i % 2}
      clientSecret: soak-secret
      requestedScopes: soak`;
  return `
engine:
  oauth2:
    enforceHttps: false
    maxClockSkew: 5s
    requestTimeout: 1s
    tokenWaitTimeout: 2s
    misconfiguredRetryDelay: 2s
    backoff: { initialDelay: 100ms, maxDelay: 1s }
  httpPush:
    maxQueueSize: 1000
    requestTimeout: 1s
    maxResponseBytes: 65536
    circuitBreakerThreshold: 50
    retry: { maxAttempts: 3, initialDelay: 50ms, maxDelay: 500ms, statuses: [429, 502, 503, 504] }
connections:${Array.from({ length: connections }, (_, i) => connection(i)).join('')}
`;
}

/** A full GC before each memory reading, so start and end compare live data, not garbage. */
function collectGarbage(): void {
  v8.setFlagsFromString('--expose-gc');
  (vm.runInNewContext('gc') as () => void)();
}

const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

async function counters(registry: Registry, name: string): Promise<Map<string, number>> {
  const metric = registry.getSingleMetric(name);
  const totals = new Map<string, number>();
  if (!metric) return totals;
  for (const sample of (await metric.get()).values) {
    const outcome = String(sample.labels['outcome'] ?? '');
    totals.set(outcome, (totals.get(outcome) ?? 0) + sample.value);
  }
  return totals;
}

async function gauge(registry: Registry, name: string): Promise<number> {
  const metric = registry.getSingleMetric(name);
  return metric ? (await metric.get()).values.reduce((sum, sample) => sum + sample.value, 0) : 0;
}

async function drive(options: SoakOptions): Promise<number> {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), ['--server'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const modeEpisodes = { token: new Map<string, number>(), hook: new Map<string, number>() };
  let calmed: (() => void) | undefined;
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.on('message', (message: ToParent) => {
      if (message.type === 'listening') resolve(message.port);
      else if (message.type === 'mode') {
        modeEpisodes.token.set(message.token, (modeEpisodes.token.get(message.token) ?? 0) + 1);
        modeEpisodes.hook.set(message.hook, (modeEpisodes.hook.get(message.hook) ?? 0) + 1);
      } else calmed?.();
    });
  });

  // Count drop and failure reasons from the engine's own log lines (debug: one per dropped event).
  const dropReasons = new Map<string, number>();
  const failReasons = new Map<string, number>();
  let logLines = 0;
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const text of chunk.toString('utf8').split('\n')) {
        if (text === '') continue;
        logLines += 1;
        if (!text.includes('"event dropped"') && !text.includes('"publish failed"')) continue;
        const line = JSON.parse(text) as { msg: string; reason?: string };
        const into = line.msg === 'event dropped' ? dropReasons : failReasons;
        into.set(line.reason ?? '?', (into.get(line.reason ?? '?') ?? 0) + 1);
      }
      callback();
    },
  });
  const registry = new Registry();
  const engine = createEngine({ config: parseConfigText(soakYaml(port, options.connections), { env: {} }), logger: pino({ level: 'debug' }, destination), registry });
  await engine.start();

  collectGarbage();
  const memoryStart = process.memoryUsage();
  const started = Date.now();
  const durationMs = options.minutes * 60_000;
  let sent = 0;
  let carry = 0;
  let lastTick = started;
  process.stderr.write(`soak: ${options.minutes} min, ${options.rate} events/s × ${options.connections} connections, fault server on 127.0.0.1:${port}\n`);
  await new Promise<void>((resolve) => {
    const ticker = setInterval(() => {
      // By elapsed time, so a busy event loop delays events but does not lower the rate.
      const now = Date.now();
      carry += (options.rate * (now - lastTick)) / 1000;
      lastTick = now;
      for (; carry >= 1; carry -= 1) {
        sent += 1;
        engine.dispatch({
          type: 'thing.event', channel: 'twin', thingId: `org.soak:thing-${sent % 1000}`, action: 'modified',
          path: '/attributes/counter', value: sent, revision: sent, headers: {},
          readGrantedSubjects: ['integration:soak'], readRevokedSubjects: [],
        });
      }
      if (Date.now() - started >= durationMs) {
        clearInterval(ticker);
        resolve();
      }
    }, 10);
    const progress = setInterval(() => {
      process.stderr.write(`  ${Math.round((Date.now() - started) / 1000)} s: ${sent} events dispatched, heap ${mib(process.memoryUsage().heapUsed)}\n`);
      if (Date.now() - started >= durationMs) clearInterval(progress);
    }, 30_000);
  });

  // Calm the faults, then give the engine time to finish what is queued (bounded).
  await new Promise<void>((resolve) => {
    calmed = resolve;
    child.send({ type: 'calm' } satisfies ToChild);
  });
  const settleDeadline = Date.now() + 30_000;
  while (Date.now() < settleDeadline && (await gauge(registry, MetricName.QUEUE_SIZE)) + (await gauge(registry, MetricName.IN_FLIGHT_REQUESTS)) > 0) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const outcomes = await counters(registry, MetricName.OUTBOUND_MESSAGES);
  const tokenRequests = await counters(registry, MetricName.TOKEN_REQUESTS);
  const queued = await gauge(registry, MetricName.QUEUE_SIZE);
  const inFlight = await gauge(registry, MetricName.IN_FLIGHT_REQUESTS);
  collectGarbage();
  const memoryEnd = process.memoryUsage();
  const drain = await engine.stop({ drainTimeout: 5000 });
  child.send({ type: 'exit' } satisfies ToChild);

  const get = (outcome: string): number => outcomes.get(outcome) ?? 0;
  const dispatched = get('dispatched');
  const terminal = get('published') + get('failed') + get('dropped') + get('filtered') + get('unauthorized');
  const unaccounted = dispatched - terminal - drain.delivered - drain.undelivered;
  const expected = sent * options.connections;
  const rows: [string, string][] = [
    ['duration', `${options.minutes} min (${((Date.now() - started) / 60_000).toFixed(1)} min incl. settle)`],
    ['load', `${options.rate} events/s to ${options.connections} connections (2 shared credentials)`],
    ['events dispatched × connections', `${sent} × ${options.connections} = ${expected}`],
    ['dispatched (twinlink_outbound_messages_total)', String(dispatched)],
    ['published', String(get('published'))],
    ['failed', `${get('failed')}${describe(failReasons)}`],
    ['dropped', `${get('dropped')}${describe(dropReasons)}`],
    ['filtered + unauthorized', String(get('filtered') + get('unauthorized'))],
    ['still queued / in flight at stop', `${queued} / ${inFlight}`],
    ['drain at stop: delivered / undelivered', `${drain.delivered} / ${drain.undelivered}`],
    ['retries (not terminal)', String(get('retried'))],
    ['**unaccounted**', `**${unaccounted}**${dispatched === expected ? '' : ` (dispatched ≠ expected by ${expected - dispatched})`}`],
    ['token requests by outcome (summed over connections)', [...tokenRequests].filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ')],
    ['fault episodes, token endpoint', [...modeEpisodes.token].map(([k, n]) => `${k} ${n}`).join(', ')],
    ['fault episodes, webhook', [...modeEpisodes.hook].map(([k, n]) => `${k} ${n}`).join(', ')],
    ['heap used after GC, start → end', `${mib(memoryStart.heapUsed)} → ${mib(memoryEnd.heapUsed)}`],
    ['rss, start → end', `${mib(memoryStart.rss)} → ${mib(memoryEnd.rss)}`],
    ['log lines', String(logLines)],
  ];
  process.stdout.write(`\n| quantity | value |\n|---|---|\n${rows.map(([k, v]) => `| ${k} | ${v} |`).join('\n')}\n`);
  const ok = unaccounted === 0 && dispatched === expected;
  process.stdout.write(`\n${ok ? 'OK: every dispatched event is accounted for' : 'FAILED: events are unaccounted'}\n`);
  return ok ? 0 : 1;
}

function describe(reasons: ReadonlyMap<string, number>): string {
  if (reasons.size === 0) return '';
  return ` (${[...reasons].sort((a, b) => b[1] - a[1]).map(([reason, n]) => `${reason}: ${n}`).join(', ')})`;
}

if (process.argv.includes('--server')) {
  runFaultServer();
} else {
  drive(parseArgs(process.argv.slice(2))).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`soak failed: ${error instanceof Error ? error.stack : String(error)}\n`);
      process.exit(2);
    },
  );
}
