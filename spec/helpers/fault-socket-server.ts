/**
 * A raw TCP "HTTP" server on 127.0.0.1 (port 0) for faults an HTTP server library cannot produce:
 * truncated bodies, sockets closed mid-response, resets mid-request. It reads one request (headers
 * plus a `content-length` body), records it, and hands the socket to the current fault handler,
 * which writes whatever bytes it likes.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';

/** One request as received: the request head and body as text. */
export interface RawRequest {
  readonly head: string;
  readonly body: string;
}

/** Writes a reply (or a fault) on `socket` for `request`. */
export type RawHandler = (socket: net.Socket, request: RawRequest) => void;

export interface FaultSocketServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly requests: readonly RawRequest[];
  handle(handler: RawHandler): void;
  /** Resolves once `count` requests in total have arrived. */
  waitForRequests(count: number): Promise<void>;
  close(): Promise<void>;
}

/** A complete HTTP/1.1 response with `content-length` and `connection: close`. */
export function rawResponse(status: number, body: string, headers: Readonly<Record<string, string>> = {}): string {
  const lines = Object.entries({ 'content-type': 'application/json', ...headers, 'content-length': String(Buffer.byteLength(body)), connection: 'close' })
    .map(([name, value]) => `${name}: ${value}`)
    .join('\r\n');
  return `HTTP/1.1 ${status} X\r\n${lines}\r\n\r\n${body}`;
}

/** Fault handlers used by the specs. */
export const rawFaults = {
  /** Announces `body` in full but sends only its first half, then closes: a truncated body. */
  truncated: (body: string): RawHandler => (socket) => {
    const head = rawResponse(200, body).split('\r\n\r\n')[0] ?? '';
    socket.end(`${head}\r\n\r\n${body.slice(0, Math.floor(body.length / 2))}`);
  },
  /** Sends the status line and headers only, then destroys the socket mid-response. */
  closeMidResponse: (): RawHandler => (socket) => {
    socket.write('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{"access_token":"');
    setImmediate(() => socket.destroy());
  },
  /** Resets the connection (TCP RST) without answering. */
  reset: (): RawHandler => (socket) => socket.resetAndDestroy(),
  /** A normal answer. */
  reply: (status: number, body: string, headers?: Readonly<Record<string, string>>): RawHandler => (socket) => {
    socket.end(rawResponse(status, body, headers));
  },
} as const;

/**
 * Starts the server; `handler` answers every request until replaced with `handle`.
 *
 * @example
 * const raw = await startFaultSocketServer(rawFaults.closeMidResponse());
 */
export async function startFaultSocketServer(handler: RawHandler): Promise<FaultSocketServer> {
  let current = handler;
  const requests: RawRequest[] = [];
  const sockets = new Set<net.Socket>();
  const waiters: { count: number; resolve: () => void }[] = [];
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buffered = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buffered.subarray(0, end).toString('latin1');
      const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
      if (buffered.length < end + 4 + length) return;
      socket.off('data', onData);
      const request = { head, body: buffered.subarray(end + 4, end + 4 + length).toString('utf8') };
      requests.push(request);
      for (const waiter of [...waiters]) {
        if (requests.length >= waiter.count) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve();
        }
      }
      current(socket, request);
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    handle(next) {
      current = next;
    },
    waitForRequests: (count) => (requests.length >= count ? Promise.resolve() : new Promise((resolve) => waiters.push({ count, resolve }))),
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
