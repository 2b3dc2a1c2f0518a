/**
 * Everything between a signal and the HTTP requests for one target: topic filter → authorization →
 * Ditto envelope → payload mappers → headerMapping → address, as composed RxJS operators over a
 * target compiled once ({@link compileTarget}).
 */
import { map, pipe, type OperatorFunction } from 'rxjs';
import type { ConnectionConfig } from '../config/types.ts';
import type { ExtraFieldsLookup } from '../engine/types.ts';
import { compileTemplate, type CompiledTemplate } from '../placeholders/compile-template.ts';
import type { Signal } from '../protocol/signal.ts';
import type { Clock } from '../shared/clock.ts';
import { applyHeaderMapping, compileHeaderMapping, placeholderContextOf, type CompiledHeader } from './apply-header-mapping.ts';
import { applyPayloadMapping, createTargetMappers, type NamedMapper } from './apply-payload-mapping.ts';
import { authorize, type TargetAuthorization } from './authorize.ts';
import { filterByTopic } from './filter-by-topic.ts';
import type { OutboundMessage } from './outbound-message.ts';
import type { MapperRegistry } from './payload-mapper.ts';
import { compileAddress, resolveAddress, type AddressedSignal, type CompiledAddress } from './resolve-address.ts';
import { parseTopicSubscription, type TopicSubscription } from './target-topics.ts';
import type { OutcomeListener } from './target-work.ts';
import { mapToDittoProtocol } from './to-ditto-protocol.ts';

export interface TargetPipelineOptions {
  readonly connection: ConnectionConfig;
  /** Index into `connection.targets`. */
  readonly targetIndex: number;
  /** Mapper engines; default: the process-wide registry (`Ditto`, `Normalized`, registered ones). */
  readonly mappers?: MapperRegistry;
  readonly clock: Clock;
  readonly extraFields?: ExtraFieldsLookup;
  readonly onOutcome?: OutcomeListener;
}

/** A target compiled once: topics, filters, templates and mapper instances. */
export interface CompiledTarget {
  readonly connectionId: string;
  readonly targetIndex: number;
  readonly subscriptions: readonly TopicSubscription[];
  readonly authorization: TargetAuthorization;
  readonly address: CompiledAddress;
  readonly headers: readonly CompiledHeader[];
  readonly mappers: readonly NamedMapper[];
  readonly acknowledgementLabel?: CompiledTemplate;
  readonly omitBody: boolean;
}

/**
 * Compiles one target. Call at connection start: every config problem surfaces here.
 * @throws {RqlError} `ERR_RQL_INVALID`, {@link PlaceholderError} `ERR_PLACEHOLDER_INVALID`,
 *   `ERR_CONFIG_INVALID` (topic, address), `ERR_HEADER_INVALID`, `ERR_MAPPING_FAILED`.
 */
export function compileTarget(connection: ConnectionConfig, targetIndex: number, registry?: MapperRegistry): CompiledTarget {
  const target = connection.targets[targetIndex];
  if (target === undefined) throw new RangeError(`connection '${connection.id}' has no target ${targetIndex}`);
  const address = compileAddress(target.address);
  return {
    connectionId: connection.id,
    targetIndex,
    subscriptions: target.topics.map(parseTopicSubscription),
    authorization: { connectionId: connection.id, subjects: new Set(target.authorizationContext) },
    address,
    headers: compileHeaderMapping(target.headerMapping),
    mappers: createTargetMappers(connection, target, registry),
    ...(target.issuedAcknowledgementLabel !== undefined ? { acknowledgementLabel: compileTemplate(target.issuedAcknowledgementLabel) } : {}),
    omitBody: connection.specificConfig.omitRequestBody.includes(address.method),
  };
}

function toOutbound(target: CompiledTarget, item: AddressedSignal, now: number): OutboundMessage {
  const label = target.acknowledgementLabel?.resolve(placeholderContextOf(item, target.connectionId, now));
  return {
    connectionId: target.connectionId,
    targetIndex: target.targetIndex,
    targetAddress: target.address.source,
    method: target.address.method,
    pathAndQuery: item.pathAndQuery,
    headers: item.headers,
    ...(target.omitBody ? {} : { body: item.message.body }),
    correlationId: item.correlationId,
    ...(label !== undefined ? { acknowledgementLabel: label } : {}),
    signal: item.signal,
  };
}

/**
 * The target's stages as composed RxJS operators.
 * @example signals$.pipe(createTargetPipeline({ connection, targetIndex: 0, clock, onOutcome })).subscribe(publish)
 */
export function createTargetPipeline(options: TargetPipelineOptions): OperatorFunction<Signal, OutboundMessage> {
  return targetPipeline(compileTarget(options.connection, options.targetIndex, options.mappers), options);
}

/**
 * The RxJS stages of an already compiled target (so a caller can compile at start, to surface
 * config errors, and build the subscriber chain only when the first signal arrives).
 */
export function targetPipeline(
  target: CompiledTarget,
  options: Pick<TargetPipelineOptions, 'clock' | 'extraFields' | 'onOutcome'>,
): OperatorFunction<Signal, OutboundMessage> {
  const { clock, onOutcome = () => {} } = options;
  const { targetIndex, connectionId } = target;
  return pipe(
    filterByTopic(target.subscriptions, { clock, ...(options.extraFields ? { extraFields: options.extraFields } : {}) },
      (signal) => onOutcome({ targetIndex, outcome: 'filtered', signal })),
    authorize(target.authorization, (signal) => onOutcome({ targetIndex, outcome: 'unauthorized', signal })),
    mapToDittoProtocol(clock),
    applyPayloadMapping(target.mappers, (item, result) => onOutcome(result.ok
      ? { targetIndex, outcome: 'mapped', signal: item.signal }
      : { targetIndex, outcome: 'dropped', reason: result.reason, signal: item.signal })),
    applyHeaderMapping(target.headers, connectionId, clock),
    resolveAddress(target.address, connectionId, clock, (item, reason) => onOutcome({ targetIndex, outcome: 'dropped', reason, signal: item.signal })),
    map((item) => toOutbound(target, item, clock.now())),
  );
}
