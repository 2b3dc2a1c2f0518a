import { expect } from 'chai';
import { createActor, fromCallback, type Actor } from 'xstate';
import { parseConfigText } from '../../src/config/load.ts';
import type { ConnectionConfig } from '../../src/config/types.ts';
import { MAX_RESTARTS, childId, connectionSupervisorMachine, type ConnectionChildEvent, type ConnectionChildInput } from '../../src/engine/connection-supervisor.machine.ts';

/** Two connections from YAML through the real loader; `name` lets a spec tell definitions apart. */
function definitions(names: { a?: string; b?: string } = {}): ConnectionConfig[] {
  const connection = (id: string, name: string): string => `
  - id: ${id}
    name: ${name}
    connectionType: http-push
    uri: http://127.0.0.1:9
    targets:
      - address: "POST:/${id}"
        topics: ["_/_/things/twin/events"]
        authorizationContext: ["integration:ditto"]`;
  const text = `connections:${connection('a', names.a ?? 'a-v1')}${connection('b', names.b ?? 'b-v1')}\n`;
  return [...parseConfigText(text, { env: {} }).connections];
}

/** What the fake child logic saw: spawns (with the definition name), updates, and stops. */
type Trace = string[];

describe('connection supervisor machine', () => {
  let trace: Trace;
  let actor: Actor<typeof connectionSupervisorMachine>;

  /** A child that records its lifecycle instead of building a connection runtime. */
  const fakeChild = fromCallback<ConnectionChildEvent, ConnectionChildInput>(({ input, receive }) => {
    const { id, name } = input.definition;
    trace.push(`spawn ${id} ${name ?? ''}`);
    receive((event) => trace.push(`update ${id} ${event.definition.name ?? ''}`));
    return () => trace.push(`stop ${id}`);
  });

  function start(connections: readonly ConnectionConfig[] = definitions()): Actor<typeof connectionSupervisorMachine> {
    actor = createActor(connectionSupervisorMachine.provide({ actors: { connection: fakeChild } }), { input: { connections } }).start();
    return actor;
  }

  const state = (): unknown => actor.getSnapshot().value;
  const children = (): string[] => Object.keys(actor.getSnapshot().children).sort();

  beforeEach(() => {
    trace = [];
  });
  afterEach(() => actor.stop());

  it('starts idle with the configured definitions and no children', () => {
    start();
    expect(state()).to.equal('idle');
    expect(children()).to.deep.equal([]);
    expect(Object.keys(actor.getSnapshot().context.definitions)).to.deep.equal(['a', 'b']);
    expect(trace).to.deep.equal([]);
  });

  it('spawns one child per connection on START', () => {
    start();
    actor.send({ type: 'START' });
    expect(state()).to.equal('running');
    expect(children()).to.deep.equal([childId('a'), childId('b')]);
    expect(trace).to.deep.equal(['spawn a a-v1', 'spawn b b-v1']);
  });

  it('namespaces child ids so they cannot collide with other children', () => {
    expect(childId('a')).to.equal('connection:a');
  });

  it('remembers connections added, updated and removed before START and spawns only the survivors', () => {
    const [a, b] = definitions();
    start([a as ConnectionConfig]);
    actor.send({ type: 'CONNECTION.ADD', definition: b as ConnectionConfig });
    actor.send({ type: 'CONNECTION.UPDATE', definition: definitions({ b: 'b-v2' })[1] as ConnectionConfig });
    actor.send({ type: 'CONNECTION.REMOVE', id: 'a' });
    expect(children()).to.deep.equal([]);
    actor.send({ type: 'START' });
    expect(children()).to.deep.equal([childId('b')]);
    expect(trace).to.deep.equal(['spawn b b-v2']);
  });

  it('spawns a child when a connection is added while running', () => {
    const [a, b] = definitions();
    start([a as ConnectionConfig]);
    actor.send({ type: 'START' });
    actor.send({ type: 'CONNECTION.ADD', definition: b as ConnectionConfig });
    expect(children()).to.deep.equal([childId('a'), childId('b')]);
    expect(actor.getSnapshot().context.definitions.b?.name).to.equal('b-v1');
    expect(trace).to.deep.equal(['spawn a a-v1', 'spawn b b-v1']);
  });

  it('forwards UPDATE to the running child without respawning it, and remembers the new definition', () => {
    start();
    actor.send({ type: 'START' });
    const childBefore = actor.getSnapshot().children[childId('a')];
    actor.send({ type: 'CONNECTION.UPDATE', definition: definitions({ a: 'a-v2' })[0] as ConnectionConfig });
    expect(actor.getSnapshot().children[childId('a')]).to.equal(childBefore);
    expect(actor.getSnapshot().context.definitions.a?.name).to.equal('a-v2');
    expect(trace).to.deep.equal(['spawn a a-v1', 'spawn b b-v1', 'update a a-v2']);
  });

  it('stops the child of a removed connection and forgets its definition, leaving the others running', () => {
    start();
    actor.send({ type: 'START' });
    actor.send({ type: 'CONNECTION.REMOVE', id: 'a' });
    expect(children()).to.deep.equal([childId('b')]);
    expect(actor.getSnapshot().context.definitions).to.not.have.property('a');
    expect(trace).to.deep.equal(['spawn a a-v1', 'spawn b b-v1', 'stop a']);
  });

  it('respawns a crashed child from its last definition and counts the restart', () => {
    start();
    actor.send({ type: 'START' });
    actor.send({ type: 'CONNECTION.UPDATE', definition: definitions({ a: 'a-v2' })[0] as ConnectionConfig });
    actor.send({ type: 'CONNECTION.CRASHED', id: 'a', error: new Error('boom') });
    expect(children()).to.deep.equal([childId('a'), childId('b')]);
    expect(trace).to.deep.equal(['spawn a a-v1', 'spawn b b-v1', 'update a a-v2', 'stop a', 'spawn a a-v2']);
    expect(actor.getSnapshot().context.restarts).to.deep.equal({ a: 1 });
    actor.send({ type: 'CONNECTION.CRASHED', id: 'a', error: new Error('again') });
    expect(actor.getSnapshot().context.restarts).to.deep.equal({ a: 2 });
  });

  it('respawns a child that reports its own crash through sendBack', () => {
    let crashes = 1;
    const crashingOnce = fromCallback<ConnectionChildEvent, ConnectionChildInput>(({ input, sendBack }) => {
      trace.push(`spawn ${input.definition.id}`);
      if (crashes > 0) {
        crashes -= 1;
        sendBack({ type: 'CONNECTION.CRASHED', id: input.definition.id, error: new Error('could not build') });
      }
      return () => trace.push(`stop ${input.definition.id}`);
    });
    actor = createActor(connectionSupervisorMachine.provide({ actors: { connection: crashingOnce } }), { input: { connections: [definitions()[0] as ConnectionConfig] } }).start();
    actor.send({ type: 'START' });
    expect(trace).to.deep.equal(['spawn a', 'stop a', 'spawn a']);
    expect(children()).to.deep.equal([childId('a')]);
    expect(actor.getSnapshot().context.restarts).to.deep.equal({ a: 1 });
  });

  it('gives a connection up after MAX_RESTARTS crashes instead of rebuilding it in a loop', () => {
    const alwaysCrashing = fromCallback<ConnectionChildEvent, ConnectionChildInput>(({ input, sendBack }) => {
      trace.push(`spawn ${input.definition.id}`);
      sendBack({ type: 'CONNECTION.CRASHED', id: input.definition.id, error: new Error('could not build') });
      return () => trace.push(`stop ${input.definition.id}`);
    });
    actor = createActor(connectionSupervisorMachine.provide({ actors: { connection: alwaysCrashing } }), { input: { connections: [definitions()[0] as ConnectionConfig] } }).start();
    actor.send({ type: 'START' });
    expect(trace.filter((line) => line === 'spawn a')).to.have.length(MAX_RESTARTS + 1);
    expect(children()).to.deep.equal([]);
    expect(actor.getSnapshot().context.restarts).to.deep.equal({});
  });

  it('ignores a crash report of a connection that was removed', () => {
    start();
    actor.send({ type: 'START' });
    actor.send({ type: 'CONNECTION.REMOVE', id: 'a' });
    actor.send({ type: 'CONNECTION.CRASHED', id: 'a', error: new Error('late') });
    expect(children()).to.deep.equal([childId('b')]);
    expect(actor.getSnapshot().context.restarts).to.deep.equal({});
    expect(trace).to.deep.equal(['spawn a a-v1', 'spawn b b-v1', 'stop a']);
  });

  it('goes running → stopping on STOP, keeps children while the facade drains, and stops them on STOPPED', () => {
    start();
    actor.send({ type: 'START' });
    actor.send({ type: 'STOP' });
    expect(state()).to.equal('stopping');
    expect(children()).to.deep.equal([childId('a'), childId('b')]);
    // Commands arriving while stopping spawn nothing.
    actor.send({ type: 'CONNECTION.ADD', definition: definitions({ a: 'late' })[0] as ConnectionConfig });
    actor.send({ type: 'STOPPED' });
    expect(state()).to.equal('stopped');
    expect(actor.getSnapshot().status).to.equal('done');
    expect(trace).to.deep.equal(['spawn a a-v1', 'spawn b b-v1', 'stop a', 'stop b']);
  });

  it('goes straight from idle to stopped on STOP, never spawning', () => {
    start();
    actor.send({ type: 'STOP' });
    expect(state()).to.equal('stopped');
    expect(actor.getSnapshot().status).to.equal('done');
    expect(trace).to.deep.equal([]);
  });
});
