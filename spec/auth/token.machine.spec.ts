/**
 * The machine on its own, driven by XState's SimulatedClock (delayed events) and a clock that
 * reads it (guards), with a scripted fetcher instead of HTTP.
 */
import { expect } from 'chai';
import { SimulatedClock, createActor, fromPromise, type Actor } from 'xstate';
import { tokenMachine } from '../../src/auth/token.machine.ts';
import type { AccessToken } from '../../src/auth/token-source.ts';
import { TokenEndpointError, TokenRejectedError } from '../../src/errors.ts';
import { defaultOAuth2Settings } from './fixtures.ts';

type Step = (signal: AbortSignal) => Promise<AccessToken>;

describe('token machine', () => {
  let simulated: SimulatedClock;
  let steps: Step[];
  let signals: AbortSignal[];

  const flush = () => new Promise<void>((resolve) => setImmediate(resolve));
  const tokenFor = (value: string, lifetime = 3_600_000): AccessToken => ({ value, obtainedAt: simulated.now(), expiresAt: simulated.now() + lifetime });

  function start(): Actor<typeof tokenMachine> {
    simulated = new SimulatedClock();
    simulated.set(1_000_000);
    signals = [];
    const machine = tokenMachine.provide({
      actors: {
        fetchToken: fromPromise<AccessToken>(({ signal }) => {
          signals.push(signal);
          const step = steps.shift();
          return step ? step(signal) : Promise.reject(new Error('no scripted answer'));
        }),
      },
    });
    const actor = createActor(machine, {
      clock: simulated,
      input: { settings: defaultOAuth2Settings, clock: { now: () => simulated.now() }, random: () => 0 },
    });
    actor.start();
    return actor;
  }

  beforeEach(() => {
    steps = [];
  });

  it('stays idle until START', async () => {
    const actor = start();
    await flush();
    expect(actor.getSnapshot().value).to.equal('idle');
    expect(signals).to.have.length(0);
  });

  it('goes idle → fetching → valid → refreshing → valid', async () => {
    steps.push(async () => tokenFor('a'), async () => tokenFor('b'));
    const actor = start();
    actor.send({ type: 'START' });
    expect(actor.getSnapshot().value).to.equal('fetching');
    await flush();
    expect(actor.getSnapshot().value).to.equal('valid');
    simulated.increment(54 * 60_000);
    expect(actor.getSnapshot().value).to.equal('refreshing');
    expect(actor.getSnapshot().context.token?.value).to.equal('a');
    await flush();
    expect(actor.getSnapshot().value).to.equal('valid');
    expect(actor.getSnapshot().context.token?.value).to.equal('b');
  });

  it('fetches with trigger expired, not refreshing, when woken past the serving deadline', async () => {
    steps.push(async () => tokenFor('a'), () => new Promise(() => {}));
    const actor = start();
    const triggers: string[] = [];
    actor.on('refresh', (event) => triggers.push(event.trigger));
    actor.send({ type: 'START' });
    await flush();
    // A suspended process: the clock jumps past the deadline (59 min) before the 54-min timer runs.
    simulated.increment(61 * 60_000);
    expect(actor.getSnapshot().value).to.equal('fetching');
    expect(actor.getSnapshot().context.token).to.equal(undefined);
    expect(triggers).to.deep.equal(['initial', 'expired']);
  });

  it('ignores UNAUTHORIZED for a token that is not the current one', async () => {
    steps.push(async () => tokenFor('a'));
    const actor = start();
    actor.send({ type: 'START' });
    await flush();
    actor.send({ type: 'UNAUTHORIZED', value: 'older' });
    expect(actor.getSnapshot().value).to.equal('valid');
    actor.send({ type: 'UNAUTHORIZED', value: 'a' });
    expect(actor.getSnapshot().value).to.equal('fetching');
    expect(actor.getSnapshot().context.token).to.equal(undefined);
  });

  it('goes from backoff straight to refreshing on RETRY while the old token is still served', async () => {
    steps.push(async () => tokenFor('a'), async () => { throw new TokenEndpointError('down', { statusCode: 503 }); }, async () => tokenFor('b'));
    const actor = start();
    actor.send({ type: 'START' });
    await flush();
    simulated.increment(54 * 60_000);
    await flush();
    expect(actor.getSnapshot().value).to.equal('backoff');
    expect(actor.getSnapshot().context.attempt).to.equal(1);
    actor.send({ type: 'RETRY' });
    expect(actor.getSnapshot().value).to.equal('refreshing');
    await flush();
    expect(actor.getSnapshot().context).to.include({ attempt: 0, lastError: undefined });
  });

  it('drops the token and fails on a rejection during refresh', async () => {
    steps.push(async () => tokenFor('a'), async () => { throw new TokenRejectedError('revoked', { error: 'invalid_client' }, 401); });
    const actor = start();
    actor.send({ type: 'START' });
    await flush();
    simulated.increment(54 * 60_000);
    await flush();
    expect(actor.getSnapshot().value).to.equal('failed');
    expect(actor.getSnapshot().context.token).to.equal(undefined);
    expect(actor.getSnapshot().context.lastError).to.be.instanceOf(TokenRejectedError);
  });

  it('aborts the request in flight when the actor stops', async () => {
    steps.push((signal) => new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('aborted')))));
    const actor = start();
    actor.send({ type: 'START' });
    await flush();
    actor.stop();
    expect(signals[0]?.aborted).to.equal(true);
  });
});
