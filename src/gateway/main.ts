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
    process.stdout.write(`config OK: ${n} connections\n`);
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
    logger.fatal({ err: error }, 'gateway failed to start');
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
    if (config.connectionsDir) watchers.push(watch(resolve(dirname(resolve(configPath)), config.connectionsDir), changed));
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
