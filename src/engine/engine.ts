/**
 * `createEngine`: the embeddable twinlink engine. A supervisor actor (engine.machine.ts) spawns one
 * child per connection; each child owns a {@link ConnectionRuntime}. Dispatch goes through the
 * routing index straight to the matching runtimes, so its cost grows with matching targets only.
 */
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { Subject, type Observable, type Subscription } from 'rxjs';
import { createActor, fromCallback } from 'xstate';
import type { ConnectionConfig, EngineSettings } from '../config/types.ts';
import { defaultEngineSettings } from '../config/schema.ts';
import { createGotTransport } from '../connection/got-transport.ts';
import { ConnectionError, ErrorCode, TwinlinkError } from '../errors.ts';
import { createMetrics } from '../metrics/metrics.ts';
import type { Signal } from '../protocol/signal.ts';
import { systemClock } from '../shared/clock.ts';
import { createHostPolicy } from '../shared/host-policy.ts';
import type { ConnectionMetricsDocument } from './connection-metrics.ts';
import type { ConnectionLogsDocument } from './connection-logs.ts';
import { ConnectionRuntime, assertHostsAllowed, type ConnectionRecords, type ConnectionRuntimeDeps } from './connection-runtime.ts';
import { connectionSupervisorMachine, type ConnectionChildEvent, type ConnectionChildInput } from './connection-supervisor.machine.ts';
import { engineMachine } from './engine.machine.ts';
import { RoutingIndex } from './routing-index.ts';
import { TokenRegistry } from './token-registry.ts';
import type { Acknowledgement, ConnectionStatusDocument, DrainReport, Engine, EngineOptions } from './types.ts';

/** Default time `stop()` and reconfiguration give queued events to be delivered, ms. */
export const DEFAULT_DRAIN_TIMEOUT = 10_000;

/** The engine plus the Ditto monitoring documents the gateway serves. */
export interface TwinlinkEngine extends Engine {
  /** Ditto's connection metrics document (per target address, last minute/hour/day). */
  metrics(id: string): ConnectionMetricsDocument;
  /** Ditto's connection logs document (bounded ring of recent entries). */
  logs(id: string): ConnectionLogsDocument;
  /** `connectivity.commands:resetConnectionMetrics`. */
  resetMetrics(id: string): void;
  /** The engine's settings (`engine` section of the config). */
  readonly settings: EngineSettings;
}

/**
 * Creates an engine. Nothing runs until `start()`.
 *
 * @example
 * const engine = createEngine({ config: await loadConfig('config/twinlink.yaml') });
 * await engine.start();
 * engine.dispatch({ type: 'thing.event', channel: 'twin', thingId: 'org.acme:lamp', action: 'created',
 *   path: '/', value: { thingId: 'org.acme:lamp', policyId: 'org.acme:lamp' }, revision: 1,
 *   headers: {}, readGrantedSubjects: ['integration:ditto'], readRevokedSubjects: [] });
 * const { delivered, undelivered } = await engine.stop({ drainTimeout: 5000 });
 */
export function createEngine(options: EngineOptions = {}): TwinlinkEngine {
  const settings = options.config?.engine ?? options.settings ?? defaultEngineSettings();
  const initial = options.config?.connections ?? options.connections ?? [];
  const logger = options.logger ?? pino({ level: 'silent' });
  const registry = options.registry ?? new Registry();
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  const metrics = createMetrics(registry);
  // Host filtering (off unless engine.allowedHosts/blockedHosts/blockedSubnets is set).
  const hostPolicy = createHostPolicy(settings);
  const tokens = new TokenRegistry(settings.oauth2, { clock, random, logger, hostPolicy });
  const routing = new RoutingIndex();
  const runtimes = new Map<string, ConnectionRuntime>();
  /** Runtimes compiled by the facade and waiting for their child actor to adopt them. */
  const prepared = new Map<string, ConnectionRuntime>();
  const statusChanges = new Subject<ConnectionStatusDocument>();
  const acknowledgements = new Subject<Acknowledgement>();
  let phase: 'created' | 'running' | 'stopping' | 'stopped' = 'created';
  /** Replaced runtimes still finishing their in-flight requests. */
  const retiring = new Map<ConnectionRuntime, Promise<void>>();

  const deps: ConnectionRuntimeDeps = {
    settings,
    tokens,
    transport: options.transport ?? createGotTransport,
    metrics,
    clock,
    random,
    logger,
    ...(options.extraFields ? { extraFields: options.extraFields } : {}),
    ...(options.mappers ? { mappers: options.mappers } : {}),
    onAcknowledgement: (ack) => acknowledgements.next(ack),
    onStatus: (status) => statusChanges.next(status),
    hostPolicy,
  };

  /** `records` carries Ditto's metrics and logs over to the successor of a reconfigured connection. */
  const build = (definition: ConnectionConfig, records?: ConnectionRecords): ConnectionRuntime => new ConnectionRuntime(definition, deps, records);

  const adopt = (runtime: ConnectionRuntime): void => {
    routing.remove(runtime.id);
    runtimes.set(runtime.id, runtime);
    runtime.definition.targets.forEach((target, index) => routing.add(runtime.id, index, target));
  };

  // The child actor of one connection: adopts (or builds) its runtime, swaps it on UPDATE, and
  // takes it out of routing when the supervisor stops it.
  const connectionChild = fromCallback<ConnectionChildEvent, ConnectionChildInput>(({ input, receive, sendBack }) => {
    const { id } = input.definition;
    let runtime: ConnectionRuntime;
    try {
      runtime = prepared.get(id) ?? build(input.definition);
    } catch (error) {
      logger.error({ err: error, connectionId: id }, 'connection could not be started');
      sendBack({ type: 'CONNECTION.CRASHED', id, error });
      return () => undefined;
    }
    prepared.delete(id);
    adopt(runtime);
    receive((event) => {
      const successor = prepared.get(event.definition.id);
      if (!successor) return;
      prepared.delete(event.definition.id);
      const predecessor = runtime;
      runtime = successor;
      adopt(successor);
      // Queued events move to the new definition; only requests already in flight finish on the
      // old one. keepMetrics: the successor counts into the same Prometheus series.
      predecessor.handOverTo(successor);
      retire(predecessor);
    });
    return () => {
      if (runtimes.get(id) === runtime) {
        routing.remove(id);
        runtimes.delete(id);
      }
      runtime.dispose();
    };
  });

  const supervisor = createActor(engineMachine.provide({ actors: { supervisor: connectionSupervisorMachine.provide({ actors: { connection: connectionChild } }) } }), {
    input: { connections: initial },
  });

  /** Lets a replaced runtime finish its in-flight requests; `stop()` shortens the wait to its own deadline. */
  function retire(predecessor: ConnectionRuntime): void {
    const drained = predecessor.drain(DEFAULT_DRAIN_TIMEOUT, { keepMetrics: true }).then((report) => {
      if (report.undelivered > 0) logger.warn({ connectionId: predecessor.id, ...report }, 'reconfiguration dropped in-flight events');
    });
    retiring.set(predecessor, drained);
    void drained.finally(() => retiring.delete(predecessor));
  }

  function runtimeOf(id: string): ConnectionRuntime {
    const runtime = runtimes.get(id);
    if (!runtime) throw new ConnectionError(ErrorCode.CONNECTION_NOT_FOUND, `connection '${id}' does not exist`);
    return runtime;
  }

  function assertRunning(action: string): void {
    if (phase === 'stopping' || phase === 'stopped') {
      throw new TwinlinkError(ErrorCode.ENGINE_STOPPED, `cannot ${action}: the engine is ${phase}`);
    }
  }

  // Targets concerned by a signal but refused by a revocation are accounted, not silently skipped.
  const onRevoked = ({ connectionId, targetIndex }: { connectionId: string; targetIndex: number }): void => {
    const runtime = runtimes.get(connectionId);
    if (runtime?.receiving) runtime.refuse(targetIndex);
  };

  function dispatch(signal: Signal): void {
    if (phase !== 'running') {
      throw new TwinlinkError(ErrorCode.ENGINE_STOPPED, `cannot dispatch: the engine is ${phase === 'created' ? 'not started' : phase}`);
    }
    for (const { connectionId, targetIndex } of routing.match(signal, onRevoked)) {
      const runtime = runtimes.get(connectionId);
      if (runtime?.receiving) runtime.accept(signal, targetIndex);
    }
  }

  const engine: TwinlinkEngine = {
    settings,
    registry,
    statusChanges$: statusChanges.asObservable(),
    acknowledgements$: acknowledgements.asObservable(),

    async start() {
      if (phase !== 'created') return;
      if (hostPolicy.enabled) {
        // A blocked uri or token endpoint fails start() with ERR_HOST_BLOCKED, like any bad definition.
        for (const definition of initial) await assertHostsAllowed(definition, hostPolicy);
        if (phase !== 'created') return;
      }
      // Compile every connection up front so a bad definition fails start() with its coded error.
      for (const definition of initial) prepared.set(definition.id, build(definition));
      phase = 'running';
      supervisor.start();
      supervisor.send({ type: 'START' });
    },

    async stop({ drainTimeout = DEFAULT_DRAIN_TIMEOUT } = {}) {
      if (phase === 'stopped' || phase === 'stopping') return { delivered: 0, failed: 0, undelivered: 0 };
      const wasRunning = phase === 'running';
      phase = 'stopping';
      if (wasRunning) supervisor.send({ type: 'STOP' });
      const reports = await Promise.all([...runtimes.values()].map((runtime) => runtime.drain(drainTimeout)));
      // Replaced runtimes get the same deadline (a second drain call only ever shortens it).
      await Promise.all([...retiring.keys()].map((predecessor) => predecessor.drain(drainTimeout, { keepMetrics: true })));
      for (const runtime of prepared.values()) runtime.dispose();
      prepared.clear();
      if (wasRunning) supervisor.send({ type: 'STOPPED' });
      supervisor.stop();
      tokens.stopAll();
      metrics.dispose();
      statusChanges.complete();
      acknowledgements.complete();
      phase = 'stopped';
      return reports.reduce<DrainReport>(
        (total, report) => ({
          delivered: total.delivered + report.delivered,
          failed: total.failed + report.failed,
          undelivered: total.undelivered + report.undelivered,
        }),
        { delivered: 0, failed: 0, undelivered: 0 },
      );
    },

    dispatch,

    connect(signals$: Observable<Signal>): Subscription {
      return signals$.subscribe({
        next: (signal) => dispatch(signal),
        error: (error: unknown) => logger.error({ err: error }, 'signal stream failed'),
      });
    },

    async addConnection(definition) {
      assertRunning('add a connection');
      await assertHostsAllowed(definition, hostPolicy);
      // Checked after the (async) host check, so two concurrent adds of one id cannot both pass.
      assertRunning('add a connection');
      if (engine.connection(definition.id)) {
        throw new ConnectionError(ErrorCode.CONNECTION_EXISTS, `connection '${definition.id}' already exists`);
      }
      prepared.set(definition.id, build(definition));
      supervisor.send({ type: 'CONNECTION.ADD', definition });
    },

    async updateConnection(definition) {
      assertRunning('update a connection');
      await assertHostsAllowed(definition, hostPolicy);
      assertRunning('update a connection');
      const current = runtimeOf(definition.id);
      prepared.set(definition.id, build(definition, current.records));
      supervisor.send({ type: 'CONNECTION.UPDATE', definition });
    },

    async removeConnection(id) {
      assertRunning('remove a connection');
      const runtime = runtimeOf(id);
      routing.remove(id);
      const report = await runtime.drain(DEFAULT_DRAIN_TIMEOUT);
      if (report.undelivered > 0) logger.warn({ connectionId: id, ...report }, 'removal dropped queued events');
      supervisor.send({ type: 'CONNECTION.REMOVE', id });
    },

    async open(id) {
      runtimeOf(id).open();
    },

    async close(id) {
      runtimeOf(id).close();
    },

    status: (id) => runtimeOf(id).status(),
    metrics: (id) => runtimeOf(id).metricsDocument(),
    logs: (id) => runtimeOf(id).logsDocument(),
    resetMetrics: (id) => runtimeOf(id).resetMetrics(),

    connections: () =>
      phase === 'created' ? initial : [...runtimes.values()].map((runtime) => runtime.definition),

    connection: (id) =>
      phase === 'created' ? initial.find((definition) => definition.id === id) : runtimes.get(id)?.definition,
  };
  return engine;
}
