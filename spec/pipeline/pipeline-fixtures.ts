/** Shared builders for the pipeline specs: connections and signals as the loader/host would give them. */
import type { ConnectionConfig, TargetConfig } from '../../src/config/types.ts';
import type { ThingEvent } from '../../src/protocol/signal.ts';
import type { Clock } from '../../src/shared/clock.ts';

export const fixedClock: Clock = { now: () => Date.UTC(2024, 0, 1, 0, 0, 0) };

export function target(overrides: Partial<TargetConfig> = {}): TargetConfig {
  return {
    address: 'POST:/6148b899-736f-47e6-9382-90b1d721630e',
    topics: ['_/_/things/twin/events'],
    authorizationContext: ['integration:ditto'],
    headerMapping: {},
    payloadMapping: [],
    ...overrides,
  };
}

export function connection(targets: TargetConfig[], overrides: Partial<ConnectionConfig> = {}): ConnectionConfig {
  return {
    id: 'http_oauth2', connectionType: 'http-push', connectionStatus: 'open', uri: 'https://webhook.example:443',
    validateCertificates: true, clientCount: 1, failoverEnabled: true, tags: [], sources: [], targets,
    mappingDefinitions: {}, specificConfig: { parallelism: 1, omitRequestBody: ['GET', 'DELETE'] },
    ...overrides,
  };
}

let revision = 0;
export function thingEvent(overrides: Partial<ThingEvent> = {}): ThingEvent {
  revision++;
  return {
    type: 'thing.event', channel: 'twin', thingId: 'org.eclipse.ditto:fancy-thing', action: 'modified', path: '/attributes/counter',
    value: revision, revision, headers: { 'correlation-id': `c-${revision}` },
    readGrantedSubjects: ['integration:ditto'], readRevokedSubjects: [], timestamp: '2024-01-01T00:00:00Z',
    ...overrides,
  };
}
