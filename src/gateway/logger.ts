/**
 * The gateway's pino logger: JSON lines on stdout, pretty-printed when stdout is a terminal, with
 * every place a secret could appear redacted (authorization headers, client secrets, passwords,
 * tokens).
 */
import { pino } from 'pino';
import type { DestinationStream, Logger } from 'pino';
import pretty from 'pino-pretty';

/** Log fields pino replaces with `[Redacted]` wherever they appear (one wildcard level deep). */
export const REDACT_PATHS: readonly string[] = [
  'req.headers.authorization', 'req.headers.cookie', 'headers.authorization', 'request.headers.authorization',
  'clientSecret', '*.clientSecret', 'credentials.clientSecret', '*.credentials.clientSecret',
  'password', '*.password', 'passwordHash', '*.passwordHash',
  'client_secret', '*.client_secret', 'access_token', '*.access_token',
];

export interface LoggerOptions {
  /** pino level; default `LOG_LEVEL` from the environment, else `info`. */
  readonly level?: string;
  /** Pretty output; default: when stdout is a terminal. */
  readonly pretty?: boolean;
  /** Where to write (default stdout); specs pass a memory stream. */
  readonly destination?: DestinationStream;
}

/**
 * Creates the gateway logger.
 *
 * @example const logger = createLogger(); logger.info({ address }, 'listening');
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const settings = {
    name: 'twinlink',
    level: options.level ?? process.env.LOG_LEVEL ?? 'info',
    redact: { paths: [...REDACT_PATHS] },
  };
  if (options.destination) return pino(settings, options.destination);
  const usePretty = options.pretty ?? process.stdout.isTTY === true;
  // Synchronous pretty stream (no worker thread): the last lines before exit are never lost.
  return usePretty ? pino(settings, pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', sync: true })) : pino(settings);
}
