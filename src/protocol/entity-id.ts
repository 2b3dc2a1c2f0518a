/** The entity a signal is about, for placeholders, filters, logs and acknowledgements. */
import type { Signal } from './signal.ts';

/** The thing id of thing signals (events, messages, commands); undefined for the others. */
export function thingIdOf(signal: Signal): string | undefined {
  return signal.type === 'thing.event' || signal.type === 'thing.message' || signal.type === 'thing.command' ? signal.thingId : undefined;
}

/** The id of whatever entity the signal concerns: thing, policy or connection. */
export function entityIdOf(signal: Signal): string {
  switch (signal.type) {
    case 'policy.announcement':
      return signal.policyId;
    case 'connection.announcement':
      return signal.connectionId;
    default:
      return signal.thingId;
  }
}
