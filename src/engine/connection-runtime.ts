/**
 * Everything one connection owns while it runs: its target pipelines, its connection actor
 * (machine + publisher), its lease on a shared token actor, and its bookkeeping (Prometheus
 * counters, Ditto metrics and logs documents). The engine creates one per connection and feeds it
 * routed signals through `accept`.
 */
import type { Logger } from 'pino';
import { Subject, type Subscription } from 'rxjs';
import type { ConnectionConfig, EngineSettings } from '../config/types.ts';
import { createConnectionActor, type ConnectionActor, type ConnectionSnapshot } from '../connection/connection-actor.ts';
import type { PublishOutcome } from '../connection/http-publisher.ts';
import type { TransportFactory } from '../connection/transport.ts';
import type { TokenStatus } from '../auth/token-source.ts';
import type { TokenActor } from '../auth/token-actor.ts';
import { compileTarget, targetPipeline, type CompiledTarget } from '../pipeline/target-pipeline.ts';
import type { MapperRegistry } from '../pipeline/payload-mapper.ts';
import type { TargetOutcome } from '../pipeline/target-work.ts';
import type { OutboundMessage } from '../pipeline/outbound-message.ts';
import type { Signal } from '../protocol/signal.ts';
import { entityIdOf } from '../protocol/entity-id.ts';
import type { TwinlinkMetrics, TargetMetrics } from '../metrics/metrics.ts';
import { statusClassOf } from '../metrics/names.ts';
import type { Clock } from '../shared/clock.ts';
import type { HostPolicy } from '../shared/host-policy.ts';
import { ConnectionMetrics, type ConnectionMetricsDocument } from './connection-metrics.ts';
import { ConnectionLogs, type ConnectionLogsDocument } from './connection-logs.ts';
import { buildStatusDocument } from './status-document.ts';
import type { TokenRegistry } from './token-registry.ts';
import type { Acknowledgement, ConnectionState, ConnectionStatusDocument, DrainReport, ExtraFieldsLookup } from './types.ts';

/** What a runtime needs from the engine. */
export interface ConnectionRuntimeDeps {
  readonly settings: EngineSettings;
  readonly tokens: TokenRegistry;
  readonly transport: TransportFactory;
  readonly metrics: TwinlinkMetrics;
  readonly clock: Clock;
  readonly random: () => number;
  readonly logger: Logger;
  readonly mappers?: MapperRegistry;
  readonly extraFields?: ExtraFieldsLookup;
  readonly onAcknowledgement: (ack: Acknowledgement) => void;
  readonly onStatus: (status: ConnectionStatusDocument) => void;
  /** Engine host filtering; when enabled, target sockets resolve hosts through it (connect-time check). */
  readonly hostPolicy?: HostPolicy;
}

/**
 * Refuses a connection whose `uri` host or token endpoint host the engine's host filtering blocks
 * (`engine.allowedHosts`, `blockedHosts`, `blockedSubnets`). The engine calls it before a
 * connection is started or added; a no-op while filtering is off.
 *
 * @throws {HostBlockedError} `ERR_HOST_BLOCKED`, naming the host and the rule (never userinfo or query).
 */
export async function assertHostsAllowed(definition: ConnectionConfig, policy: HostPolicy | undefined): Promise<void> {
  if (!policy?.enabled) return;
  await policy.check(definition.uri);
  if (definition.credentials) await policy.check(definition.credentials.tokenEndpoint);
}

/** Ditto documents that survive a reconfiguration of the same connection id. */
export interface ConnectionRecords {
  readonly metrics: ConnectionMetrics;
  readonly logs: ConnectionLogs;
}

interface TargetLane {
  /** Compiled when the connection starts, so every config problem surfaces before it runs. */
  readonly target: CompiledTarget;
  readonly address: string;
  readonly counters: TargetMetrics;
  /**
   * The entry of the target's RxJS pipeline (filter → authorize → map → headers → address),
   * subscribed on the first signal: an idle connection holds no subscriber chain.
   */
  input?: Subject<Signal>;
  subscription?: Subscription;
}

export class ConnectionRuntime {
  readonly definition: ConnectionConfig;
  readonly records: ConnectionRecords;
  readonly #deps: ConnectionRuntimeDeps;
  readonly #actor: ConnectionActor;
  readonly #lanes: readonly TargetLane[];
  readonly #subscriptions: Subscription[] = [];
  readonly #tokenLease?: { readonly key: string; readonly actor: TokenActor };
  #tokenStatus?: TokenStatus;
  #accepting = true;
  #disposed = false;
  /** The machine state, kept from `state$` so the dispatch hot path reads a field, not a snapshot. */
  #state: ConnectionState = 'connecting';
  /** The signal being pushed through a lane, for accounting a lane that errors on it. */
  #current: Signal | undefined;
  /** Set once the connection actor exists (status documents need its snapshot). */
  #ready = false;

  /**
   * Compiles every target (throwing the coded config error of the first bad filter, placeholder or
   * mapper before anything starts), then starts the connection actor.
   */
  constructor(definition: ConnectionConfig, deps: ConnectionRuntimeDeps, records?: ConnectionRecords) {
    this.definition = definition;
    this.#deps = deps;
    const { id } = definition;
    const clock = deps.clock;
    this.records = records ?? {
      metrics: new ConnectionMetrics(id, { clock, addresses: definition.targets.map((t) => t.address) }),
      logs: new ConnectionLogs(id, { clock, ...deps.settings.connectionLogs }),
    };
    for (const target of definition.targets) this.records.metrics.addAddress(target.address);

    // Compile before acquiring anything, so a bad target leaks no token actor or sockets.
    const lanes = definition.targets.map((target, targetIndex): TargetLane => ({
      target: compileTarget(definition, targetIndex, deps.mappers),
      address: target.address,
      counters: deps.metrics.target(id, target.address),
    }));

    const logger = deps.logger.child({ connectionId: id });
    if (definition.credentials) {
      this.#tokenLease = deps.tokens.acquire(definition.credentials, {
        ...(definition.ca !== undefined ? { ca: definition.ca } : {}),
        validateCertificates: definition.validateCertificates,
      }, id);
    }
    if (!definition.validateCertificates) {
      logger.warn('validateCertificates is false: TLS certificates of the target and token endpoint are not verified');
    }
    const tokenActor = this.#tokenLease?.actor;
    const tokenKey = this.#tokenLease?.key ?? '';
    if (tokenActor) {
      // Subscribed before the connection actor: a token change then reaches the status document
      // before the machine transition it causes, so no document pairs a new state with a stale token.
      this.#subscriptions.push(
        tokenActor.status$.subscribe((status) => {
          this.#tokenStatus = status;
          if (this.#ready) this.#publishStatus();
        }),
        tokenActor.events$.subscribe((event) => {
          if (!deps.tokens.reports(tokenKey, id)) return;
          if (event.type === 'request') deps.metrics.tokenRequest(id, event.outcome, event.durationMs / 1000);
          else deps.metrics.tokenRefresh(id, event.trigger);
        }),
      );
    }
    this.#actor = createConnectionActor({
      connection: definition,
      settings: deps.settings,
      transport: deps.transport({
        parallelism: definition.specificConfig.parallelism,
        ...(definition.ca !== undefined ? { ca: definition.ca } : {}),
        validateCertificates: definition.validateCertificates,
        maxResponseBytes: deps.settings.httpPush.maxResponseBytes,
        ...(deps.hostPolicy?.enabled ? { dnsLookup: deps.hostPolicy.dnsLookup } : {}),
      }),
      ...(tokenActor ? { tokenSource: tokenActor, retryToken: () => tokenActor.retry() } : {}),
      clock,
      random: deps.random,
      logger: deps.logger,
      failedRetryDelay: deps.settings.oauth2.misconfiguredRetryDelay,
      // The https probe of `connecting` resolves hosts through the policy, like the target sockets.
      ...(deps.hostPolicy?.enabled ? { targetLookup: deps.hostPolicy.dnsLookup } : {}),
      onOutcome: (outcome) => this.#onPublishOutcome(outcome),
      onAcknowledgement: (ack) => this.#onAcknowledgement(ack),
    });
    this.#ready = true;
    this.#lanes = lanes;

    if (tokenActor) deps.metrics.trackTokenExpiry(id, () => this.#tokenStatus?.expiresAt);
    this.#subscriptions.push(
      this.#actor.state$.subscribe((snapshot) => {
        this.#state = snapshot.state;
        deps.metrics.setConnectionState(id, snapshot.state);
        if (snapshot.state === 'failed' || snapshot.state === 'backoff') {
          this.records.logs.log({ category: 'connection', type: 'other', level: 'failure', message: `${snapshot.state}: ${snapshot.statusDetails}` });
        }
        this.#publishStatus(snapshot);
      }),
    );
    // Started only now that every subscription is in place (idempotent for a shared credential).
    tokenActor?.start();
  }

  get id(): string {
    return this.definition.id;
  }

  /** Hot path: one routed signal for one of this connection's targets. */
  accept(signal: Signal, targetIndex: number): void {
    const lane = this.#lanes[targetIndex];
    if (lane === undefined || !this.#accepting) return;
    lane.counters.count('dispatched');
    this.records.metrics.record(lane.address, 'dispatched', true);
    this.#continue(signal, targetIndex);
  }

  /**
   * Reconfiguration: moves this runtime's queued (not yet sent) events to `successor`, which runs
   * them through its own, new pipelines. In-flight requests stay here and finish (see `drain`).
   * An event whose target kept its address continues its accounting there; one whose target
   * changed or disappeared ends here as `dropped` (`reconfigured`) and, if the target still
   * exists, starts afresh at the successor.
   */
  handOverTo(successor: ConnectionRuntime): void {
    // A mapper may have made several messages of one signal: the successor maps it once. Keyed by
    // the signal object itself: hosts may reuse correlation ids across distinct events.
    const seen = new Map<number, Set<Signal>>();
    for (const message of this.#actor.takeQueued()) {
      const { signal, targetIndex } = message;
      const seenForTarget = seen.get(targetIndex) ?? new Set<Signal>();
      seen.set(targetIndex, seenForTarget);
      if (seenForTarget.has(signal)) {
        this.#dropTaken(message, 'reconfigured');
        continue;
      }
      seenForTarget.add(signal);
      const sameTarget = successor.definition.targets[targetIndex]?.address === message.targetAddress;
      if (sameTarget) {
        successor.#continue(signal, targetIndex);
        continue;
      }
      this.#dropTaken(message, successor.definition.targets[targetIndex] ? 'reconfigured: target changed' : 'reconfigured: target removed');
      successor.accept(signal, targetIndex);
    }
    this.#updateGauges();
  }

  /** An event a predecessor already counted as dispatched: it only needs its pipeline here. */
  #continue(signal: Signal, targetIndex: number): void {
    const lane = this.#lanes[targetIndex];
    if (lane === undefined) return;
    this.#current = signal;
    (lane.input ?? this.#openLane(lane)).next(signal);
    this.#current = undefined;
  }

  #dropTaken(message: OutboundMessage, reason: string): void {
    this.#onPublishOutcome({ outcome: 'dropped', targetIndex: message.targetIndex, targetAddress: message.targetAddress, reason, attempts: 0, message });
  }

  /** Builds and subscribes the target's RxJS pipeline; the publisher is its subscriber. */
  #openLane(lane: TargetLane): Subject<Signal> {
    const input = new Subject<Signal>();
    const { clock, extraFields } = this.#deps;
    lane.input = input;
    lane.subscription = input
      .pipe(targetPipeline(lane.target, { clock, ...(extraFields ? { extraFields } : {}), onOutcome: (outcome) => this.#onTargetOutcome(outcome) }))
      .subscribe({
        next: (message) => this.#enqueue(message),
        error: (error: unknown) => {
          // A stage that throws (a bug, not bad data: that is reported as an outcome) ends the
          // chain: the signal it was handling is dropped and counted, and the next signal gets a
          // fresh chain, so one bad event never silences the target.
          lane.input = undefined;
          lane.subscription = undefined;
          const reason = error instanceof Error ? error.message : String(error);
          if (this.#current) this.#onTargetOutcome({ targetIndex: lane.target.targetIndex, outcome: 'dropped', reason, signal: this.#current });
        },
      });
    return input;
  }

  /** A signal for one of this connection's targets that its policy refuses it (READ revoked). */
  refuse(targetIndex: number): void {
    const lane = this.#lanes[targetIndex];
    if (lane === undefined || !this.#accepting) return;
    lane.counters.count('dispatched');
    lane.counters.count('unauthorized');
    this.records.metrics.record(lane.address, 'dispatched', true);
    // Ditto's document has no `unauthorized`: a refused signal is filtered out for the target.
    this.records.metrics.record(lane.address, 'filtered', true);
  }

  /** Whether routed signals are taken (false while closed: Ditto sends nothing to a closed connection). */
  get receiving(): boolean {
    return this.#accepting && this.#state !== 'closed';
  }

  open(): void {
    this.#actor.open();
  }

  close(): void {
    this.#actor.close();
  }

  snapshot(): ConnectionSnapshot {
    return this.#actor.snapshot();
  }

  status(): ConnectionStatusDocument {
    return this.#statusOf(this.#actor.snapshot());
  }

  metricsDocument(): ConnectionMetricsDocument {
    return this.records.metrics.toDocument();
  }

  logsDocument(): ConnectionLogsDocument {
    return this.records.logs.toDocument();
  }

  resetMetrics(): void {
    this.records.metrics.reset();
  }

  /**
   * Stops intake, delivers what it can within `timeoutMs`, accounts the rest, releases resources.
   * `keepMetrics` when a successor has taken the id over (its series must survive).
   */
  async drain(timeoutMs: number, options: { keepMetrics?: boolean } = {}): Promise<DrainReport> {
    this.#accepting = false;
    const report = await this.#actor.drain(timeoutMs);
    this.dispose(options);
    return report;
  }

  /** Releases the token lease and subscriptions. `keepMetrics` when a successor takes the id over. */
  dispose(options: { keepMetrics?: boolean } = {}): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#accepting = false;
    for (const subscription of this.#subscriptions) subscription.unsubscribe();
    for (const lane of this.#lanes) lane.subscription?.unsubscribe();
    if (this.#tokenLease) this.#deps.tokens.release(this.#tokenLease.key, this.id);
    if (!options.keepMetrics) this.#deps.metrics.removeConnection(this.id);
  }

  #enqueue(message: OutboundMessage): void {
    this.#actor.enqueue(message);
    this.#updateGauges();
  }

  #updateGauges(): void {
    this.#deps.metrics.queueSize(this.id, this.#actor.queueSize);
    this.#deps.metrics.inFlight(this.id, this.#actor.inFlight);
  }

  #onTargetOutcome({ targetIndex, outcome, reason, signal }: TargetOutcome): void {
    const lane = this.#lanes[targetIndex];
    if (lane === undefined) return;
    lane.counters.count(outcome);
    // Ditto's document has no `unauthorized`: a refused signal is filtered out for the target.
    this.records.metrics.record(lane.address, outcome === 'unauthorized' ? 'filtered' : outcome, true);
    if (outcome === 'dropped') {
      this.records.logs.log({
        category: 'target',
        type: 'dropped',
        level: 'failure',
        message: `dropped: ${reason ?? 'no reason given'}`,
        address: lane.address,
        correlationId: signal.headers['correlation-id'],
        entityId: entityIdOf(signal),
      });
      this.#deps.logger.warn({ connectionId: this.id, target: lane.address, reason }, 'event dropped before publishing');
    }
  }

  #onPublishOutcome(outcome: PublishOutcome): void {
    const { targetAddress: address, message } = outcome;
    const counters = this.#lanes[outcome.targetIndex]?.counters ?? this.#deps.metrics.target(this.id, address);
    counters.count(outcome.outcome);
    if (outcome.durationMs !== undefined && outcome.outcome !== 'dropped') {
      counters.publishDuration(statusClassOf(outcome.statusCode), outcome.durationMs / 1000);
    }
    const entityId = entityIdOf(message.signal);
    switch (outcome.outcome) {
      case 'published':
        this.records.metrics.record(address, 'published', true);
        this.records.logs.log({
          category: 'target', type: 'published', level: 'success', address, entityId, correlationId: message.correlationId,
          message: `published ${message.method} ${message.pathAndQuery} → ${outcome.statusCode ?? '?'}`,
        });
        break;
      case 'failed':
        this.records.metrics.record(address, 'published', false);
        this.records.logs.log({
          category: 'target', type: 'published', level: 'failure', address, entityId, correlationId: message.correlationId,
          message: `failed after ${outcome.attempts} attempt(s): ${outcome.reason ?? 'unknown'}`,
        });
        this.#deps.logger.warn({ connectionId: this.id, target: address, reason: outcome.reason, attempts: outcome.attempts }, 'publish failed');
        break;
      case 'dropped':
        this.records.metrics.record(address, 'dropped', false);
        this.records.logs.log({
          category: 'target', type: 'dropped', level: 'failure', address, entityId, correlationId: message.correlationId,
          message: `dropped: ${outcome.reason ?? 'unknown'}`,
        });
        // Per event, so debug: an overflow drops thousands (the publisher warns once per episode).
        this.#deps.logger.debug({ connectionId: this.id, target: address, reason: outcome.reason }, 'event dropped');
        break;
      case 'retried':
        break;
    }
    this.#updateGauges();
  }

  #onAcknowledgement(ack: Acknowledgement): void {
    const address = ack.targetAddress ?? '';
    this.#deps.metrics.outbound(this.id, address, 'acknowledged');
    this.records.metrics.record(address, 'acknowledged', ack.success);
    this.#deps.onAcknowledgement(ack);
  }

  #publishStatus(snapshot: ConnectionSnapshot = this.#actor.snapshot()): void {
    if (this.#disposed) return;
    this.#deps.onStatus(this.#statusOf(snapshot));
  }

  #statusOf(snapshot: ConnectionSnapshot): ConnectionStatusDocument {
    return buildStatusDocument({
      connection: this.definition,
      state: snapshot.state,
      dittoStatus: snapshot.dittoStatus,
      statusDetails: snapshot.statusDetails,
      inStateSince: snapshot.inStateSince,
      ...(snapshot.connectedSince !== undefined ? { connectedSince: snapshot.connectedSince } : {}),
      ...(this.#tokenStatus ? { token: this.#tokenStatus } : {}),
    });
  }
}

