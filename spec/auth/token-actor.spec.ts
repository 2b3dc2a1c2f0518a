import { expect } from 'chai';
import pino from 'pino';
import { filter, firstValueFrom } from 'rxjs';
import sinon from 'sinon';
import { UNAUTHORIZED_REFRESH_INTERVAL, createTokenActor, type TokenActor, type TokenActorOptions } from '../../src/auth/token-actor.ts';
import type { TokenEvent, TokenState, TokenStatus } from '../../src/auth/token-source.ts';
import type { OAuth2Settings } from '../../src/config/types.ts';
import { ErrorCode, TokenEndpointError, TokenRejectedError, TokenUnavailableError } from '../../src/errors.ts';
import { SEED_ACCESS_TOKEN, makeJwt, startTokenServer, tokenReply, type TokenReply, type TokenServer } from '../helpers/token-server.ts';
import { defaultOAuth2Settings, seedCredentials } from './fixtures.ts';

const SECRET = 'my-client-secret';
const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
const START = Date.UTC(2025, 0, 1);

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => { resolve = r; });
  return { promise, resolve };
}

describe('token actor', () => {
  let server: TokenServer;
  let clock: sinon.SinonFakeTimers;
  let actor: TokenActor | undefined;
  let statuses: TokenStatus[];
  let events: TokenEvent[];
  let logLines: string[];
  let issued: number;

  /** Answers each request with a fresh opaque token `token-<n>` valid for one hour. */
  const freshToken = (): TokenReply => tokenReply(`token-${++issued}`, { expires_in: 3600 });

  function create(settings: Partial<OAuth2Settings> = {}, options: Partial<TokenActorOptions> = {}): TokenActor {
    const logger = pino({ level: 'debug' }, { write: (line: string) => void logLines.push(line) });
    actor = createTokenActor({
      credentials: seedCredentials(server.tokenEndpoint),
      settings: { ...defaultOAuth2Settings, ...settings },
      tls: { validateCertificates: true },
      random: () => 0.5,
      logger,
      ...options,
    });
    actor.status$.subscribe((status) => statuses.push(status));
    actor.events$.subscribe((event) => events.push(event));
    return actor;
  }

  const stateOf = (source: TokenActor, state: TokenState): Promise<TokenStatus> =>
    firstValueFrom(source.status$.pipe(filter((status) => status.state === state)));

  const refreshTriggers = () => events.flatMap((event) => (event.type === 'refresh' ? [event.trigger] : []));

  beforeEach(async () => {
    server = await startTokenServer();
    issued = 0;
    server.setDefault(freshToken);
    statuses = [];
    events = [];
    logLines = [];
    clock = sinon.useFakeTimers({ now: START, toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  });

  afterEach(async () => {
    actor?.stop();
    actor = undefined;
    clock.restore();
    await server.close();
    // Whatever happened, the secret was never shown.
    const shown = JSON.stringify({ statuses, events }) + logLines.join('');
    expect(shown).not.to.include(SECRET);
  });

  it("fetches the seed's token once and serves it from the cache", async () => {
    server.setDefault({ status: 200, body: { access_token: SEED_ACCESS_TOKEN, expires_in: 1048576, scope: 'my-scope', token_type: 'bearer' } });
    const tokens = create();
    tokens.start();
    const token = await tokens.get();
    expect(token.value).to.equal(SEED_ACCESS_TOKEN);
    // expires_in (about 12 days) is earlier than the JWT's exp (year 3000): the earlier wins.
    expect(token.expiresAt).to.equal(token.obtainedAt + 1048576_000);
    for (let i = 0; i < 10; i++) expect((await tokens.get()).value).to.equal(SEED_ACCESS_TOKEN);
    expect(tokens.current()?.value).to.equal(SEED_ACCESS_TOKEN);
    expect(server.requests).to.have.length(1);
    expect(tokens.state).to.equal('valid');
    expect(statuses.at(-1)).to.include({ state: 'valid', expiresAt: token.expiresAt, lastRefresh: token.obtainedAt });
    expect(events).to.deep.include({ type: 'refresh', trigger: 'initial' });
    expect(events.find((event) => event.type === 'request')).to.include({ outcome: 'success' });
  });

  it('makes exactly one token request for 1,000 concurrent callers on a cold cache', async () => {
    const tokens = create();
    const results = await Promise.all(Array.from({ length: 1000 }, () => tokens.get()));
    expect(new Set(results.map((token) => token.value))).to.deep.equal(new Set(['token-1']));
    expect(server.requests).to.have.length(1);
  });

  it('replays the current token to late subscribers of token$', async () => {
    const tokens = create();
    await tokens.get();
    expect((await firstValueFrom(tokens.token$)).value).to.equal('token-1');
  });

  it('refreshes before expiry while the old token keeps serving, then swaps atomically', async () => {
    const tokens = create({}, { random: () => 0 });
    const first = await tokens.get();
    const gate = deferred();
    server.enqueue(async () => {
      await gate.promise;
      return freshToken();
    });
    // One-hour token, 60 s skew, no jitter: the refresh starts 6 minutes (10%) before expiry.
    await clock.tickAsync(54 * MINUTE - 1);
    expect(tokens.state).to.equal('valid');
    await clock.tickAsync(1);
    expect(tokens.state).to.equal('refreshing');
    await server.waitForRequests(2);
    expect(tokens.current()).to.equal(first);
    expect(await tokens.get()).to.equal(first);
    const next = firstValueFrom(tokens.token$.pipe(filter((token) => token !== first)));
    gate.resolve();
    expect((await next).value).to.equal('token-2');
    expect(tokens.current()?.value).to.equal('token-2');
    expect(tokens.state).to.equal('valid');
    expect(refreshTriggers()).to.deep.equal(['initial', 'preemptive']);
  });

  it('refreshes a token shorter than the skew at half its life instead of looping', async () => {
    server.setDefault(() => tokenReply(`token-${++issued}`, { expires_in: 10 }));
    const tokens = create({}, { random: () => 0 });
    await tokens.get();
    await clock.tickAsync(4_999);
    expect(server.requests).to.have.length(1);
    await clock.tickAsync(1);
    await server.waitForRequests(2);
    expect(server.requests).to.have.length(2);
  });

  it('does not serve a token past its deadline when the refresh cannot complete', async () => {
    const tokens = create({ tokenWaitTimeout: 1_000 }, { random: () => 0 });
    await tokens.get();
    server.setDefault(() => new Promise<TokenReply>(() => {}));
    // Refresh at 54 min; the old token is served until 59 min (expiry minus the skew).
    await clock.tickAsync(59 * MINUTE - 1);
    expect(tokens.current()?.value).to.equal('token-1');
    await clock.tickAsync(1);
    expect(tokens.current()).to.equal(undefined);
  });

  describe('when a target refuses a token (401)', () => {
    it('refreshes once for all concurrent reports and hands out the new token', async () => {
      const tokens = create();
      const used = await tokens.get();
      const retried = await Promise.all(Array.from({ length: 20 }, () => tokens.reportUnauthorized(used)));
      expect(retried.map((token) => token.value)).to.deep.equal(Array(20).fill('token-2'));
      expect(server.requests).to.have.length(2);
      expect(refreshTriggers()).to.deep.equal(['initial', 'unauthorized']);
    });

    it('ignores a stale report about an older token and keeps the newer one', async () => {
      const tokens = create();
      const old = await tokens.get();
      const newer = await tokens.reportUnauthorized(old);
      expect(newer.value).to.equal('token-2');
      const afterStale = await tokens.reportUnauthorized(old);
      expect(afterStale).to.equal(newer);
      expect(tokens.current()).to.equal(newer);
      expect(server.requests).to.have.length(2);
    });

    it('refreshes at most once per UNAUTHORIZED_REFRESH_INTERVAL when a target refuses every token', async () => {
      const tokens = create();
      const first = await tokens.get();
      const second = await tokens.reportUnauthorized(first);
      expect(second.value).to.equal('token-2');
      // The new token is refused at once too: within the interval it is handed back unchanged.
      expect(await tokens.reportUnauthorized(second)).to.equal(second);
      expect(server.requests).to.have.length(2);
      await clock.tickAsync(UNAUTHORIZED_REFRESH_INTERVAL);
      expect((await tokens.reportUnauthorized(second)).value).to.equal('token-3');
      expect(server.requests).to.have.length(3);
    });

    it('lets the refresh in flight bring the replacement instead of starting another', async () => {
      const tokens = create({}, { random: () => 0 });
      const old = await tokens.get();
      const gate = deferred();
      server.enqueue(async () => {
        await gate.promise;
        return freshToken();
      });
      await clock.tickAsync(54 * MINUTE);
      expect(tokens.state).to.equal('refreshing');
      const retry = tokens.reportUnauthorized(old);
      expect(tokens.current()).to.equal(undefined);
      gate.resolve();
      expect((await retry).value).to.equal('token-2');
      expect(server.requests).to.have.length(2);
    });
  });

  describe('failures', () => {
    it('lands in failed on invalid_client, rejects callers at once and retries only after misconfiguredRetryDelay', async () => {
      server.enqueue({ status: 401, body: { error: 'invalid_client', error_description: 'unknown client' } });
      const tokens = create({ misconfiguredRetryDelay: 10 * MINUTE });
      const waiting = tokens.get().then(() => undefined, (error: unknown) => error);
      const failed = await stateOf(tokens, 'failed');
      expect(await waiting).to.be.instanceOf(TokenRejectedError);
      expect(failed.lastError).to.include({ code: ErrorCode.TOKEN_REJECTED, error: 'invalid_client', errorDescription: 'unknown client' });
      const immediate = await tokens.get().catch((error: unknown) => error);
      expect(immediate).to.be.instanceOf(TokenRejectedError).with.property('code', ErrorCode.TOKEN_REJECTED);

      await clock.tickAsync(10 * MINUTE - 1);
      expect(tokens.state).to.equal('failed');
      expect(server.requests).to.have.length(1);
      await clock.tickAsync(1);
      expect(tokens.state).to.equal('fetching');
      expect((await tokens.get()).value).to.equal('token-1');
    });

    it('leaves failed at once on retry() (connection reopened)', async () => {
      server.enqueue({ status: 400, body: { error: 'invalid_scope' } });
      const tokens = create();
      tokens.start();
      await stateOf(tokens, 'failed');
      tokens.retry();
      expect((await tokens.get()).value).to.equal('token-1');
      expect(server.requests).to.have.length(2);
    });

    it('backs off after a 500 and recovers', async () => {
      server.enqueue({ status: 500, body: 'boom' });
      const tokens = create({ backoff: { initialDelay: 1_000, maxDelay: 60_000 } });
      const waiting = tokens.get();
      const backoff = await stateOf(tokens, 'backoff');
      expect(backoff.lastError).to.include({ code: ErrorCode.TOKEN_ENDPOINT });
      // Full jitter with random 0.5: half of the first ceiling (1 s).
      await clock.tickAsync(499);
      expect(tokens.state).to.equal('backoff');
      await clock.tickAsync(1);
      expect((await waiting).value).to.equal('token-1');
      expect(tokens.state).to.equal('valid');
      expect(statuses.at(-1)?.lastError).to.equal(undefined);
      expect(events.filter((event) => event.type === 'request').map((event) => event.type === 'request' && event.outcome))
        .to.deep.equal([ErrorCode.TOKEN_ENDPOINT, 'success']);
    });

    it('grows the backoff exponentially', async () => {
      server.enqueue({ status: 502, body: '' }, { status: 502, body: '' }, { status: 502, body: '' });
      const tokens = create({ backoff: { initialDelay: 1_000, maxDelay: 60_000 } }, { random: () => 0.999 });
      tokens.start();
      await stateOf(tokens, 'backoff');
      for (const delay of [999, 1_998, 3_996]) {
        await clock.tickAsync(delay - 1);
        expect(tokens.state).to.equal('backoff');
        await clock.tickAsync(1);
        expect(tokens.state).to.equal('fetching');
        await firstValueFrom(tokens.status$.pipe(filter((status) => status.state !== 'fetching')));
      }
      expect(tokens.state).to.equal('valid');
      expect(server.requests).to.have.length(4);
    });

    it('honours Retry-After from a 429', async () => {
      server.enqueue({ status: 429, headers: { 'retry-after': '30' }, body: '' });
      const tokens = create();
      tokens.start();
      await stateOf(tokens, 'backoff');
      await clock.tickAsync(30_000 - 1);
      expect(tokens.state).to.equal('backoff');
      await clock.tickAsync(1);
      expect((await tokens.get()).value).to.equal('token-1');
    });

    it('keeps serving the old token while a failed refresh backs off', async () => {
      const tokens = create({}, { random: () => 0 });
      const first = await tokens.get();
      server.enqueue({ status: 503, body: 'down' });
      await clock.tickAsync(54 * MINUTE);
      await stateOf(tokens, 'backoff');
      expect(tokens.current()).to.equal(first);
      expect(await tokens.get()).to.equal(first);
    });

    it('backs off on an unusable 2xx answer (garbage) with ERR_TOKEN_RESPONSE_INVALID', async () => {
      server.enqueue({ status: 200, headers: { 'content-type': 'text/html' }, body: '<html>login</html>' });
      const tokens = create();
      tokens.start();
      const backoff = await stateOf(tokens, 'backoff');
      expect(backoff.lastError?.code).to.equal(ErrorCode.TOKEN_RESPONSE_INVALID);
    });

    it('backs off on a token that has already expired', async () => {
      server.enqueue(tokenReply(makeJwt({ exp: Math.floor(START / 1000) - 10 })));
      const tokens = create();
      tokens.start();
      const backoff = await stateOf(tokens, 'backoff');
      expect(backoff.lastError?.message).to.include('expired already');
    });

    it('times out a slow token request and backs off', async () => {
      server.setDefault(() => new Promise<TokenReply>(() => {}));
      const tokens = create({ requestTimeout: 5_000 });
      tokens.start();
      await server.waitForRequests(1);
      await clock.tickAsync(5_001);
      const backoff = await stateOf(tokens, 'backoff');
      expect(backoff.lastError?.message).to.include('timed out after 5000 ms');
    });

    it('fails waiting callers after tokenWaitTimeout with the last endpoint error as cause', async () => {
      server.setDefault({ status: 503, body: '' });
      const tokens = create({ tokenWaitTimeout: 2_000, backoff: { initialDelay: 10_000, maxDelay: 10_000 } });
      const waiting = tokens.get().catch((error: unknown) => error);
      await stateOf(tokens, 'backoff');
      await clock.tickAsync(2_000);
      const error = await waiting;
      expect(error).to.be.instanceOf(TokenUnavailableError).with.property('code', ErrorCode.TOKEN_UNAVAILABLE);
      expect((error as TokenUnavailableError).cause).to.be.instanceOf(TokenEndpointError);
      expect((error as Error).message).to.include('within 2000 ms');
      expect(JSON.stringify(error)).not.to.include(SECRET);
    });

    it('rejects a waiting caller whose signal aborts', async () => {
      server.setDefault(() => new Promise<TokenReply>(() => {}));
      const tokens = create();
      const controller = new AbortController();
      const waiting = tokens.get(controller.signal).catch((error: unknown) => error);
      controller.abort(new Error('publisher gave up'));
      expect(await waiting).to.have.property('message', 'publisher gave up');
    });
  });

  describe('timers beyond setTimeout\'s limit', () => {
    it('does not refresh a token expiring in the year 3000 (no expires_in) within 100 days', async () => {
      server.setDefault(tokenReply(SEED_ACCESS_TOKEN));
      const tokens = create();
      await tokens.get();
      await clock.tickAsync(100 * DAY);
      expect(server.requests).to.have.length(1);
      expect(tokens.state).to.equal('valid');
      expect(tokens.current()?.value).to.equal(SEED_ACCESS_TOKEN);
    });

    it("refreshes the seed's token (expires_in about 12 days) only shortly before those 12 days", async () => {
      server.setDefault({ status: 200, body: { access_token: SEED_ACCESS_TOKEN, expires_in: 1048576, token_type: 'bearer' } });
      const tokens = create();
      await tokens.get();
      await clock.tickAsync(10 * DAY);
      expect(server.requests).to.have.length(1);
      await clock.tickAsync(2 * DAY);
      await server.waitForRequests(2);
      expect(server.requests).to.have.length(2);
    });
  });

  it('stops: aborts the request in flight, fails waiters and reports stopped', async () => {
    server.setDefault(() => new Promise<TokenReply>(() => {}));
    const tokens = create();
    const waiting = tokens.get().catch((error: unknown) => error);
    await server.waitForRequests(1);
    tokens.stop();
    expect(await waiting).to.be.instanceOf(TokenUnavailableError);
    expect(tokens.state).to.equal('stopped');
    expect(statuses.at(-1)?.state).to.equal('stopped');
    expect(await tokens.get().catch((error: unknown) => error)).to.be.instanceOf(TokenUnavailableError);
  });

  it('works with an injected fetcher (no HTTP) and computes the expiry from expires_in', async () => {
    const tokens = create({}, { fetchToken: async () => ({ accessToken: 'injected', expiresIn: 120 }) });
    const token = await tokens.get();
    expect(token).to.deep.equal({ value: 'injected', obtainedAt: START, expiresAt: START + 120_000 });
    expect(server.requests).to.have.length(0);
  });

  it('wraps non-coded fetcher failures as transient endpoint errors', async () => {
    const tokens = create({}, { fetchToken: async () => { throw new TypeError('boom'); } });
    tokens.start();
    const backoff = await stateOf(tokens, 'backoff');
    expect(backoff.lastError?.code).to.equal(ErrorCode.TOKEN_ENDPOINT);
  });
});
