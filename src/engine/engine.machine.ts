/**
 * The engine actor: the root of the actor tree. It runs {@link SHARD_COUNT} connection supervisors
 * and routes every connection, by a hash of its id, to one of them; each supervisor spawns,
 * reconfigures, stops and restarts the actors of its connections.
 *
 * Why shards: XState copies an actor's map of children whenever one is spawned or stopped, so a
 * single actor with 10,000 connection children makes starting, removing and stopping quadratic
 * (stopping 10,000 took ~24 s); 64 supervisors of ~150 children each keep it linear in practice.
 */
import { enqueueActions, setup, type ActorRefFrom } from 'xstate';
import type { ConnectionConfig } from '../config/types.ts';
import { connectionSupervisorMachine, type SupervisorEvent } from './connection-supervisor.machine.ts';

/** Number of connection supervisors under the engine actor. */
export const SHARD_COUNT = 64;

/** The supervisor (0 … SHARD_COUNT-1) responsible for a connection id: FNV-1a, stable across runs. */
export function shardOf(connectionId: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < connectionId.length; i += 1) {
    hash ^= connectionId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % SHARD_COUNT;
}

/** Child id of the `index`-th supervisor. */
export const shardId = (index: number): string => `shard:${index}`;

/** What the engine facade sends; crash reports stay between a supervisor and its children. */
export type EngineMachineEvent = Exclude<SupervisorEvent, { type: 'CONNECTION.CRASHED' }>;

type ConnectionEvent = Extract<EngineMachineEvent, { type: `CONNECTION.${string}` }>;

const connectionIdOf = (event: ConnectionEvent): string => ('definition' in event ? event.definition.id : event.id);

/** The engine actor. States: `idle` → `running` → `stopping` → `stopped`, mirrored by every supervisor. */
export const engineMachine = setup({
  types: {
    context: {} as { readonly supervisors: readonly ActorRefFrom<typeof connectionSupervisorMachine>[] },
    events: {} as EngineMachineEvent,
    input: {} as { readonly connections: readonly ConnectionConfig[] },
  },
  actors: { supervisor: connectionSupervisorMachine },
  actions: {
    /** Lifecycle events concern every supervisor. */
    broadcast: enqueueActions(({ context, event, enqueue }) => {
      for (const supervisor of context.supervisors) enqueue.sendTo(supervisor, event);
    }),
    /** A connection's events go to the one supervisor that owns it. */
    route: enqueueActions(({ context, event, enqueue }) => {
      const supervisor = context.supervisors[shardOf(connectionIdOf(event as ConnectionEvent))];
      if (supervisor) enqueue.sendTo(supervisor, event);
    }),
  },
}).createMachine({
  id: 'engine',
  context: ({ input, spawn }) => {
    const shares: ConnectionConfig[][] = Array.from({ length: SHARD_COUNT }, () => []);
    for (const definition of input.connections) shares[shardOf(definition.id)]?.push(definition);
    return { supervisors: shares.map((connections, index) => spawn('supervisor', { id: shardId(index), input: { connections } })) };
  },
  initial: 'idle',
  on: {
    'CONNECTION.ADD': { actions: 'route' },
    'CONNECTION.UPDATE': { actions: 'route' },
    'CONNECTION.REMOVE': { actions: 'route' },
  },
  states: {
    idle: {
      on: {
        START: { target: 'running', actions: 'broadcast' },
        STOP: { target: 'stopped', actions: 'broadcast' },
      },
    },
    running: {
      on: { STOP: { target: 'stopping', actions: 'broadcast' } },
    },
    stopping: {
      // The facade drains the runtimes, then says STOPPED; supervisors and their children stop with the engine.
      on: { STOPPED: { target: 'stopped', actions: 'broadcast' } },
    },
    stopped: { type: 'final' },
  },
});
