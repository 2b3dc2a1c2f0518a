/**
 * Outbound payload mappers. A mapper turns one signal (and its Ditto envelope) into 0..n messages.
 * Built in: `Ditto` (the envelope as JSON) and `Normalized` (Ditto's normalized thing view).
 * Embedding applications register their own by name with {@link registerMapper}.
 */
import { ErrorCode, TwinlinkError } from '../errors.ts';
import type { DittoEnvelope } from '../protocol/envelope.ts';
import type { JsonObject, Signal } from '../protocol/signal.ts';
import { pickFields, placeAt } from '../protocol/thing-view.ts';

/** Content type of Ditto protocol messages. */
export const DITTO_CONTENT_TYPE = 'application/vnd.eclipse.ditto+json';

/** One message a mapper produced. */
export interface MappedMessage {
  readonly contentType: string;
  readonly body: string;
  /** Extra headers for the HTTP request (before `headerMapping`). */
  readonly headers?: Readonly<Record<string, string>>;
}

/** A mapper instance (one per target and mapping definition). May throw: the event is then dropped. */
export interface PayloadMapper {
  map(signal: Signal, envelope: DittoEnvelope): readonly MappedMessage[];
}

/** What a factory learns about where its mapper runs. */
export interface MapperContext {
  readonly connectionId: string;
  /** The id under `mappingDefinitions` (or the mapper name when used directly). */
  readonly mappingId: string;
}

/** Creates a mapper from the `options` of its mapping definition; may throw on bad options. */
export type MapperFactory = (options: Readonly<Record<string, unknown>>, context: MapperContext) => PayloadMapper;

const bodyCache = new WeakMap<DittoEnvelope, string>();

/** JSON of an envelope, serialised once however many targets share it. */
export function envelopeJson(envelope: DittoEnvelope): string {
  let body = bodyCache.get(envelope);
  if (body === undefined) {
    body = JSON.stringify(envelope);
    bodyCache.set(envelope, body);
  }
  return body;
}

/** The `Ditto` mapper: the envelope itself. */
export const dittoMapperFactory: MapperFactory = () => ({
  map: (_signal, envelope) => [{ contentType: DITTO_CONTENT_TYPE, body: envelopeJson(envelope) }],
});

/**
 * The `Normalized` mapper: thing events only (others produce nothing), as the thing fragment
 * the event changed, plus `_revision`, `_modified`, `_deleted` (thing deleted) and
 * `_context {topic, path, headers, value}`. Option `fields` (comma-separated pointers) selects fields.
 */
export const normalizedMapperFactory: MapperFactory = (options) => {
  const fieldsOption = options.fields;
  if (fieldsOption !== undefined && typeof fieldsOption !== 'string') {
    throw new TwinlinkError(ErrorCode.MAPPING_FAILED, "Normalized mapper option 'fields' must be a comma-separated string");
  }
  const fields = fieldsOption?.split(',').map((f) => f.trim()).filter((f) => f !== '');
  return {
    map(signal, envelope) {
      if (signal.type !== 'thing.event') return [];
      let view: JsonObject = signal.value === undefined || signal.action === 'deleted' ? {} : placeAt(signal.path, signal.value);
      view = { thingId: signal.thingId, ...view };
      view._revision = signal.revision;
      if (envelope.timestamp !== undefined) {
        view._modified = envelope.timestamp;
        if (signal.action === 'deleted' && (signal.path === '/' || signal.path === '')) view._deleted = envelope.timestamp;
      }
      const context: JsonObject = { topic: envelope.topic, path: envelope.path, headers: { ...envelope.headers } };
      if (envelope.value !== undefined) context.value = envelope.value;
      view._context = context;
      const out = fields && fields.length > 0 ? pickFields(view, fields) : view;
      return [{ contentType: 'application/json', body: JSON.stringify(out) }];
    },
  };
};

/** Mapper factories by engine name. */
export class MapperRegistry {
  private readonly factories = new Map<string, MapperFactory>();

  /** Registers (or replaces) a factory under `name`. */
  register(name: string, factory: MapperFactory): this {
    this.factories.set(name, factory);
    return this;
  }

  has(name: string): boolean {
    return this.factories.has(name);
  }

  get(name: string): MapperFactory | undefined {
    return this.factories.get(name);
  }

  names(): string[] {
    return [...this.factories.keys()];
  }
}

/** The process-wide registry, preloaded with `Ditto` and `Normalized`. */
export const defaultMapperRegistry = new MapperRegistry()
  .register('Ditto', dittoMapperFactory)
  .register('Normalized', normalizedMapperFactory);

/**
 * Registers a mapper engine usable as `mappingEngine` in `mappingDefinitions`.
 * @example
 * registerMapper('Csv', () => ({ map: (s, env) => [{ contentType: 'text/csv', body: `${env.topic},${env.revision}` }] }));
 */
export function registerMapper(name: string, factory: MapperFactory): void {
  defaultMapperRegistry.register(name, factory);
}
