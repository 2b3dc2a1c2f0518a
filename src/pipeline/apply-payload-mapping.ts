/**
 * Payload mapping stage: runs the target's mappers (`payloadMapping`, default `Ditto`) over the
 * envelope. A mapper that throws, or produces nothing, drops the signal for this target with a reason.
 */
import { mergeMap, type OperatorFunction } from 'rxjs';
import { ErrorCode, TwinlinkError } from '../errors.ts';
import type { ConnectionConfig, TargetConfig } from '../config/types.ts';
import { defaultMapperRegistry, type MapperRegistry, type PayloadMapper } from './payload-mapper.ts';
import type { EnvelopedSignal, MappedSignal } from './target-work.ts';

/** A mapper instance with the id it was configured under. */
export interface NamedMapper {
  readonly id: string;
  readonly mapper: PayloadMapper;
}

/**
 * Instantiates the mappers of one target: each `payloadMapping` entry names a `mappingDefinitions`
 * id (its `mappingEngine` picks the factory) or directly a registered engine such as `Normalized`.
 * @throws {TwinlinkError} `ERR_MAPPING_FAILED` for unknown names or a factory that rejects its options.
 */
export function createTargetMappers(connection: ConnectionConfig, target: TargetConfig, registry: MapperRegistry = defaultMapperRegistry): NamedMapper[] {
  const names = target.payloadMapping.length > 0 ? target.payloadMapping : ['Ditto'];
  return names.map((id) => {
    const definition = connection.mappingDefinitions[id];
    const engine = definition?.mappingEngine ?? id;
    const factory = registry.get(engine);
    if (factory === undefined) {
      throw new TwinlinkError(ErrorCode.MAPPING_FAILED, `payload mapping '${id}' names unknown mapping engine '${engine}' (registered: ${registry.names().join(', ')})`);
    }
    try {
      return { id, mapper: factory(definition?.options ?? {}, { connectionId: connection.id, mappingId: id }) };
    } catch (cause) {
      if (cause instanceof TwinlinkError) throw cause;
      throw new TwinlinkError(ErrorCode.MAPPING_FAILED, `payload mapping '${id}' could not be created: ${(cause as Error).message}`, { cause });
    }
  });
}

/** Result of mapping one signal for one target. */
export type MappingResult = { readonly ok: true; readonly items: MappedSignal[] } | { readonly ok: false; readonly reason: string };

/** Runs all mappers; the first failure drops the whole signal for this target. */
export function mapPayload(mappers: readonly NamedMapper[], item: EnvelopedSignal): MappingResult {
  const items: MappedSignal[] = [];
  for (const { id, mapper } of mappers) {
    let messages;
    try {
      messages = mapper.map(item.signal, item.envelope);
    } catch (error) {
      return { ok: false, reason: `payload mapper '${id}' failed: ${error instanceof Error ? error.message : String(error)}` };
    }
    for (const message of messages) items.push({ ...item, message });
  }
  if (items.length === 0) return { ok: false, reason: 'payload mapping produced no message' };
  return { ok: true, items };
}

/** Operator form of {@link mapPayload}: one output per produced message. */
export function applyPayloadMapping(
  mappers: readonly NamedMapper[],
  onResult: (item: EnvelopedSignal, result: MappingResult) => void = () => {},
): OperatorFunction<EnvelopedSignal, MappedSignal> {
  return mergeMap((item) => {
    const result = mapPayload(mappers, item);
    onResult(item, result);
    return result.ok ? result.items : [];
  });
}
