/**
 * Spec helpers for end-to-end engine specs: YAML builders for http-push connections (so every
 * engine is built through the real loader), signal factories, and event-driven waits with a
 * deadline (a missed deadline fails the spec with what was awaited; nothing sleeps a fixed time).
 */
import { firstValueFrom, filter, timeout, type Observable } from 'rxjs';
import { parseConfigText } from '../../src/config/load.ts';
import type { TwinlinkConfig } from '../../src/config/types.ts';
import type { ThingEvent } from '../../src/protocol/signal.ts';
import { parsePrometheus, valueOf, type ParsedFamily } from './prometheus-text.ts';

// Captured at load: specs that install sinon fake timers still get real deadlines.
const realSetTimeout = globalThis.setTimeout;
const realClearTimeout = globalThis.clearTimeout;
const realSetImmediate = globalThis.setImmediate;

/** Default deadline of the waits below, ms: generous for CI, never reached when all is well. */
export const DEADLINE = 4_000;

/** Options of one http-push connection written as YAML. */
export interface ConnectionYaml {
  readonly id: string;
  /** The webhook origin (`http://127.0.0.1:<port>`). */
  readonly uri: string;
  /** Token endpoint; omitted → a connection without credentials. */
  readonly tokenEndpoint?: string;
  readonly clientId?: string;
  readonly clientSecret?: string;
  readonly scope?: string;
  readonly address?: string;
  readonly topics?: readonly string[];
  readonly authorizationContext?: readonly string[];
  readonly parallelism?: number;
  readonly idleTimeout?: string;
  readonly connectionStatus?: 'open' | 'closed';
  /** Extra YAML lines of the (first) target, indented by 8 spaces. */
  readonly targetExtra?: string;
  /** Extra targets as raw YAML list items (`      - address: …`, 6 spaces before the dash). */
  readonly moreTargets?: string;
}

/** One `connections:` list item. */
export function connectionYaml(options: ConnectionYaml): string {
  const topics = (options.topics ?? ['_/_/things/twin/events']).map((topic) => JSON.stringify(topic)).join(', ');
  const subjects = (options.authorizationContext ?? ['integration:ditto']).map((subject) => JSON.stringify(subject)).join(', ');
  const credentials = options.tokenEndpoint
    ? `
    credentials:
      type: oauth-client-credentials
      tokenEndpoint: "${options.tokenEndpoint}"
      clientId: ${options.clientId ?? 'my-client-id'}
      clientSecret: ${options.clientSecret ?? 'my-client-secret'}
      requestedScopes: ${options.scope ?? 'my-scope'}`
    : '';
  const idle = options.idleTimeout ? `\n      idleTimeout: ${options.idleTimeout}` : '';
  const extra = options.targetExtra ? `\n${options.targetExtra}` : '';
  const more = options.moreTargets ? `\n${options.moreTargets}` : '';
  return `
  - id: ${options.id}
    connectionType: http-push
    connectionStatus: ${options.connectionStatus ?? 'open'}
    uri: "${options.uri}"
    specificConfig:
      parallelism: ${options.parallelism ?? 1}${idle}
    targets:
      - address: "${options.address ?? 'POST:/events'}"
        topics: [${topics}]
        authorizationContext: [${subjects}]${extra}${more}${credentials}`;
}

/** Extra YAML lines for the `engine.oauth2` / `engine.httpPush` sections (4-space indented). */
export interface EngineYaml {
  readonly oauth2?: string;
  readonly httpPush?: string;
  /** Replaces the spec retry policy (a YAML flow map). */
  readonly retry?: string;
  /** Further `engine` keys, as YAML lines indented by two spaces. */
  readonly engine?: string;
}

/**
 * Engine settings tuned for specs: plain-http loopback token endpoints allowed and every backoff
 * in milliseconds, so recoveries happen at once instead of after real seconds.
 */
export function engineYaml(overrides: EngineYaml = {}): string {
  return `
engine:
  oauth2:
    enforceHttps: false
    backoff: { initialDelay: 10ms, maxDelay: 20ms }
    tokenWaitTimeout: 3s${overrides.oauth2 ? `\n${overrides.oauth2}` : ''}
  httpPush:
    retry: ${overrides.retry ?? '{ maxAttempts: 5, initialDelay: 10ms, maxDelay: 20ms, statuses: [429, 502, 503, 504] }'}${overrides.httpPush ? `\n${overrides.httpPush}` : ''}${overrides.engine ? `\n${overrides.engine}` : ''}
`;
}

/** A whole config from the spec engine settings plus connections, through `parseConfigText`. */
export function configOf(connections: readonly ConnectionYaml[], overrides: EngineYaml = {}): TwinlinkConfig {
  return parseConfigText(`${engineYaml(overrides)}connections:${connections.map(connectionYaml).join('')}\n`, { env: {} });
}

/** The seed's thing-created event for `thingId`, readable by `integration:ditto`. */
export function thingCreated(thingId: string, overrides: Partial<ThingEvent> = {}): ThingEvent {
  return {
    type: 'thing.event',
    channel: 'twin',
    thingId,
    action: 'created',
    path: '/',
    value: { thingId, policyId: thingId },
    revision: 1,
    headers: {},
    readGrantedSubjects: ['integration:ditto'],
    readRevokedSubjects: [],
    ...overrides,
  };
}

/** An attribute-modified event numbered `n` (value and revision carry `n`, to check order). */
export function counterModified(thingId: string, n: number, overrides: Partial<ThingEvent> = {}): ThingEvent {
  return thingCreated(thingId, { action: 'modified', path: '/attributes/counter', value: n, revision: n, ...overrides });
}

/** The `value` of each recorded envelope body, in arrival order. */
export function valuesOf(requests: readonly { readonly text: string }[]): unknown[] {
  return requests.map((request) => (JSON.parse(request.text) as { value?: unknown }).value);
}

/** Rejects after `ms` with a message naming what was awaited. */
export function within<T>(promise: Promise<T>, what: string, ms = DEADLINE): Promise<T> {
  let handle: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    handle = realSetTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => realClearTimeout(handle));
}

/** The first value of `source$` that satisfies `predicate`, within the deadline. */
export function firstMatch<T>(source$: Observable<T>, predicate: (value: T) => boolean, what: string, ms = DEADLINE): Promise<T> {
  return within(firstValueFrom(source$.pipe(filter(predicate), timeout({ first: ms + 1 }))), what, ms);
}

/**
 * Resolves once `check` returns true, re-checking after every turn of the event loop (for state
 * without an event of its own, such as a counter); rejects at the deadline.
 */
export async function until(check: () => boolean, what: string, ms = DEADLINE): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => realSetImmediate(resolve));
  }
}

/** Like {@link until} for asynchronous checks (a registry scrape). */
export async function eventually(check: () => Promise<boolean>, what: string, ms = DEADLINE): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => realSetImmediate(resolve));
  }
}

/** Scrapes a registry and parses it (a malformed exposition throws, failing the spec). */
export async function scrape(registry: { metrics(): Promise<string> }): Promise<Map<string, ParsedFamily>> {
  return parsePrometheus(await registry.metrics());
}

/** `twinlink_outbound_messages_total` of one connection, target and outcome (0 when absent). */
export async function outboundCount(registry: { metrics(): Promise<string> }, connection: string, target: string, outcome: string): Promise<number> {
  return valueOf(await scrape(registry), 'twinlink_outbound_messages_total', { connection, target, outcome }) ?? 0;
}
