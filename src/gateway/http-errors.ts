/**
 * How the gateway's HTTP layer turns failures into Ditto-shaped error responses: auth failures,
 * fastify's own errors (body too large, bad JSON, unsupported media type) and engine/config errors.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { ConfigError, ErrorCode, TwinlinkError } from '../errors.ts';
import { DittoApiError, jsonInvalid } from '../things/ditto-api-error.ts';
import { checkJsonShape } from '../things/json-tree.ts';

/** The realm announced in `WWW-Authenticate`. */
export const REALM = 'twinlink';

/** 401 for missing or wrong Basic credentials (the handler adds `WWW-Authenticate`). */
export function unauthorized(): DittoApiError {
  return new DittoApiError(401, 'gateway:authentication.failed', 'Unauthorized.',
    'Provide valid credentials with HTTP Basic authentication.');
}

/** Deepest JSON nesting accepted in request bodies. */
export const MAX_JSON_DEPTH = 64;

/**
 * The JSON body parser for `application/json` and `application/merge-patch+json`: rejects empty
 * bodies, syntax errors, nesting deeper than {@link MAX_JSON_DEPTH} and `__proto__` keys with 400.
 */
export function parseJsonBody(_request: FastifyRequest, body: string, done: (error: Error | null, value?: unknown) => void): void {
  if (body.trim() === '') return done(jsonInvalid('The request body is empty; JSON was expected.'));
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (error) {
    return done(jsonInvalid(`Failed to parse JSON: ${(error as Error).message}`));
  }
  const problem = checkJsonShape(value, MAX_JSON_DEPTH);
  return problem ? done(jsonInvalid(problem)) : done(null, value);
}

/** Maps a thrown error to its Ditto error response. */
export function toDittoError(error: unknown, request: FastifyRequest): DittoApiError {
  if (error instanceof DittoApiError) return error;
  if (error instanceof ConfigError) {
    return new DittoApiError(400, 'connectivity:connection.configuration.invalid', error.message, 'Check the connection against the Ditto connection model.');
  }
  if (error instanceof TwinlinkError) {
    if (error.code === ErrorCode.CONNECTION_NOT_FOUND) return new DittoApiError(404, 'connectivity:connection.notfound', error.message);
    if (error.code === ErrorCode.CONNECTION_EXISTS) return new DittoApiError(409, 'connectivity:connection.conflict', error.message);
  }
  const fastifyError = error as Partial<FastifyError>;
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new DittoApiError(413, request.url.startsWith('/api/2/things') ? 'things:thing.toolarge' : 'gateway:request.toolarge',
        'The request body is too large.', 'Send a smaller request body.');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new DittoApiError(415, 'mediatype.unsupported', `The Media-Type '${request.headers['content-type'] ?? ''}' is not supported.`,
        "Use 'application/json' (or 'application/merge-patch+json' for PATCH).");
  }
  const status = fastifyError.statusCode;
  if (status !== undefined && status >= 400 && status < 500) return new DittoApiError(status, 'gateway:request.invalid', fastifyError.message ?? 'Bad request.');
  return new DittoApiError(500, 'gateway:internal.error', 'An unexpected error occurred.', 'See the gateway log for details.');
}

/** A fastify error handler answering in Ditto's error shape; 5xx causes are logged, never sent. */
export function dittoErrorHandler(logger: Logger) {
  return (error: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply => {
    const ditto = toDittoError(error, request);
    if (ditto.status >= 500) logger.error({ err: error, method: request.method, url: request.url }, 'request failed');
    if (ditto.status === 401) reply.header('www-authenticate', `Basic realm="${REALM}"`);
    return reply.code(ditto.status).type('application/json').send(ditto.toBody());
  };
}
