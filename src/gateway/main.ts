/**
 * The `twinlink` CLI (`npm start`): loads the configuration, starts the reference gateway and
 * keeps it running; `--check` only validates. Exit codes: 0 ok, 1 runtime failure, 2 invalid
 * configuration or usage. SIGINT/SIGTERM stop gracefully; SIGHUP (and `--watch`) reload.
 */
import { watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/load.ts';
import type { TwinlinkConfig } from '../config/types.ts';
import { ConfigError, TwinlinkError } from '../errors.ts';
import { parseDuration } from '../shared/duration.ts';

/** Process exit codes. */
export const ExitCode = { OK: 0, FAILURE: 1, INVALID_CONFIG: 2 } as const;

/** The default configuration file, relative to the working directory. */
export const DEFAULT_CONFIG_PATH = 'config/twinlink.yaml';

const USAGE = `usage: twinlink [--config <file>] [--check] [--watch] [--drain-timeout <duration>]

  --config <file>        configuration file (default: $TWINLINK_CONFIG or ${DEFAULT_CONFIG_PATH})
  --check                validate the configuration and exit (0 valid, 2 invalid)
  --watch                reload when the configuration file changes (as SIGHUP does)
  --drain-timeout <d>    time to deliver queued events on shutdown (default 10s)
  --help                 show this help

exit codes: 0 ok, 1 runtime failure, 2 invalid configuration or usage`;

/** Prints the loader's message (never a stack trace) and yields the exit code for it. */
function reportLoadError(error: unknown): number {
  if (error instanceof ConfigError || error instanceof TwinlinkError) {
    process.stderr.write(`${error.message}\n`);
    return error instanceof ConfigError ? ExitCode.INVALID_CONFIG : ExitCode.FAILURE;
  }
  process.stderr.write(`cannot load the configuration: ${(error as Error).message}\n`);
  return ExitCode.FAILURE;
}

const LISTEN_PROBLEMS: Readonly<Record<string, string>> = {
  EADDRINUSE: 'the address is already in use (is another twinlink running?)',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  EADDRNOTAVAIL: 'the address is not available on this machine',
};

/**
 * One line saying why the gateway could not start. Listen failures name the address and the
 * setting that chose it (`http.port` / `TWINLINK_PORT`, `demo.port` / `DEMO_PORT`).
 *
 * @example describeStartError(eaddrinuse, config)
 * // 'cannot listen on 127.0.0.1:8080 (http.host/http.port, TWINLINK_PORT in the default config): the address is already in use (is another twinlink running?)'
 */
export function describeStartError(error: unknown, config: TwinlinkConfig): string {
  const { code, address, port, syscall } = error as { code?: unknown; address?: unknown; port?: unknown; syscall?: unknown };
  if (syscall === 'listen' && typeof code === 'string') {
    const where = typeof address === 'string' ? `${address}:${String(port)}` : String(port);
    const isDemo = config.demo?.enabled === true && port === config.demo.port && port !== config.http.port;
    const setting = isDemo ? 'demo.host/demo.port, DEMO_PORT in the default config' : 'http.host/http.port, TWINLINK_PORT in the default config';
    return `cannot listen on ${where} (${setting}): ${LISTEN_PROBLEMS[code] ?? code}`;
  }
  if (error instanceof TwinlinkError) return `gateway failed to start: ${error.code}: ${error.message}`;
  return `gateway failed to start: ${error instanceof Error ? error.message : String(error)}`;
}

/**
 * Runs the CLI with `argv` (without node and script); resolves with the exit code once the
 * command is finished (for `--check`) or the gateway has stopped.
 */
export async function main(argv: readonly string[]): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: [...argv],
      options: {
        config: { type: 'string', short: 'c' },
        check: { type: 'boolean' },
        watch: { type: 'boolean' },
        'drain-timeout': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
    return ExitCode.INVALID_CONFIG;
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return ExitCode.OK;
  }
  const drainTimeout = parseDuration(args['drain-timeout'] ?? '10s');
  if (drainTimeout === undefined) {
    process.stderr.write(`--drain-timeout: expected a duration such as 10s, got '${args['drain-timeout']}'\n`);
    return ExitCode.INVALID_CONFIG;
  }
  const configPath = args.config ?? process.env.TWINLINK_CONFIG ?? DEFAULT_CONFIG_PATH;

  let config: TwinlinkConfig;
  try {
    config = await loadConfig(configPath);
  } catch (error) {
    return reportLoadError(error);
  }
  if (args.check) {
    const n = config.connections.length;
    process.stdout.write(`config OK: ${n} ${n === 1 ? 'connection' : 'connections'}\n`);
    return ExitCode.OK;
  }

  // Loaded lazily so `--check` needs neither the engine nor the HTTP stack.
  const { createLogger } = await import('./logger.ts');
  const { startGateway } = await import('./gateway.ts');
  const logger = createLogger();
  let gateway;
  try {
    gateway = await startGateway({ config, configPath, logger, drainTimeout });
  } catch (error) {
    const message = describeStartError(error, config);
    // A clear line, not a stack, for what the operator must fix (a busy port); an unexpected
    // failure keeps its stack in the log for a bug report.
    const expected = (error as { syscall?: unknown }).syscall === 'listen' || error instanceof TwinlinkError;
    logger.fatal(expected ? { code: (error as { code?: unknown }).code } : { err: error }, message);
    process.stderr.write(`twinlink: ${message}\n`);
    return ExitCode.FAILURE;
  }

  let reloading = Promise.resolve();
  const reload = (why: string): void => {
    reloading = reloading.then(async () => {
      logger.info({ config: configPath }, `reloading configuration (${why})`);
      try {
        await gateway.reload(await loadConfig(configPath));
      } catch (error) {
        const issues = error instanceof ConfigError ? error.issues : undefined;
        logger.error({ issues, message: (error as Error).message }, 'configuration rejected; the running configuration stays');
      }
    });
  };

  const watchers: FSWatcher[] = [];
  if (args.watch) {
    let timer: NodeJS.Timeout | undefined;
    const changed = (): void => {
      // Editors write in bursts (truncate, write, rename): reload once when they are done.
      clearTimeout(timer);
      timer = setTimeout(() => reload('file changed'), 200);
    };
    const file = basename(configPath);
    watchers.push(watch(dirname(resolve(configPath)), (_event, name) => {
      if (name === file) changed();
    }));
    const watched = [resolve(configPath)];
    if (config.connectionsDir) {
      const connectionsDir = resolve(dirname(resolve(configPath)), config.connectionsDir);
      watchers.push(watch(connectionsDir, changed));
      watched.push(connectionsDir);
    }
    // From here on a change is seen (specs and operators wait for this line).
    logger.info({ watched }, 'watching the configuration for changes');
  }

  return new Promise<number>((done) => {
    let signalled = false;
    const shutdown = (signal: NodeJS.Signals): void => {
      if (signalled) {
        logger.warn(`${signal} again: exiting without draining`);
        done(ExitCode.FAILURE);
        return;
      }
      signalled = true;
      logger.info(`${signal} received`);
      for (const watcher of watchers) watcher.close();
      process.off('SIGHUP', onHup);
      gateway.stop().then(() => done(ExitCode.OK), (error: unknown) => {
        logger.error({ err: error }, 'stop failed');
        done(ExitCode.FAILURE);
      });
    };
    const onHup = (): void => reload('SIGHUP');
    process.on('SIGHUP', onHup);
    process.on('SIGINT', shutdown);
    process.on('SIGTERM', shutdown);
  });
}

// Run only as the entry point, not when imported by specs.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then((code) => process.exit(code), (error: unknown) => {
    process.stderr.write(`twinlink: ${(error as Error).message}\n`);
    process.exit(ExitCode.FAILURE);
  });
}
