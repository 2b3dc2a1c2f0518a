/**
 * The reference gateway in one call: demo server (when configured), engine, twin store and HTTP
 * server, started in that order and stopped in reverse; plus live reconfiguration by diff.
 * `main.ts` wraps it as the CLI; specs and embedding apps call {@link startGateway} directly.
 */
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { diffConnections, sectionsNeedingRestart } from './config-diff.ts';
import type { EngineExtensions } from './connections-routes.ts';
import { startDemoServer } from './demo-server.ts';
import type { DemoServer } from './demo-server.ts';
import { createHttpServer } from './http-server.ts';
import { createLogger } from './logger.ts';
import type { TwinlinkConfig } from '../config/types.ts';
import type { DrainReport, Engine, EngineOptions } from '../engine/types.ts';
import { ThingStore } from '../things/thing-store.ts';

/** Builds the engine; the default is twinlink's `createEngine`. */
export type EngineFactory = (options: EngineOptions) => (Engine & EngineExtensions) | Promise<Engine & EngineExtensions>;

/** Default time `stop()` gives the engine to deliver queued events, ms. */
export const DEFAULT_DRAIN_TIMEOUT = 10_000;

export interface GatewayOptions {
  readonly config: TwinlinkConfig;
  /** Where the config came from (logged; reloads are the caller's business). */
  readonly configPath?: string;
  readonly logger?: Logger;
  readonly engineFactory?: EngineFactory;
  /** Drain budget for `stop()`, ms (default 10 s). */
  readonly drainTimeout?: number;
}

/** What a reload did. */
export interface ReloadReport {
  readonly added: readonly string[];
  readonly updated: readonly string[];
  readonly removed: readonly string[];
  /** Sections that changed but apply only after a restart. */
  readonly restartRequired: readonly string[];
  /** Connection changes the engine refused (id → message). */
  readonly failed: Readonly<Record<string, string>>;
}

/** A running gateway. */
export interface Gateway {
  /** `http://host:port` of the HTTP API. */
  readonly address: string;
  /** Base URL of the demo server, when the `demo` section is enabled. */
  readonly demoUrl?: string;
  readonly engine: Engine & EngineExtensions;
  readonly store: ThingStore;
  /** The configuration currently applied. */
  readonly config: TwinlinkConfig;
  /** Applies a new (already validated) configuration: connections by diff, auth at once. */
  reload(config: TwinlinkConfig): Promise<ReloadReport>;
  /** Closes the HTTP server, drains and stops the engine, then the demo server. Idempotent. */
  stop(): Promise<DrainReport>;
}

const defaultEngineFactory: EngineFactory = async (options) => {
  const { createEngine } = await import('../engine/engine.ts');
  return createEngine(options);
};

/**
 * Starts the gateway: the demo server first (so the default connection can reach it), then the
 * engine, then the HTTP API. Resolves once `GET /health` answers UP.
 *
 * @example
 * const gateway = await startGateway({ config: await loadConfig('config/twinlink.yaml') });
 * console.log(gateway.address); // http://127.0.0.1:8080
 * await gateway.stop();
 */
export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const logger = options.logger ?? createLogger();
  let config = options.config;
  let ready = false;
  let demo: DemoServer | undefined;
  if (config.demo?.enabled) demo = await startDemoServer(config.demo, { logger });

  const store = new ThingStore({ defaultNamespace: config.things.defaultNamespace });
  let engine: Engine & EngineExtensions;
  try {
    engine = await (options.engineFactory ?? defaultEngineFactory)({ config, logger: logger.child({ component: 'engine' }), extraFields: store.extraFields });
    await engine.start();
  } catch (error) {
    await demo?.close();
    throw error;
  }

  const app = await createHttpServer({
    engine, store, logger,
    auth: () => config.auth,
    settings: () => config.engine,
    isReady: () => ready,
  });
  try {
    await app.listen({ host: config.http.host, port: config.http.port });
  } catch (error) {
    await engine.stop({ drainTimeout: 0 });
    await demo?.close();
    throw error;
  }
  const info = app.server.address() as AddressInfo;
  const address = `http://${info.family === 'IPv6' ? `[${info.address}]` : info.address}:${info.port}`;
  ready = true;
  logger.info({ address, config: options.configPath, connections: config.connections.length }, `twinlink gateway listening at ${address}`);

  let stopping: Promise<DrainReport> | undefined;
  const stop = (): Promise<DrainReport> => {
    stopping ??= (async () => {
      ready = false;
      logger.info('stopping: closing the HTTP API, draining the engine');
      await app.close();
      // The demo webhook may still receive drained events: it closes last.
      const report = await engine.stop({ drainTimeout: options.drainTimeout ?? DEFAULT_DRAIN_TIMEOUT });
      await demo?.close();
      logger.info(report, 'stopped');
      return report;
    })();
    return stopping;
  };

  const reload = async (next: TwinlinkConfig): Promise<ReloadReport> => {
    const diff = diffConnections(config.connections, next.connections);
    const failed: Record<string, string> = {};
    const attempt = async (id: string, action: () => Promise<void>): Promise<void> => {
      try {
        await action();
      } catch (error) {
        failed[id] = (error as Error).message;
        logger.error({ err: error, connectionId: id }, 'reload: connection change refused');
      }
    };
    for (const id of diff.removed) await attempt(id, () => engine.removeConnection(id));
    for (const connection of diff.updated) await attempt(connection.id, () => engine.updateConnection(connection));
    for (const connection of diff.added) {
      // A connection created over the API with the same id is taken over by the file.
      await attempt(connection.id, () => engine.connection(connection.id) ? engine.updateConnection(connection) : engine.addConnection(connection));
    }
    const restartRequired = sectionsNeedingRestart(config, next);
    if (restartRequired.length > 0) logger.warn({ sections: restartRequired }, 'reload: these sections changed and apply only after a restart');
    const previous = config;
    config = { ...next, http: previous.http, things: previous.things, engine: previous.engine, demo: previous.demo };
    const report: ReloadReport = {
      added: diff.added.map((c) => c.id), updated: diff.updated.map((c) => c.id), removed: [...diff.removed], restartRequired, failed,
    };
    logger.info(report, 'configuration reloaded');
    return report;
  };

  return {
    address,
    ...(demo ? { demoUrl: demo.url } : {}),
    engine,
    store,
    get config() {
      return config;
    },
    reload,
    stop,
  };
}
