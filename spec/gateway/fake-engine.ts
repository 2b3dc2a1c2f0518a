/** An in-memory {@link Engine} for gateway specs: records what the gateway asks of it. */
import { Registry } from 'prom-client';
import { Subject, type Observable, type Subscription } from 'rxjs';
import type { ConnectionConfig } from '../../src/config/types.ts';
import type { Acknowledgement, ConnectionStatusDocument, DrainReport, Engine, EngineOptions } from '../../src/engine/types.ts';
import { ConnectionError, ErrorCode } from '../../src/errors.ts';
import type { Signal } from '../../src/protocol/signal.ts';

export class FakeEngine implements Engine {
  readonly dispatched: Signal[] = [];
  readonly calls: string[] = [];
  readonly registry = new Registry();
  readonly statusChanges$: Observable<ConnectionStatusDocument> = new Subject<ConnectionStatusDocument>();
  readonly acknowledgements$: Observable<Acknowledgement> = new Subject<Acknowledgement>();
  readonly #connections = new Map<string, ConnectionConfig>();
  options?: EngineOptions;
  stopped = false;

  constructor(connections: readonly ConnectionConfig[] = []) {
    for (const c of connections) this.#connections.set(c.id, c);
  }

  async start(): Promise<void> { this.calls.push('start'); }
  async stop(options?: { drainTimeout?: number }): Promise<DrainReport> {
    this.calls.push(`stop:${options?.drainTimeout}`);
    this.stopped = true;
    return { delivered: 0, failed: 0, undelivered: 0 };
  }
  dispatch(signal: Signal): void { this.dispatched.push(signal); }
  connect(signals$: Observable<Signal>): Subscription { return signals$.subscribe((s) => this.dispatch(s)); }
  async addConnection(definition: ConnectionConfig): Promise<void> {
    if (this.#connections.has(definition.id)) throw new ConnectionError(ErrorCode.CONNECTION_EXISTS, `connection ${definition.id} exists`);
    this.calls.push(`add:${definition.id}`);
    this.#connections.set(definition.id, definition);
  }
  async updateConnection(definition: ConnectionConfig): Promise<void> {
    this.#require(definition.id);
    this.calls.push(`update:${definition.id}`);
    this.#connections.set(definition.id, definition);
  }
  async removeConnection(id: string): Promise<void> {
    this.#require(id);
    this.calls.push(`remove:${id}`);
    this.#connections.delete(id);
  }
  async open(id: string): Promise<void> { this.#require(id); this.calls.push(`open:${id}`); }
  async close(id: string): Promise<void> { this.#require(id); this.calls.push(`close:${id}`); }
  status(id: string): ConnectionStatusDocument {
    this.#require(id);
    return {
      connectionId: id, connectionStatus: 'open', liveStatus: 'open', connectedSince: null, clientStatus: [], sourceStatus: [], targetStatus: [],
      state: 'authenticated', statusDetails: 'ok',
    };
  }
  connections(): readonly ConnectionConfig[] { return [...this.#connections.values()]; }
  connection(id: string): ConnectionConfig | undefined { return this.#connections.get(id); }

  #require(id: string): void {
    if (!this.#connections.has(id)) throw new ConnectionError(ErrorCode.CONNECTION_NOT_FOUND, `no connection ${id}`);
  }
}
