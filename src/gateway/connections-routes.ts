/**
 * The connections API (Eclipse Ditto's `/api/2/connections` subset) as a fastify plugin, behind
 * the devops Basic-auth account. Connections are validated by the config loader's rules and
 * every response is redacted (client secrets, uri passwords).
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { authenticate } from './basic-auth.ts';
import { testConnection } from './connection-test.ts';
import type { ConnectionTester } from './connection-test.ts';
import { unauthorized } from './http-errors.ts';
import { parseConnection } from '../config/load.ts';
import { redactConnection } from '../config/redact.ts';
import type { DevopsConfig, EngineSettings } from '../config/types.ts';
import type { Engine } from '../engine/types.ts';
import { DittoApiError } from '../things/ditto-api-error.ts';
import { isJsonObject } from '../things/json-tree.ts';

/** Operations an engine may offer beyond {@link Engine}; the API answers 501 while they are missing. */
export interface EngineExtensions {
  metrics?(id: string): unknown;
  logs?(id: string): unknown;
  resetMetrics?(id: string): unknown;
}

export interface ConnectionsRoutesOptions {
  readonly engine: Engine & EngineExtensions;
  /** Settings new connections are validated against (https token endpoints, …). */
  readonly settings: () => EngineSettings;
  /** The current devops account (a function, so a config reload takes effect at once). */
  readonly devops: () => DevopsConfig;
  /** What `?dry-run=true` runs after validation (default {@link testConnection}: token + reach). */
  readonly testConnection?: ConnectionTester;
}

/** Commands `POST /api/2/connections/{id}/command` accepts. */
export const CONNECTION_COMMANDS = [
  'connectivity.commands:openConnection',
  'connectivity.commands:closeConnection',
  'connectivity.commands:resetConnectionMetrics',
] as const;

function notFound(id: string): DittoApiError {
  return new DittoApiError(404, 'connectivity:connection.notfound', `The Connection with ID '${id}' could not be found.`,
    'Check if the ID of the Connection was correct.');
}

function notImplemented(what: string): DittoApiError {
  return new DittoApiError(501, 'connectivity:connection.notimplemented', `Connection ${what} are not available in this engine.`);
}

/**
 * Registers `/api/2/connections…` on `app`.
 *
 * @example await app.register(connectionsRoutes, { engine, settings: () => config.engine, devops: () => config.auth.devops })
 */
export async function connectionsRoutes(app: FastifyInstance, options: ConnectionsRoutesOptions): Promise<void> {
  const { engine } = options;

  app.addHook('onRequest', async (request) => {
    if (!(await authenticate([options.devops()], request.headers.authorization))) throw unauthorized();
  });

  const idOf = (request: FastifyRequest): string => (request.params as { id: string }).id;
  const existing = (id: string) => {
    const connection = engine.connection(id);
    if (!connection) throw notFound(id);
    return connection;
  };
  const parse = (raw: unknown, id: string, source: string) => {
    if (!isJsonObject(raw)) throw new DittoApiError(400, 'json.invalid', 'A connection must be a JSON object.');
    return parseConnection({ ...raw, id }, options.settings(), source);
  };

  app.get('/api/2/connections', async (request) => {
    const { 'ids-only': idsOnly } = request.query as { 'ids-only'?: string };
    const all = engine.connections();
    return idsOnly === 'true' ? all.map((c) => c.id) : all.map(redactConnection);
  });

  app.post('/api/2/connections', async (request, reply) => {
    const { 'dry-run': dryRun } = request.query as { 'dry-run'?: string };
    const raw = request.body as Record<string, unknown> | undefined;
    const id = typeof raw?.id === 'string' ? raw.id : randomUUID();
    const connection = parse(raw, id, 'POST /api/2/connections');
    if (dryRun === 'true') {
      // As Ditto's test: validate, then try it for real (token, target) without creating it.
      const result = await (options.testConnection ?? testConnection)(connection, options.settings());
      return reply.code(200).send(result);
    }
    if (engine.connection(id)) {
      throw new DittoApiError(409, 'connectivity:connection.conflict', `The Connection with ID '${id}' already exists.`, 'Choose another ID or modify the existing Connection.');
    }
    await engine.addConnection(connection);
    return reply.code(201).header('location', `/api/2/connections/${encodeURIComponent(id)}`).send(redactConnection(connection));
  });

  app.get('/api/2/connections/:id', async (request) => redactConnection(existing(idOf(request))));

  app.put('/api/2/connections/:id', async (request, reply) => {
    const id = idOf(request);
    const raw = request.body as Record<string, unknown> | undefined;
    if (raw?.id !== undefined && raw.id !== id) {
      throw new DittoApiError(400, 'connectivity:connection.id.notsettable', `The Connection ID in the body is not equal to '${id}' in the URL.`);
    }
    const connection = parse(raw, id, `PUT /api/2/connections/${id}`);
    if (engine.connection(id)) {
      await engine.updateConnection(connection);
      return reply.code(204).send();
    }
    await engine.addConnection(connection);
    return reply.code(201).header('location', `/api/2/connections/${encodeURIComponent(id)}`).send(redactConnection(connection));
  });

  app.delete('/api/2/connections/:id', async (request, reply) => {
    const id = idOf(request);
    existing(id);
    await engine.removeConnection(id);
    return reply.code(204).send();
  });

  app.post('/api/2/connections/:id/command', async (request, reply) => {
    const id = idOf(request);
    existing(id);
    const command = typeof request.body === 'string' ? request.body.trim() : undefined;
    switch (command) {
      case 'connectivity.commands:openConnection':
        await engine.open(id);
        break;
      case 'connectivity.commands:closeConnection':
        await engine.close(id);
        break;
      case 'connectivity.commands:resetConnectionMetrics':
        if (typeof engine.resetMetrics !== 'function') throw notImplemented('metrics');
        await engine.resetMetrics(id);
        break;
      default:
        throw new DittoApiError(400, 'connectivity:connection.command.unknown', `Unknown connection command '${command ?? ''}'.`,
          `Send one of ${CONNECTION_COMMANDS.join(', ')} as text/plain.`);
    }
    return reply.code(200).send({});
  });

  app.get('/api/2/connections/:id/status', async (request) => {
    const id = idOf(request);
    existing(id);
    return engine.status(id);
  });

  app.get('/api/2/connections/:id/metrics', async (request) => {
    const id = idOf(request);
    existing(id);
    if (typeof engine.metrics !== 'function') throw notImplemented('metrics');
    return engine.metrics(id);
  });

  app.get('/api/2/connections/:id/logs', async (request) => {
    const id = idOf(request);
    existing(id);
    if (typeof engine.logs !== 'function') throw notImplemented('logs');
    return engine.logs(id);
  });
}
