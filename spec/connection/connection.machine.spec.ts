import { expect } from 'chai';
import { SimulatedClock, createActor, fromPromise, type Actor } from 'xstate';
import {
  connectionMachine,
  connectionStateOf,
  describeProblem,
  dittoStatusOf,
  tokenEventOf,
  type ConnectionEvent,
  type ConnectionMachineInput,
  type ReachTargetInput,
  type TokenProblem,
} from '../../src/connection/connection.machine.ts';
import type { ConnectionState } from '../../src/engine/types.ts';
import { ErrorCode } from '../../src/errors.ts';

const rejected: TokenProblem = {
  code: ErrorCode.TOKEN_REJECTED,
  message: 'token endpoint rejected the client',
  error: 'invalid_client',
  errorDescription: 'Client authentication failed',
};
const unreachable: TokenProblem = { code: ErrorCode.TOKEN_ENDPOINT, message: 'connect ECONNREFUSED 127.0.0.1:9' };

describe('connection machine', () => {
  let clock: SimulatedClock;
  let effects: string[];
  let actor: Actor<typeof connectionMachine>;

  function start(input: Partial<ConnectionMachineInput> = {}): Actor<typeof connectionMachine> {
    const machine = connectionMachine.provide({
      actions: {
        pausePublisher: () => effects.push('pause'),
        resumePublisher: () => effects.push('resume'),
        retryToken: () => effects.push('retryToken'),
      },
    });
    actor = createActor(machine, {
      clock,
      input: { connectionId: 'c1', hasCredentials: true, startClosed: false, now: () => clock.now(), ...input },
    }).start();
    return actor;
  }

  const state = (): ConnectionState => connectionStateOf(actor.getSnapshot().value);
  const send = (...events: ConnectionEvent[]): void => events.forEach((event) => actor.send(event));

  beforeEach(() => {
    clock = new SimulatedClock();
    clock.set(1_000);
    effects = [];
  });
  afterEach(() => actor.stop());

  it('starts connecting with the publisher paused until the first token', () => {
    start();
    expect(state()).to.equal('connecting');
    expect(effects).to.deep.equal(['pause']);
    expect(actor.getSnapshot().context).to.include({ statusDetails: 'acquiring access token', inStateSince: 1_000 });
  });

  it('starts closed for connectionStatus closed, and OPEN connects', () => {
    start({ startClosed: true });
    expect(state()).to.equal('closed');
    send({ type: 'OPEN' });
    expect(state()).to.equal('connecting');
    expect(effects).to.deep.equal(['pause', 'retryToken', 'pause']);
  });

  it('goes straight to authenticated without credentials', () => {
    start({ hasCredentials: false });
    expect(state()).to.equal('authenticated');
    expect(actor.getSnapshot().context).to.include({ statusDetails: 'publishing', connectedSince: 1_000 });
    expect(effects).to.deep.equal(['pause', 'resume']);
  });

  it('authenticates on TOKEN.VALID and resumes publishing', () => {
    start();
    clock.increment(250);
    send({ type: 'TOKEN.VALID' });
    expect(state()).to.equal('authenticated');
    expect(actor.getSnapshot().context).to.include({ inStateSince: 1_250, connectedSince: 1_250, statusDetails: 'publishing with a valid access token' });
    expect(effects.at(-1)).to.equal('resume');
  });

  it('moves between authenticated and refreshing and keeps publishing while refreshing', () => {
    start();
    send({ type: 'TOKEN.VALID' }, { type: 'TOKEN.REFRESHING' });
    expect(state()).to.equal('refreshing');
    expect(effects.slice(1), 'after connecting').not.to.include('pause');
    send({ type: 'TOKEN.VALID' });
    expect(state()).to.equal('authenticated');
    expect(effects.filter((e) => e === 'pause')).to.have.length(1);
    expect(actor.getSnapshot().context.connectedSince).to.equal(1_000);
  });

  for (const from of ['connecting', 'authenticated', 'refreshing'] as const) {
    it(`goes from ${from} to backoff when the token endpoint is unreachable, pausing the publisher`, () => {
      start();
      if (from !== 'connecting') send({ type: 'TOKEN.VALID' });
      if (from === 'refreshing') send({ type: 'TOKEN.REFRESHING' });
      effects = [];
      send({ type: 'TOKEN.BACKOFF', problem: unreachable });
      expect(state()).to.equal('backoff');
      expect(effects).to.include('pause');
      expect(actor.getSnapshot().context.statusDetails).to.equal('token endpoint unavailable, retrying: connect ECONNREFUSED 127.0.0.1:9');
      send({ type: 'TOKEN.VALID' });
      expect(state()).to.equal('authenticated');
      expect(effects.at(-1)).to.equal('resume');
    });

    it(`goes from ${from} to failed when the credentials are rejected`, () => {
      start();
      if (from !== 'connecting') send({ type: 'TOKEN.VALID' });
      if (from === 'refreshing') send({ type: 'TOKEN.REFRESHING' });
      send({ type: 'TOKEN.FAILED', problem: rejected });
      expect(state()).to.equal('failed');
      expect(effects.at(-1)).to.equal('pause');
      const { context } = actor.getSnapshot();
      expect(context.statusDetails).to.equal('access token refused: invalid_client: Client authentication failed');
      expect(context.connectedSince).to.equal(undefined);
      expect(dittoStatusOf(state(), context)).to.equal('misconfigured');
    });
  }

  it('goes from backoff to refreshing when a token still serves', () => {
    start();
    send({ type: 'TOKEN.BACKOFF', problem: unreachable }, { type: 'TOKEN.REFRESHING' });
    expect(state()).to.equal('refreshing');
  });

  it('stays in backoff on repeated token failures, and fails on a rejection', () => {
    start();
    send({ type: 'TOKEN.BACKOFF', problem: unreachable }, { type: 'TOKEN.BACKOFF', problem: unreachable });
    expect(state()).to.equal('backoff');
    send({ type: 'TOKEN.FAILED', problem: rejected });
    expect(state()).to.equal('failed');
  });

  describe('circuit', () => {
    it('goes to backoff when the circuit opens without pausing the publisher, and back when it closes', () => {
      start();
      send({ type: 'TOKEN.VALID' });
      effects = [];
      send({ type: 'CIRCUIT.OPEN', reason: 'status 503' });
      expect(state()).to.equal('backoff');
      expect(effects).to.deep.equal([]);
      expect(actor.getSnapshot().context.statusDetails).to.equal('target failing, publishing paused until a probe succeeds: status 503');
      expect(dittoStatusOf(state(), actor.getSnapshot().context)).to.equal('failed');
      send({ type: 'CIRCUIT.CLOSED' });
      expect(state()).to.equal('authenticated');
    });

    it('opens from refreshing too', () => {
      start();
      send({ type: 'TOKEN.VALID' }, { type: 'TOKEN.REFRESHING' }, { type: 'CIRCUIT.OPEN' });
      expect(state()).to.equal('backoff');
    });

    it('stays in backoff while the circuit is open even when a token arrives, but resumes for the probe', () => {
      start();
      send({ type: 'TOKEN.VALID' }, { type: 'CIRCUIT.OPEN' }, { type: 'TOKEN.BACKOFF', problem: unreachable });
      expect(effects.at(-1)).to.equal('pause');
      send({ type: 'TOKEN.VALID' });
      expect(state()).to.equal('backoff');
      expect(effects.at(-1)).to.equal('resume');
      send({ type: 'CIRCUIT.CLOSED' });
      expect(state()).to.equal('authenticated');
    });

    it('stays in backoff when the circuit closes while no token is usable', () => {
      start();
      send({ type: 'TOKEN.VALID' }, { type: 'CIRCUIT.OPEN' }, { type: 'TOKEN.BACKOFF' }, { type: 'CIRCUIT.CLOSED' });
      expect(state()).to.equal('backoff');
      send({ type: 'TOKEN.VALID' });
      expect(state()).to.equal('authenticated');
    });

    it('enters backoff right after authenticating when the circuit opened while connecting', () => {
      start();
      send({ type: 'CIRCUIT.OPEN' }, { type: 'TOKEN.VALID' });
      expect(state()).to.equal('backoff');
    });
  });

  describe('failed', () => {
    it('stays failed without a retry delay until reopened', () => {
      start();
      send({ type: 'TOKEN.FAILED', problem: rejected });
      clock.increment(10 * 3_600_000);
      expect(state()).to.equal('failed');
      send({ type: 'OPEN' });
      expect(state()).to.equal('connecting');
      expect(effects).to.include('retryToken');
    });

    it('retries by itself after the configured delay', () => {
      start({ failedRetryDelay: 60_000 });
      send({ type: 'TOKEN.FAILED', problem: rejected });
      clock.increment(59_999);
      expect(state()).to.equal('failed');
      clock.increment(1);
      expect(state()).to.equal('connecting');
      expect(effects.at(-2)).to.equal('retryToken');
    });

    it('recovers when the token actor obtains a token on its own', () => {
      start();
      send({ type: 'TOKEN.FAILED', problem: rejected }, { type: 'TOKEN.VALID' });
      expect(state()).to.equal('authenticated');
    });

    it('reports failed (not misconfigured) for a permanent error that is not a rejection', () => {
      start();
      send({ type: 'TOKEN.FAILED', problem: { code: ErrorCode.TOKEN_RESPONSE_INVALID, message: 'no access_token' } });
      expect(dittoStatusOf(state(), actor.getSnapshot().context)).to.equal('failed');
      expect(actor.getSnapshot().context.statusDetails).to.equal('access token refused: no access_token');
    });
  });

  describe('commands', () => {
    for (const setup of [[], [{ type: 'TOKEN.VALID' }], [{ type: 'TOKEN.BACKOFF' }], [{ type: 'TOKEN.FAILED', problem: rejected }]] as ConnectionEvent[][]) {
      it(`CLOSE from ${setup[0]?.type ?? 'connecting'} closes and pauses`, () => {
        start();
        send(...setup);
        send({ type: 'CLOSE' });
        expect(state()).to.equal('closed');
        expect(effects.at(-1)).to.equal('pause');
        expect(dittoStatusOf(state(), actor.getSnapshot().context)).to.equal('closed');
      });
    }

    it('RECONFIGURE restarts from the new definition', () => {
      start();
      send({ type: 'TOKEN.FAILED', problem: rejected });
      send({ type: 'RECONFIGURE', hasCredentials: false });
      expect(state()).to.equal('authenticated');
      send({ type: 'RECONFIGURE', hasCredentials: true });
      expect(state()).to.equal('connecting');
      send({ type: 'RECONFIGURE', hasCredentials: true, startClosed: true });
      expect(state()).to.equal('closed');
    });

    it('keeps tracking the token while closed, so OPEN resumes where the token is', () => {
      start({ startClosed: true });
      send({ type: 'TOKEN.VALID' }, { type: 'OPEN' });
      // The token actor does not announce a token it already announced: OPEN goes straight on.
      expect(state()).to.equal('authenticated');
    });

    it('reopens into connecting when the token became unusable while closed', () => {
      start({ startClosed: true });
      send({ type: 'TOKEN.VALID' }, { type: 'TOKEN.BACKOFF', problem: unreachable }, { type: 'OPEN' });
      expect(state()).to.equal('connecting');
      send({ type: 'TOKEN.VALID' });
      expect(state()).to.equal('authenticated');
    });
  });

  describe('dittoStatusOf', () => {
    it('maps connecting, authenticated and refreshing to open', () => {
      for (const s of ['authenticated', 'refreshing'] as const) expect(dittoStatusOf(s, {})).to.equal('open');
      expect(dittoStatusOf('connecting', {})).to.equal('unknown');
    });
  });

  describe('tokenEventOf', () => {
    it('maps token states to machine events', () => {
      expect(tokenEventOf({ state: 'valid', since: 0 }, true)).to.deep.equal({ type: 'TOKEN.VALID' });
      expect(tokenEventOf({ state: 'refreshing', since: 0 }, true)).to.deep.equal({ type: 'TOKEN.REFRESHING' });
      expect(tokenEventOf({ state: 'fetching', since: 0 }, false)).to.equal(undefined);
      expect(tokenEventOf({ state: 'fetching', since: 0 }, true)).to.deep.equal({ type: 'TOKEN.REFRESHING' });
      expect(tokenEventOf({ state: 'backoff', since: 0, lastError: unreachable }, false)).to.deep.equal({ type: 'TOKEN.BACKOFF', problem: unreachable });
      expect(tokenEventOf({ state: 'backoff', since: 0, lastError: unreachable }, true)).to.deep.equal({ type: 'TOKEN.REFRESHING' });
      expect(tokenEventOf({ state: 'failed', since: 0, lastError: rejected }, false)).to.deep.equal({ type: 'TOKEN.FAILED', problem: rejected });
      expect(tokenEventOf({ state: 'stopped', since: 0 }, false)).to.equal(undefined);
    });

    it('describes RFC 6749 errors with their description', () => {
      expect(describeProblem(rejected)).to.equal('invalid_client: Client authentication failed');
      expect(describeProblem({ code: 'x', message: 'm', error: 'invalid_scope' })).to.equal('invalid_scope');
      expect(describeProblem(unreachable)).to.equal(unreachable.message);
    });
  });
});

describe('connection machine with an https target (reachability probe)', () => {
  const TARGET = 'https://hook.example:8443';
  let clock: SimulatedClock;
  let effects: string[];
  let probes: { signal: AbortSignal; resolve: () => void; reject: (error: unknown) => void }[];
  let actor: Actor<typeof connectionMachine>;

  /** The probe as an actor that the spec settles by hand; every start is recorded. */
  const fakeProbe = fromPromise<void, ReachTargetInput>(({ signal }) =>
    new Promise<void>((resolve, reject) => {
      probes.push({ signal, resolve, reject });
    }));

  function start(input: Partial<ConnectionMachineInput> = {}): Actor<typeof connectionMachine> {
    const machine = connectionMachine.provide({
      actions: {
        pausePublisher: () => effects.push('pause'),
        resumePublisher: () => effects.push('resume'),
        retryToken: () => effects.push('retryToken'),
      },
      actors: { reachTarget: fakeProbe },
    });
    actor = createActor(machine, {
      clock,
      input: { connectionId: 'c1', hasCredentials: true, startClosed: false, now: () => clock.now(), probeTarget: TARGET, random: () => 0.999, ...input },
    }).start();
    return actor;
  }

  const state = (): ConnectionState => connectionStateOf(actor.getSnapshot().value);
  const details = (): string => actor.getSnapshot().context.statusDetails;
  const send = (...events: ConnectionEvent[]): void => events.forEach((event) => actor.send(event));
  /** Lets the probe promise's settlement reach the machine. */
  const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
  const refused = Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:8443'), { code: 'ECONNREFUSED' });

  function probe(n: number): (typeof probes)[number] {
    const found = probes[n];
    if (!found) throw new Error(`probe ${n} was not started (${probes.length} started)`);
    return found;
  }

  beforeEach(() => {
    clock = new SimulatedClock();
    clock.set(1_000);
    effects = [];
    probes = [];
  });
  afterEach(() => actor.stop());

  it('says in connecting that it checks the target, and probes it once', async () => {
    start();
    await settle();
    expect(state()).to.equal('connecting');
    expect(details()).to.equal(`acquiring access token and checking that ${TARGET} is reachable`);
    expect(probes).to.have.length(1);
    start({ hasCredentials: false });
    expect(actor.getSnapshot().context.statusDetails).to.equal(`checking that ${TARGET} is reachable`);
  });

  it('authenticates only once the token is valid and the probe succeeded, in either order', async () => {
    start();
    send({ type: 'TOKEN.VALID' });
    expect(state(), 'token valid, probe pending').to.equal('connecting');
    expect(effects).not.to.include('resume');
    probe(0).resolve();
    await settle();
    expect(state()).to.equal('authenticated');
    expect(effects.at(-1)).to.equal('resume');

    start();
    probe(1).resolve();
    await settle();
    expect(state(), 'probe ok, token pending').to.equal('connecting');
    send({ type: 'TOKEN.VALID' });
    expect(state()).to.equal('authenticated');
  });

  it('authenticates without credentials once the probe succeeded', async () => {
    start({ hasCredentials: false });
    expect(state()).to.equal('connecting');
    probe(0).resolve();
    await settle();
    expect(state()).to.equal('authenticated');
    expect(details()).to.equal('publishing');
  });

  it('goes to backoff naming the target and the reason when the probe fails, keeps the publisher paused, and retries after a growing delay', async () => {
    start({ probeBackoff: { initialDelay: 1000, maxDelay: 60_000 } });
    send({ type: 'TOKEN.VALID' });
    probe(0).reject(refused);
    await settle();
    expect(state()).to.equal('backoff');
    expect(details()).to.equal(`target ${TARGET} unreachable, retrying: ECONNREFUSED`);
    expect(dittoStatusOf(state(), actor.getSnapshot().context)).to.equal('failed');
    expect(effects).not.to.include('resume');

    // First retry: random 0.999 of 1000 ms.
    clock.increment(998);
    expect(state()).to.equal('backoff');
    clock.increment(1);
    expect(state()).to.equal('connecting');
    expect(probes).to.have.length(2);
    probe(1).reject(Object.assign(new Error('certificate'), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }));
    await settle();
    expect(details()).to.equal(`target ${TARGET} unreachable, retrying: UNABLE_TO_VERIFY_LEAF_SIGNATURE`);

    // Second consecutive failure: the ceiling doubles.
    clock.increment(1997);
    expect(state()).to.equal('backoff');
    clock.increment(1);
    expect(state()).to.equal('connecting');
    probe(2).resolve();
    await settle();
    expect(state()).to.equal('authenticated');
    expect(effects.at(-1)).to.equal('resume');
    expect(actor.getSnapshot().context).to.include({ probeFailures: 0, targetProblem: undefined });
  });

  it('waits at least half the initial delay even when the jitter draws zero', async () => {
    start({ random: () => 0, probeBackoff: { initialDelay: 1000, maxDelay: 60_000 } });
    probe(0).reject(refused);
    await settle();
    clock.increment(499);
    expect(state()).to.equal('backoff');
    clock.increment(1);
    expect(state()).to.equal('connecting');
  });

  it('stays in backoff for a failed probe when a token arrives, until the retry succeeds', async () => {
    start();
    probe(0).reject(Object.assign(new Error('timeout'), { code: 'timeout' }));
    await settle();
    send({ type: 'TOKEN.VALID' });
    expect(state()).to.equal('backoff');
    expect(details()).to.equal(`target ${TARGET} unreachable, retrying: timeout`);
    clock.increment(1_000);
    probe(1).resolve();
    await settle();
    expect(state()).to.equal('authenticated');
  });

  it('behaves as before when the probe succeeds but the token endpoint fails', async () => {
    start();
    probe(0).resolve();
    await settle();
    send({ type: 'TOKEN.BACKOFF', problem: unreachable });
    expect(state()).to.equal('backoff');
    expect(details()).to.equal('token endpoint unavailable, retrying: connect ECONNREFUSED 127.0.0.1:9');
    // The probe's retry delay does not apply to a token failure.
    clock.increment(3_600_000);
    expect(state()).to.equal('backoff');
    send({ type: 'TOKEN.VALID' });
    expect(state()).to.equal('authenticated');
    send({ type: 'TOKEN.FAILED', problem: rejected });
    expect(state()).to.equal('failed');
    expect(dittoStatusOf(state(), actor.getSnapshot().context)).to.equal('misconfigured');
  });

  it('probes again when a token failure cut the probe short', async () => {
    start();
    send({ type: 'TOKEN.BACKOFF', problem: unreachable });
    expect(probe(0).signal.aborted).to.equal(true);
    send({ type: 'TOKEN.VALID' });
    expect(state()).to.equal('connecting');
    probe(1).resolve();
    await settle();
    expect(state()).to.equal('authenticated');
  });

  it('cancels the probe when closed during connecting, and probes again when reopened', async () => {
    start();
    send({ type: 'TOKEN.VALID' });
    send({ type: 'CLOSE' });
    expect(state()).to.equal('closed');
    expect(probe(0).signal.aborted).to.equal(true);
    // A late settlement of the cancelled probe changes nothing.
    probe(0).resolve();
    await settle();
    expect(state()).to.equal('closed');
    send({ type: 'OPEN' });
    expect(state()).to.equal('connecting');
    probe(1).resolve();
    await settle();
    expect(state()).to.equal('authenticated');
  });

  it('probes before recovering from failed through a token the token actor got on its own', async () => {
    start();
    send({ type: 'TOKEN.FAILED', problem: rejected }, { type: 'TOKEN.VALID' });
    expect(state()).to.equal('connecting');
    probe(1).resolve();
    await settle();
    expect(state()).to.equal('authenticated');
  });

  it('calls the effects\' reachTarget with an abort signal when no actor is provided', async () => {
    const signals: AbortSignal[] = [];
    actor = createActor(connectionMachine, {
      clock,
      input: {
        connectionId: 'c1', hasCredentials: false, startClosed: false, now: () => clock.now(), probeTarget: TARGET,
        effects: { pausePublisher: () => {}, resumePublisher: () => {}, retryToken: () => {}, reachTarget: (signal) => (signals.push(signal), Promise.resolve()) },
      },
    }).start();
    await settle();
    expect(signals).to.have.length(1);
    expect(state()).to.equal('authenticated');
  });

  it('does not probe a plain http target', async () => {
    start({ probeTarget: undefined });
    await settle();
    send({ type: 'TOKEN.VALID' });
    expect(state()).to.equal('authenticated');
    expect(probes).to.have.length(0);
  });

  it('RECONFIGURE to an https target probes it', async () => {
    start({ probeTarget: undefined, hasCredentials: false });
    expect(state()).to.equal('authenticated');
    send({ type: 'RECONFIGURE', hasCredentials: false, probeTarget: TARGET });
    expect(state()).to.equal('connecting');
    probe(0).resolve();
    await settle();
    expect(state()).to.equal('authenticated');
  });
});
