/**
 * Envelope stage: builds the Ditto protocol envelope of a routed signal. Without `extra` the
 * envelope only depends on the signal, so it is built once and shared by every target.
 */
import { randomUUID } from 'node:crypto';
import { map, type OperatorFunction } from 'rxjs';
import { toDittoProtocol, type DittoEnvelope } from '../protocol/envelope.ts';
import type { Signal } from '../protocol/signal.ts';
import type { Clock } from '../shared/clock.ts';
import type { EnvelopedSignal, RoutedSignal } from './target-work.ts';

const correlationIds = new WeakMap<Signal, string>();
const sharedEnvelopes = new WeakMap<Signal, DittoEnvelope>();

/** The signal's `correlation-id` header, else one random UUID per signal (the same for all targets). */
export function correlationIdOf(signal: Signal): string {
  const header = signal.headers['correlation-id'];
  if (header !== undefined && header !== '') return header;
  let id = correlationIds.get(signal);
  if (id === undefined) {
    id = randomUUID();
    correlationIds.set(signal, id);
  }
  return id;
}

/** Adds the envelope to a routed signal. */
export function envelopeStep(routed: RoutedSignal, clock: Clock): EnvelopedSignal {
  const { signal, extra } = routed;
  const correlationId = correlationIdOf(signal);
  let envelope: DittoEnvelope | undefined = extra === undefined ? sharedEnvelopes.get(signal) : undefined;
  if (envelope === undefined) {
    envelope = toDittoProtocol(signal, {
      correlationId,
      ...(extra ? { extra } : {}),
      ...(signal.timestamp === undefined ? { timestamp: new Date(clock.now()).toISOString() } : {}),
    });
    if (extra === undefined) sharedEnvelopes.set(signal, envelope);
  }
  return { ...routed, envelope, correlationId };
}

/** Operator form of {@link envelopeStep}. */
export function mapToDittoProtocol(clock: Clock): OperatorFunction<RoutedSignal, EnvelopedSignal> {
  return map((routed) => envelopeStep(routed, clock));
}
