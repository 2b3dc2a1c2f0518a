/**
 * The gateway's HTTP server (fastify): the Things API, the connections API, `GET /metrics`
 * (Prometheus exposition of the engine's registry) and `GET /health`. Every error is answered in
 * Eclipse Ditto's JSON error shape.
 */
import Fastify, { LogController } from 'fastify';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { connectionsRoutes } from './connections-routes.ts';
import type { EngineExtensions } from './connections-routes.ts';
import type { ConnectionTester } from './connection-test.ts';
import { dittoErrorHandler, parseJsonBody } from './http-errors.ts';
import { thingsRoutes } from './things-routes.ts';
import type { EngineSettings, TwinlinkConfig } from '../config/types.ts';
import type { Engine } from '../engine/types.ts';
import { DittoApiError } from '../things/ditto-api-error.ts';
import type { ThingStore } from '../things/thing-store.ts';

/** Largest request body accepted by default: 1 MiB (larger → 413). */
export const DEFAULT_BODY_LIMIT = 1024 * 1024;

export interface HttpServerOptions {
  readonly engine: Engine & EngineExtensions;
  readonly store: ThingStore;
  readonly logger: Logger;
  /** Current `auth` section (users and devops); read per request so reloads apply at once. */
  readonly auth: () => TwinlinkConfig['auth'];
  /** Current engine settings, used to validate connections sent to the connections API. */
  readonly settings: () => EngineSettings;
  /** `GET /health` answers UP only while this returns true (default: always). */
  readonly isReady?: () => boolean;
  readonly bodyLimit?: number;
  /** What `POST /api/2/connections?dry-run=true` runs after validation (default: the real test). */
  readonly testConnection?: ConnectionTester;
}

/**
 * Builds (but does not start) the gateway's fastify instance; call `listen()` or use `inject()`.
 *
 * @example
 * const app = await createHttpServer({ engine, store, logger, auth: () => config.auth, settings: () => config.engine });
 * await app.listen({ host: '127.0.0.1', port: 8080 });
 */
export async function createHttpServer(options: HttpServerOptions): Promise<FastifyInstance> {
  const logger = options.logger.child({ component: 'http' });
  const app = Fastify({
    loggerInstance: logger,
    bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT,
    // Request logs at debug: the info level stays readable and carries the events that matter.
    logController: new LogController({ disableRequestLogging: !logger.isLevelEnabled('debug') }),
  }) as unknown as FastifyInstance;

  app.removeContentTypeParser(['application/json']);
  app.addContentTypeParser(['application/json', 'application/merge-patch+json'], { parseAs: 'string' }, parseJsonBody);
  app.setErrorHandler(dittoErrorHandler(logger));
  app.setNotFoundHandler((request, reply) => {
    const error = new DittoApiError(404, 'gateway:resource.notfound', `No resource at ${request.method} ${request.url.split('?')[0]}.`);
    return reply.code(404).send(error.toBody());
  });

  app.get('/health', async (_request, reply) => {
    const up = options.isReady?.() ?? true;
    return reply.code(up ? 200 : 503).send({ status: up ? 'UP' : 'DOWN' });
  });

  app.get('/metrics', async (_request, reply) => {
    const body = await options.engine.registry.metrics();
    return reply.type(options.engine.registry.contentType).send(body);
  });

  await app.register(thingsRoutes, {
    store: options.store,
    engine: options.engine,
    users: () => options.auth().users,
    logger,
  });
  await app.register(connectionsRoutes, {
    engine: options.engine,
    settings: options.settings,
    devops: () => options.auth().devops,
    ...(options.testConnection ? { testConnection: options.testConnection } : {}),
  });
  return app;
}
