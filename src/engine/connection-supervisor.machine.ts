/**
 * A connection supervisor: spawns one child actor per connection of its shard, forwards
 * reconfigurations to it, stops it on removal, and restarts it if it crashes. It does no I/O: the
 * child logic (which builds a connection's runtime) is provided by `createEngine`. The engine
 * actor (`engine.machine.ts`) runs several of these and routes each connection to one of them.
 */
import { assign, fromCallback, sendTo, setup, spawnChild, stopChild } from 'xstate';
import type { ConnectionConfig } from '../config/types.ts';

/** Events a connection child accepts. */
export type ConnectionChildEvent = { type: 'UPDATE'; definition: ConnectionConfig };

/** Input of a connection child. */
export interface ConnectionChildInput {
  readonly definition: ConnectionConfig;
}

/** Events the supervisor accepts (from the engine facade and from its children). */
export type SupervisorEvent =
  | { type: 'START' }
  | { type: 'CONNECTION.ADD'; definition: ConnectionConfig }
  | { type: 'CONNECTION.UPDATE'; definition: ConnectionConfig }
  | { type: 'CONNECTION.REMOVE'; id: string }
  | { type: 'CONNECTION.CRASHED'; id: string; error: unknown }
  | { type: 'STOP' }
  | { type: 'STOPPED' };

export interface SupervisorContext {
  /** Definitions of the supervised connections, by id: what a restart respawns from. */
  readonly definitions: Readonly<Record<string, ConnectionConfig>>;
  /** Restarts per connection id, for the supervision report. */
  readonly restarts: Readonly<Record<string, number>>;
}

/** Placeholder child logic; `createEngine` provides the real one with `.provide({ actors })`. */
const connectionChild = fromCallback<ConnectionChildEvent, ConnectionChildInput>(() => undefined);

/** Crashes of one connection the supervisor rebuilds before giving it up. */
export const MAX_RESTARTS = 3;

/** Child actor ids are namespaced so they never collide with other children. */
export const childId = (connectionId: string): string => `connection:${connectionId}`;

/** The supervisor machine. States: `idle` → `running` → `stopping` → `stopped`. */
export const connectionSupervisorMachine = setup({
  types: {
    context: {} as SupervisorContext,
    events: {} as SupervisorEvent,
    input: {} as { readonly connections: readonly ConnectionConfig[] },
  },
  actors: { connection: connectionChild },
  actions: {
    spawnConnection: spawnChild('connection', {
      id: ({ event }) => childId((event as { definition: ConnectionConfig }).definition.id),
      input: ({ event }) => ({ definition: (event as { definition: ConnectionConfig }).definition }),
    }),
    rememberDefinition: assign({
      definitions: ({ context, event }) => {
        const { definition } = event as { definition: ConnectionConfig };
        // START re-adds every initial definition: copying the record each time would make start
        // quadratic in the number of connections.
        if (context.definitions[definition.id] === definition) return context.definitions;
        return { ...context.definitions, [definition.id]: definition };
      },
    }),
  },
}).createMachine({
  id: 'supervisor',
  initial: 'idle',
  context: ({ input }) => ({
    definitions: Object.fromEntries(input.connections.map((definition) => [definition.id, definition])),
    restarts: {},
  }),
  states: {
    idle: {
      on: {
        START: {
          target: 'running',
          // One assign spawns every initial child: XState merges the new children into the
          // snapshot once per assign, where one spawn action per connection would copy the
          // children map each time (quadratic in the number of connections).
          actions: assign(({ context, spawn }) => {
            for (const definition of Object.values(context.definitions)) {
              spawn('connection', { id: childId(definition.id), input: { definition } });
            }
            return {};
          }),
        },
        'CONNECTION.ADD': { actions: 'rememberDefinition' },
        'CONNECTION.UPDATE': { actions: 'rememberDefinition' },
        'CONNECTION.REMOVE': {
          actions: assign({ definitions: ({ context, event }) => omit(context.definitions, event.id) }),
        },
        STOP: 'stopped',
      },
    },
    running: {
      on: {
        'CONNECTION.ADD': { actions: ['rememberDefinition', 'spawnConnection'] },
        'CONNECTION.UPDATE': {
          actions: [
            'rememberDefinition',
            sendTo(
              ({ event }) => childId(event.definition.id),
              ({ event }) => ({ type: 'UPDATE', definition: event.definition }),
            ),
          ],
        },
        'CONNECTION.REMOVE': {
          actions: [
            stopChild(({ event }) => childId(event.id)),
            assign({ definitions: ({ context, event }) => omit(context.definitions, event.id) }),
          ],
        },
        'CONNECTION.CRASHED': [
          {
            guard: ({ context, event }) => event.id in context.definitions && (context.restarts[event.id] ?? 0) < MAX_RESTARTS,
            // Supervision: a crashed connection is rebuilt from its last definition.
            actions: [
              stopChild(({ event }) => childId(event.id)),
              assign({ restarts: ({ context, event }) => ({ ...context.restarts, [event.id]: (context.restarts[event.id] ?? 0) + 1 }) }),
              spawnChild('connection', {
                id: ({ event }) => childId((event as { id: string }).id),
                input: ({ context, event }) => ({ definition: context.definitions[(event as { id: string }).id] as ConnectionConfig }),
              }),
            ],
          },
          {
            // A connection that keeps crashing is given up rather than rebuilt in a tight loop;
            // reconfiguring it (CONNECTION.UPDATE / REMOVE + ADD) starts it afresh.
            actions: [
              stopChild(({ event }) => childId(event.id)),
              assign({ restarts: ({ context, event }) => omit(context.restarts, event.id) }),
            ],
          },
        ],
        STOP: 'stopping',
      },
    },
    stopping: {
      // The facade drains the runtimes, then says STOPPED; children stop with the machine.
      on: { STOPPED: 'stopped' },
    },
    stopped: { type: 'final' },
  },
});

function omit<T>(record: Readonly<Record<string, T>>, key: string): Record<string, T> {
  const { [key]: _removed, ...rest } = record;
  return rest;
}
