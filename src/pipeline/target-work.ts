/** The values flowing between the stages of a target pipeline, and its outcome reports. */
import type { DittoEnvelope } from '../protocol/envelope.ts';
import type { JsonObject, Signal } from '../protocol/signal.ts';
import type { MappedMessage } from './payload-mapper.ts';
import type { TopicSubscription } from './target-topics.ts';

/** A signal that matched one of the target's topic subscriptions. */
export interface RoutedSignal {
  readonly signal: Signal;
  readonly subscription: TopicSubscription;
  /** Values of the subscription's `extraFields`, when looked up. */
  readonly extra?: JsonObject;
}

/** A routed signal with its Ditto protocol envelope. */
export interface EnvelopedSignal extends RoutedSignal {
  readonly envelope: DittoEnvelope;
  readonly correlationId: string;
}

/** One message produced by the payload mappers. */
export interface MappedSignal extends EnvelopedSignal {
  readonly message: MappedMessage;
}

/** A mapped message with its resolved request headers and `http.path`/`http.query` overrides. */
export interface HeaderMappedSignal extends MappedSignal {
  readonly headers: Readonly<Record<string, string>>;
  readonly pathOverride?: string;
  readonly queryOverride?: string;
}

/** What happened to a signal at one target (Ditto's per-target counters). */
export type TargetOutcomeKind = 'filtered' | 'unauthorized' | 'mapped' | 'dropped';

export interface TargetOutcome {
  readonly targetIndex: number;
  readonly outcome: TargetOutcomeKind;
  /** Why it was dropped (mapper error, unresolvable address, …). */
  readonly reason?: string;
  readonly signal: Signal;
}

/** Receives outcome reports; must not throw. */
export type OutcomeListener = (outcome: TargetOutcome) => void;
