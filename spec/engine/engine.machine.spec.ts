import { expect } from 'chai';
import { createActor, fromCallback, type Actor } from 'xstate';
import { parseConfigText } from '../../src/config/load.ts';
import type { ConnectionConfig } from '../../src/config/types.ts';
import { childId, connectionSupervisorMachine, type ConnectionChildEvent, type ConnectionChildInput } from '../../src/engine/connection-supervisor.machine.ts';
import { SHARD_COUNT, engineMachine, shardId, shardOf } from '../../src/engine/engine.machine.ts';

/** Connections `c0 … c<n-1>` from YAML through the real loader. */
function connections(n: number, name = 'v1'): ConnectionConfig[] {
  const one = (i: number): string => `
  - id: c${i}
    name: ${name}
    connectionType: http-push
    uri: http://127.0.0.1:9
    targets:
      - address: "POST:/x"
        topics: ["_/_/things/twin/events"]
        authorizationContext: ["integration:ditto"]`;
  return [...parseConfigText(`connections:${Array.from({ length: n }, (_, i) => one(i)).join('')}\n`, { env: {} }).connections];
}

describe('engine actor (routes connections to sharded supervisors)', () => {
  let trace: string[];
  let actor: Actor<typeof engineMachine> | undefined;

  const fakeChild = fromCallback<ConnectionChildEvent, ConnectionChildInput>(({ input, receive }) => {
    const { id, name } = input.definition;
    trace.push(`spawn ${id} ${name ?? ''}`);
    receive((event) => trace.push(`update ${id} ${event.definition.name ?? ''}`));
    return () => trace.push(`stop ${id}`);
  });

  function start(initial: readonly ConnectionConfig[]): Actor<typeof engineMachine> {
    const supervisor = connectionSupervisorMachine.provide({ actors: { connection: fakeChild } });
    const started = createActor(engineMachine.provide({ actors: { supervisor } }), { input: { connections: initial } }).start();
    actor = started;
    return started;
  }

  /** The connection child ids under the supervisor that owns `connectionId`. */
  const childrenOfOwner = (connectionId: string): string[] => {
    const supervisor = actor?.getSnapshot().children[shardId(shardOf(connectionId))];
    return Object.keys((supervisor?.getSnapshot() as { children: Record<string, unknown> }).children);
  };

  beforeEach(() => {
    trace = [];
  });
  afterEach(() => {
    actor?.stop();
    actor = undefined;
  });

  it('maps an id to a stable shard within range, spreading many ids evenly', () => {
    expect(shardOf('http_oauth2')).to.equal(shardOf('http_oauth2'));
    const counts = new Array<number>(SHARD_COUNT).fill(0);
    for (let i = 0; i < 10_000; i += 1) counts[shardOf(`connection-${i}`)] = (counts[shardOf(`connection-${i}`)] ?? 0) + 1;
    expect(Math.min(...counts)).to.be.greaterThan(100);
    expect(Math.max(...counts)).to.be.lessThan(220);
  });

  it('runs SHARD_COUNT supervisors and starts every initial connection under its owner on START', () => {
    const initial = connections(20);
    const engine = start(initial);
    expect(Object.keys(engine.getSnapshot().children)).to.have.length(SHARD_COUNT);
    expect(trace).to.deep.equal([]);
    engine.send({ type: 'START' });
    expect(engine.getSnapshot().value).to.equal('running');
    expect(trace.filter((line) => line.startsWith('spawn'))).to.have.length(20);
    for (const { id } of initial) expect(childrenOfOwner(id)).to.include(childId(id));
  });

  it('routes ADD, UPDATE and REMOVE of a connection to the supervisor that owns it', () => {
    const engine = start([]);
    engine.send({ type: 'START' });
    const [added] = connections(1, 'v1');
    const [changed] = connections(1, 'v2');
    engine.send({ type: 'CONNECTION.ADD', definition: added as ConnectionConfig });
    expect(childrenOfOwner('c0')).to.deep.equal([childId('c0')]);
    engine.send({ type: 'CONNECTION.UPDATE', definition: changed as ConnectionConfig });
    engine.send({ type: 'CONNECTION.REMOVE', id: 'c0' });
    expect(childrenOfOwner('c0')).to.deep.equal([]);
    expect(trace).to.deep.equal(['spawn c0 v1', 'update c0 v2', 'stop c0']);
  });

  it('stops every connection when it reaches stopped (STOP, then STOPPED after the drain)', () => {
    const engine = start(connections(5));
    engine.send({ type: 'START' });
    engine.send({ type: 'STOP' });
    expect(engine.getSnapshot().value).to.equal('stopping');
    expect(trace.filter((line) => line.startsWith('stop'))).to.have.length(0);
    engine.send({ type: 'STOPPED' });
    expect(engine.getSnapshot().status).to.equal('done');
    expect(trace.filter((line) => line.startsWith('stop')).sort()).to.deep.equal(['stop c0', 'stop c1', 'stop c2', 'stop c3', 'stop c4']);
  });
});
