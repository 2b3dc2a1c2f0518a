/**
 * The real `twinlink` CLI as a child process for end-to-end specs: `node --import tsx
 * src/gateway/main.ts …` in the repository root, its pino JSON log lines parsed as they arrive,
 * with event-driven waits (a log line, the exit) bounded by generous deadlines for slow CI boxes.
 * Call {@link CliProcess.kill} in an `after` hook: it is a no-op once the process has exited.
 */
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The repository root (the CLI resolves `config/twinlink.yaml` against the working directory). */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** How long a wait may take before it fails with the output so far: generous, 2-core CI boxes are slow. */
export const CLI_DEADLINE = 30_000;

/** One parsed pino line. */
export type LogLine = Record<string, unknown> & { readonly msg?: string; readonly level?: number };

export interface CliExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface CliProcess {
  readonly child: ChildProcessWithoutNullStreams;
  /** Every JSON log line so far, in order. */
  readonly logs: readonly LogLine[];
  readonly stdout: () => string;
  readonly stderr: () => string;
  /** The exit, once it happened. */
  readonly exited: CliExit | undefined;
  /** Resolves with the first log line (already seen or still to come) matching `predicate`. */
  waitForLog(predicate: (line: LogLine) => boolean, what?: string): Promise<LogLine>;
  /** Resolves with the address the gateway logs once it is listening (`http://127.0.0.1:<port>`). */
  waitForAddress(): Promise<string>;
  /** Resolves with the exit code and signal. */
  waitForExit(): Promise<CliExit>;
  /** SIGKILL unless already exited; resolves once it has. */
  kill(): Promise<void>;
}

/** Environment of the child: ours minus the variables the CLI reads, plus `env`. */
function childEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const base = { ...process.env };
  for (const name of ['TWINLINK_CONFIG', 'TWINLINK_HOST', 'TWINLINK_PORT', 'DEMO_PORT', 'LOG_LEVEL']) delete base[name];
  return { ...base, ...env };
}

/**
 * Spawns the CLI with `args`.
 *
 * @example
 * const cli = startCli(['--config', file]);
 * const address = await cli.waitForAddress();
 * cli.child.kill('SIGTERM');
 * expect((await cli.waitForExit()).code).to.equal(0);
 */
export function startCli(args: readonly string[], env: NodeJS.ProcessEnv = {}): CliProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/gateway/main.ts', ...args], {
    cwd: REPO_ROOT,
    env: childEnv(env),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let partial = '';
  const logs: LogLine[] = [];
  const listeners = new Set<() => void>();
  let exited: CliExit | undefined;
  const notify = (): void => {
    for (const listener of [...listeners]) listener();
  };

  child.stdout.on('data', (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    stdout += text;
    const lines = (partial + text).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      try {
        logs.push(JSON.parse(line) as LogLine);
      } catch {
        // Not a log line (npm banners, …): kept in stdout only.
      }
    }
    notify();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  // 'close' comes after the exit and after stdout and stderr are drained: nothing is missed.
  const exit = new Promise<CliExit>((resolve) => {
    child.once('close', (code, signal) => {
      exited = { code, signal };
      notify();
      resolve(exited);
    });
  });

  const output = (): string => `\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`;

  const waitForLog = (predicate: (line: LogLine) => boolean, what = 'a log line'): Promise<LogLine> =>
    new Promise<LogLine>((resolve, reject) => {
      let seen = 0;
      const check = (): void => {
        for (; seen < logs.length; seen += 1) {
          const line = logs[seen] as LogLine;
          if (predicate(line)) {
            done();
            resolve(line);
            return;
          }
        }
        if (exited) {
          done();
          reject(new Error(`the CLI exited (${JSON.stringify(exited)}) before ${what}${output()}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no ${what} within ${CLI_DEADLINE} ms${output()}`));
      }, CLI_DEADLINE);
      const done = (): void => {
        clearTimeout(timer);
        listeners.delete(check);
      };
      listeners.add(check);
      check();
    });

  return {
    child,
    logs,
    stdout: () => stdout,
    stderr: () => stderr,
    get exited() {
      return exited;
    },
    waitForLog,
    async waitForAddress() {
      const line = await waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('twinlink gateway listening at'), 'the listening address');
      return String(line.address);
    },
    waitForExit() {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`the CLI did not exit within ${CLI_DEADLINE} ms${output()}`)), CLI_DEADLINE);
      });
      return Promise.race([exit, deadline]).finally(() => clearTimeout(timer));
    },
    async kill() {
      if (exited) return;
      child.kill('SIGKILL');
      await exit;
    },
  };
}

/** Basic credentials header value. */
export function basic(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}
