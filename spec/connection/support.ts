/** Builders and fakes shared by the connection specs. */
import { BehaviorSubject, ReplaySubject, Subject, filter, firstValueFrom } from 'rxjs';
import sinon from 'sinon';
import type { AccessToken, TokenEvent, TokenSource, TokenStatus } from '../../src/auth/token-source.ts';
import type { ConnectionConfig, HttpPushSettings } from '../../src/config/types.ts';
import type { Timers } from '../../src/connection/http-publisher.ts';
import { TokenUnavailableError } from '../../src/errors.ts';
import type { OutboundMessage } from '../../src/pipeline/outbound-message.ts';
import type { Clock } from '../../src/shared/clock.ts';

export function connectionConfig(overrides: Partial<ConnectionConfig> & { parallelism?: number; idleTimeout?: number } = {}): ConnectionConfig {
  const { parallelism, idleTimeout, ...rest } = overrides;
  return {
    id: 'conn-1',
    connectionType: 'http-push',
    connectionStatus: 'open',
    uri: 'http://127.0.0.1:1',
    validateCertificates: true,
    clientCount: 1,
    failoverEnabled: true,
    tags: [],
    sources: [],
    targets: [],
    mappingDefinitions: {},
    specificConfig: { parallelism: parallelism ?? 1, idleTimeout, omitRequestBody: ['GET', 'DELETE'] },
    ...rest,
  };
}

export function pushSettings(overrides: Partial<HttpPushSettings> = {}): HttpPushSettings {
  return {
    maxQueueSize: 100,
    requestTimeout: 10_000,
    overflow: 'drop-newest',
    retry: { maxAttempts: 3, initialDelay: 100, maxDelay: 10_000, statuses: [429, 502, 503, 504] },
    circuitBreakerThreshold: 1000,
    maxResponseBytes: 64 * 1024,
    ...overrides,
  };
}

/** A thing-event message number `n` for target 0. */
export function message(n: number, overrides: Partial<OutboundMessage> = {}): OutboundMessage {
  return {
    connectionId: 'conn-1',
    targetIndex: 0,
    targetAddress: 'POST:/events',
    method: 'POST',
    pathAndQuery: `/events?n=${n}`,
    headers: { 'content-type': 'application/vnd.eclipse.ditto+json' },
    body: JSON.stringify({ topic: 'org.acme/t1/things/twin/events/modified', path: '/attributes/n', value: n }),
    correlationId: `corr-${n}`,
    signal: {
      type: 'thing.event',
      channel: 'twin',
      thingId: 'org.acme:t1',
      action: 'modified',
      path: '/attributes/n',
      value: n,
      revision: n,
      headers: {},
      readGrantedSubjects: [],
      readRevokedSubjects: [],
    },
    ...overrides,
  };
}

/** A simulated clock (not installed globally) for the publisher's retry and circuit delays. */
export function fakeTime(now = 1_700_000_000_000): { clock: Clock; timers: Timers; fake: sinon.SinonFakeTimers } {
  // Installed on a private object, not globalThis: real sockets and got's own timers keep real time.
  const fake = sinon.useFakeTimers({ now, global: { Date, setTimeout, clearTimeout, Promise }, toFake: ['setTimeout', 'clearTimeout', 'Date'] } as never);
  return {
    fake,
    clock: { now: () => fake.now },
    timers: {
      setTimeout: (callback, ms) => fake.setTimeout(callback, ms),
      clearTimeout: (handle) => fake.clearTimeout(handle as never),
    },
  };
}

/** A TokenSource fake: tokens are issued by the spec; `reportUnauthorized` issues the next one. */
export class FakeTokenSource implements TokenSource {
  readonly status$ = new BehaviorSubject<TokenStatus>({ state: 'fetching', since: 0 });
  readonly events$ = new Subject<TokenEvent>();
  readonly token$ = new ReplaySubject<AccessToken>(1);
  readonly unauthorizedReports: AccessToken[] = [];
  private token: AccessToken | undefined;
  private serial = 0;
  /** When set, `get()` rejects immediately (token endpoint down). */
  unavailable = false;

  issue(value = `token-${++this.serial}`): AccessToken {
    this.token = { value, expiresAt: Number.MAX_SAFE_INTEGER, obtainedAt: 0 };
    this.token$.next(this.token);
    this.status$.next({ state: 'valid', since: 0, expiresAt: this.token.expiresAt });
    return this.token;
  }

  current(): AccessToken | undefined {
    return this.token;
  }

  get(signal?: AbortSignal): Promise<AccessToken> {
    if (this.token) return Promise.resolve(this.token);
    if (this.unavailable) return Promise.reject(new TokenUnavailableError('no token'));
    const next = firstValueFrom(this.token$.pipe(filter(Boolean)));
    if (!signal) return next;
    return Promise.race([
      next,
      new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(new TokenUnavailableError('aborted')), { once: true })),
    ]);
  }

  reportUnauthorized(token: AccessToken): Promise<AccessToken> {
    this.unauthorizedReports.push(token);
    return Promise.resolve(this.token === token ? this.issue() : (this.token as AccessToken));
  }
}
