/**
 * First pipeline stage: does the signal match one of the target's topics (kind, `namespaces`,
 * RQL `filter`)? Filters see the thing as known from the event plus the `extraFields`, as in Ditto.
 */
import { filter, map, type OperatorFunction } from 'rxjs';
import type { ExtraFieldsLookup } from '../engine/types.ts';
import type { JsonObject, Signal } from '../protocol/signal.ts';
import { deepMerge, thingViewOf } from '../protocol/thing-view.ts';
import type { Clock } from '../shared/clock.ts';
import { matchesKindAndNamespace, namespaceOf, topicKindOf, type TopicSubscription } from './target-topics.ts';
import type { RoutedSignal } from './target-work.ts';
import { thingIdOf } from '../protocol/entity-id.ts';

export interface TopicMatchOptions {
  readonly clock: Clock;
  readonly extraFields?: ExtraFieldsLookup;
}


/**
 * The first subscription `signal` matches, with the looked-up extra fields; `undefined` = filtered.
 * The host lookup runs only for subscriptions with `extraFields` whose kind and namespace match.
 */
export function matchTopic(subscriptions: readonly TopicSubscription[], signal: Signal, options: TopicMatchOptions): RoutedSignal | undefined {
  const kind = topicKindOf(signal);
  const namespace = namespaceOf(signal);
  for (const subscription of subscriptions) {
    if (!matchesKindAndNamespace(subscription, kind, namespace)) continue;
    let extra: JsonObject | undefined;
    const thingId = thingIdOf(signal);
    if (subscription.extraFields && options.extraFields && thingId !== undefined) {
      extra = options.extraFields(thingId, subscription.extraFields);
    }
    if (subscription.filter) {
      const extraForFilter = extra;
      const scope = {
        signal,
        // The event's own data wins over the (possibly older) looked-up fields.
        thing: () => (extraForFilter ? deepMerge(extraForFilter, thingViewOf(signal)) : thingViewOf(signal)),
        now: () => options.clock.now(),
      };
      if (!subscription.filter.test(scope)) continue;
    }
    return { signal, subscription, ...(extra ? { extra } : {}) };
  }
  return undefined;
}

/**
 * Operator: passes signals matching a subscription on as {@link RoutedSignal}s; reports the others.
 * @example signals$.pipe(filterByTopic(subs, { clock }, (s) => count('filtered', s)))
 */
export function filterByTopic(
  subscriptions: readonly TopicSubscription[],
  options: TopicMatchOptions,
  onFiltered: (signal: Signal) => void = () => {},
): OperatorFunction<Signal, RoutedSignal> {
  return (source) => source.pipe(
    map((signal) => {
      const routed = matchTopic(subscriptions, signal, options);
      if (routed === undefined) onFiltered(signal);
      return routed;
    }),
    filter((routed): routed is RoutedSignal => routed !== undefined),
  );
}
