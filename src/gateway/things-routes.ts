/**
 * The Things API (Eclipse Ditto HTTP API v2 subset) as a fastify plugin: create, read, replace,
 * merge and delete things and their parts; every change is enforced by the thing's policy and its
 * event dispatched into the engine.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { authenticate } from './basic-auth.ts';
import { unauthorized } from './http-errors.ts';
import { DittoApiError, thingIdInvalid } from '../things/ditto-api-error.ts';
import { THING_ROOT, isValidThingId, parseThingPath } from '../things/thing-path.ts';
import type { Caller, ThingChange, ThingStore } from '../things/thing-store.ts';
import type { UserConfig } from '../config/types.ts';
import type { Engine } from '../engine/types.ts';
import type { JsonValue } from '../protocol/signal.ts';

/** What the Things API needs from its host. */
export interface ThingsRoutesOptions {
  readonly store: ThingStore;
  /** Receives every event a change causes. */
  readonly engine: Pick<Engine, 'dispatch'>;
  /** Current Basic-auth users (a function, so a config reload takes effect at once). */
  readonly users: () => readonly UserConfig[];
  readonly logger: Logger;
}

const MERGE_PATCH = 'application/merge-patch+json';

interface ThingParams { thingId: string; '*'?: string }

/**
 * Registers `/api/2/things[/{thingId}[/…]]` on `app`, all behind Basic auth.
 *
 * @example await app.register(thingsRoutes, { store, engine, users: () => config.auth.users, logger })
 */
export async function thingsRoutes(app: FastifyInstance, options: ThingsRoutesOptions): Promise<void> {
  const callers = new WeakMap<FastifyRequest, Caller>();
  const { store, engine, logger } = options;

  // onRequest runs before the body is read: unauthenticated requests never cost a parse.
  app.addHook('onRequest', async (request) => {
    const user = await authenticate(options.users(), request.headers.authorization);
    if (!user) throw unauthorized();
    const correlationId = request.headers['correlation-id'];
    callers.set(request, {
      subject: user.subject,
      headers: typeof correlationId === 'string' && correlationId !== '' ? { 'correlation-id': correlationId } : {},
    });
  });

  const callerOf = (request: FastifyRequest): Caller => callers.get(request)!;
  const thingIdOf = (request: FastifyRequest): string => {
    const { thingId } = request.params as ThingParams;
    if (!isValidThingId(thingId)) throw thingIdInvalid(thingId);
    return thingId;
  };
  const pathOf = (request: FastifyRequest) => parseThingPath((request.params as ThingParams)['*'] ?? '');
  const dispatch = (change: ThingChange): void => {
    try {
      engine.dispatch(change.event);
    } catch (error) {
      // The change is stored either way; a stopped engine must not turn it into a 500.
      logger.warn({ err: error, thingId: change.event.thingId }, 'event not dispatched');
    }
  };
  // Serialised here: fastify would send a bare string value as text/plain, not as a JSON string.
  const json = (reply: FastifyReply, status: number, body: JsonValue): FastifyReply =>
    reply.code(status).type('application/json').send(JSON.stringify(body));
  const answer = (reply: FastifyReply, change: ThingChange, location: string, body: JsonValue): FastifyReply => {
    dispatch(change);
    if (!change.created) return reply.code(204).send();
    return json(reply.header('location', location), 201, body);
  };
  const requireMergePatch = (request: FastifyRequest): void => {
    const type = request.headers['content-type']?.split(';')[0]?.trim().toLowerCase();
    if (type !== MERGE_PATCH) {
      throw new DittoApiError(415, 'mediatype.unsupported', `The Media-Type '${type ?? ''}' is not supported for PATCH.`, `Use '${MERGE_PATCH}'.`);
    }
  };

  app.get('/api/2/things', async (request, reply) => {
    const { ids } = request.query as { ids?: string };
    const list = ids ? ids.split(',').map((id) => id.trim()).filter((id) => id !== '') : undefined;
    for (const id of list ?? []) if (!isValidThingId(id)) throw thingIdInvalid(id);
    return json(reply, 200, store.list(callerOf(request), list));
  });

  app.post('/api/2/things', async (request, reply) => {
    const change = store.create(callerOf(request), request.body as JsonValue ?? {});
    dispatch(change);
    return json(reply.header('location', `/api/2/things/${encodeURI(change.event.thingId)}`), 201, change.thing);
  });

  app.get('/api/2/things/:thingId', async (request, reply) => {
    const thingId = thingIdOf(request);
    const { fields } = request.query as { fields?: string };
    if (fields) return json(reply, 200, store.retrieveFields(callerOf(request), thingId, fields.split(',').map((f) => f.trim()).filter((f) => f !== '')));
    return json(reply, 200, store.retrieve(callerOf(request), thingId, THING_ROOT));
  });

  app.put('/api/2/things/:thingId', async (request, reply) => {
    const thingId = thingIdOf(request);
    const change = store.put(callerOf(request), thingId, request.body as JsonValue);
    return answer(reply, change, `/api/2/things/${encodeURI(thingId)}`, change.thing);
  });

  app.patch('/api/2/things/:thingId', async (request, reply) => {
    requireMergePatch(request);
    const change = store.merge(callerOf(request), thingIdOf(request), THING_ROOT, request.body as JsonValue);
    dispatch(change);
    return reply.code(204).send();
  });

  app.delete('/api/2/things/:thingId', async (request, reply) => {
    dispatch(store.remove(callerOf(request), thingIdOf(request), THING_ROOT));
    return reply.code(204).send();
  });

  app.get('/api/2/things/:thingId/*', async (request, reply) => {
    const thingId = thingIdOf(request);
    return json(reply, 200, store.retrieve(callerOf(request), thingId, pathOf(request)));
  });

  app.put('/api/2/things/:thingId/*', async (request, reply) => {
    const thingId = thingIdOf(request);
    const path = pathOf(request);
    const value = request.body as JsonValue;
    if (value === undefined) throw new DittoApiError(400, 'json.invalid', 'A JSON request body is required.');
    const change = store.modify(callerOf(request), thingId, path, value);
    return answer(reply, change, `/api/2/things/${encodeURI(thingId)}${encodeURI(path.pointer)}`, value);
  });

  app.patch('/api/2/things/:thingId/*', async (request, reply) => {
    requireMergePatch(request);
    const thingId = thingIdOf(request);
    dispatch(store.merge(callerOf(request), thingId, pathOf(request), request.body as JsonValue));
    return reply.code(204).send();
  });

  app.delete('/api/2/things/:thingId/*', async (request, reply) => {
    const thingId = thingIdOf(request);
    dispatch(store.remove(callerOf(request), thingId, pathOf(request)));
    return reply.code(204).send();
  });
}
