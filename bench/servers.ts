/**
 * Parent side of `bench/server.ts`: forks the server process (through tsx) and talks to it over IPC.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ServerCommand, ServerStats } from './server.ts';

/** The two loopback servers of a benchmark run, living in another process. */
export interface BenchServers {
  /** `http://127.0.0.1:<port>` of the 204 webhook. */
  readonly webhookOrigin: string;
  /** Full URL of the token endpoint. */
  readonly tokenEndpoint: string;
  configure(settings: Omit<Extract<ServerCommand, { cmd: 'configure' }>, 'cmd'>): Promise<void>;
  reset(): Promise<void>;
  stats(): Promise<ServerStats>;
  close(): Promise<void>;
}

const SERVER_SCRIPT = fileURLToPath(new URL('./server.ts', import.meta.url));

/**
 * Starts the server process and resolves once both servers listen.
 *
 * @example
 * const servers = await startBenchServers();
 * await servers.configure({ tokenDelayMs: 200 });
 * const { tokenRequests } = await servers.stats();
 * await servers.close();
 */
export async function startBenchServers(): Promise<BenchServers> {
  const child: ChildProcess = fork(SERVER_SCRIPT, [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const pending = new Map<number, (result: unknown) => void>();
  let nextId = 1;
  const ready = new Promise<{ webhookPort: number; tokenPort: number }>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`bench server exited early (code ${code})`)));
    child.on('message', (message: { type?: string; id?: number; result?: unknown; webhookPort?: number; tokenPort?: number }) => {
      if (message.type === 'ready') {
        resolve({ webhookPort: message.webhookPort as number, tokenPort: message.tokenPort as number });
        return;
      }
      const callback = message.id !== undefined ? pending.get(message.id) : undefined;
      if (callback && message.id !== undefined) {
        pending.delete(message.id);
        callback(message.result);
      }
    });
  });
  const { webhookPort, tokenPort } = await ready;
  child.removeAllListeners('exit');

  const call = <T>(command: ServerCommand): Promise<T> =>
    new Promise<T>((resolve) => {
      const id = nextId++;
      pending.set(id, (result) => resolve(result as T));
      child.send({ id, ...command });
    });

  return {
    webhookOrigin: `http://127.0.0.1:${webhookPort}`,
    tokenEndpoint: `http://127.0.0.1:${tokenPort}/oauth2/token`,
    configure: async (settings) => {
      await call({ cmd: 'configure', ...settings });
    },
    reset: async () => {
      await call({ cmd: 'reset' });
    },
    stats: () => call<ServerStats>({ cmd: 'stats' }),
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) {
          resolve();
          return;
        }
        child.once('exit', () => resolve());
        child.disconnect();
      }),
  };
}
