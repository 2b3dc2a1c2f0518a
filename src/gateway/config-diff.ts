/**
 * What a configuration reload changes: connections added, changed and removed (by id), and the
 * other sections whose change needs a restart to take effect.
 */
import type { ConnectionConfig, TwinlinkConfig } from '../config/types.ts';

/** Connections to add, update and remove to go from one config to the next. */
export interface ConnectionDiff {
  readonly added: readonly ConnectionConfig[];
  readonly updated: readonly ConnectionConfig[];
  readonly removed: readonly string[];
}

/**
 * Compares two connection lists by id; a connection counts as updated when any field differs.
 *
 * @example diffConnections(old.connections, next.connections) // { added: [], updated: [conn], removed: ['x'] }
 */
export function diffConnections(before: readonly ConnectionConfig[], after: readonly ConnectionConfig[]): ConnectionDiff {
  const previous = new Map(before.map((c) => [c.id, c]));
  const next = new Set(after.map((c) => c.id));
  const added: ConnectionConfig[] = [];
  const updated: ConnectionConfig[] = [];
  for (const connection of after) {
    const old = previous.get(connection.id);
    if (!old) added.push(connection);
    // The loader builds configs in schema order, so equal configs serialise identically.
    else if (JSON.stringify(old) !== JSON.stringify(connection)) updated.push(connection);
  }
  return { added, updated, removed: before.filter((c) => !next.has(c.id)).map((c) => c.id) };
}

/** Top-level sections (besides `connections` and `auth`) that differ; they apply only after a restart. */
export function sectionsNeedingRestart(before: TwinlinkConfig, after: TwinlinkConfig): string[] {
  const sections = ['http', 'things', 'engine', 'demo', 'connectionsDir'] as const;
  return sections.filter((key) => JSON.stringify(before[key]) !== JSON.stringify(after[key]));
}
