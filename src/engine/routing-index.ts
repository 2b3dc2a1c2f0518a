/**
 * Routing index: which targets may receive a signal, found by topic kind, namespace and granted
 * subject, so that dispatch cost grows with the targets that match rather than with all targets.
 * RQL filters are not evaluated here (the target pipeline does that); kind, namespace and
 * authorization are, exactly as the pipeline would.
 */
import type { TargetConfig } from '../config/types.ts';
import { authorizationOf, type TargetAuthorization } from '../pipeline/authorize.ts';
import { namespaceOf, parseTopicSubscription, topicKindOf, type TopicKind } from '../pipeline/target-topics.ts';
import type { Signal } from '../protocol/signal.ts';

/** One target that should process a signal. */
export interface RouteMatch {
  readonly connectionId: string;
  readonly targetIndex: number;
}

interface Entry extends RouteMatch {
  readonly authorization: TargetAuthorization;
  /** Namespaces per kind this entry subscribes to; `null` = all namespaces. */
  readonly namespaces: ReadonlyMap<TopicKind, ReadonlySet<string> | null>;
}

interface KindIndex {
  readonly byNamespace: Map<string, Set<Entry>>;
  readonly anyNamespace: Set<Entry>;
  readonly bySubject: Map<string, Set<Entry>>;
}

function addTo<K>(map: Map<K, Set<Entry>>, key: K, entry: Entry): void {
  let set = map.get(key);
  if (set === undefined) { set = new Set(); map.set(key, set); }
  set.add(entry);
}

function removeFrom<K>(map: Map<K, Set<Entry>>, key: K, entry: Entry): void {
  const set = map.get(key);
  if (set === undefined) return;
  set.delete(entry);
  if (set.size === 0) map.delete(key);
}

/**
 * The index the engine consults on every dispatch.
 * @example
 * const index = new RoutingIndex();
 * connection.targets.forEach((t, i) => index.add(connection.id, i, t));
 * for (const { connectionId, targetIndex } of index.match(signal)) …
 */
export class RoutingIndex {
  private readonly kinds = new Map<TopicKind, KindIndex>();
  private readonly byConnection = new Map<string, Entry[]>();

  private kind(kind: TopicKind): KindIndex {
    let index = this.kinds.get(kind);
    if (index === undefined) {
      index = { byNamespace: new Map(), anyNamespace: new Set(), bySubject: new Map() };
      this.kinds.set(kind, index);
    }
    return index;
  }

  /**
   * Adds one target. Its topics are parsed here (errors as in `parseTopicSubscription`).
   * Adding the same connection/target again replaces nothing: call {@link remove} first.
   */
  add(connectionId: string, targetIndex: number, target: Pick<TargetConfig, 'topics' | 'authorizationContext'>): void {
    const namespaces = new Map<TopicKind, Set<string> | null>();
    for (const source of target.topics) {
      const subscription = parseTopicSubscription(source);
      const previous = namespaces.get(subscription.kind);
      if (previous === null) continue;
      if (subscription.namespaces === undefined) namespaces.set(subscription.kind, null);
      else namespaces.set(subscription.kind, new Set([...(previous ?? []), ...subscription.namespaces]));
    }
    const entry: Entry = { connectionId, targetIndex, authorization: { connectionId, subjects: new Set(target.authorizationContext) }, namespaces };
    for (const [kind, set] of namespaces) {
      const index = this.kind(kind);
      if (set === null) index.anyNamespace.add(entry);
      else for (const ns of set) addTo(index.byNamespace, ns, entry);
      for (const subject of entry.authorization.subjects) addTo(index.bySubject, subject, entry);
    }
    const list = this.byConnection.get(connectionId) ?? [];
    list.push(entry);
    this.byConnection.set(connectionId, list);
  }

  /** Removes every target of a connection. */
  remove(connectionId: string): void {
    const entries = this.byConnection.get(connectionId);
    if (entries === undefined) return;
    for (const entry of entries) {
      for (const [kind, set] of entry.namespaces) {
        const index = this.kind(kind);
        if (set === null) index.anyNamespace.delete(entry);
        else for (const ns of set) removeFrom(index.byNamespace, ns, entry);
        for (const subject of entry.authorization.subjects) removeFrom(index.bySubject, subject, entry);
      }
    }
    this.byConnection.delete(connectionId);
  }

  /** Number of indexed targets. */
  get size(): number {
    let n = 0;
    for (const entries of this.byConnection.values()) n += entries.length;
    return n;
  }

  /**
   * The targets whose topic kind and namespace match `signal` and that are authorized to read it.
   * Targets that match but whose shared subject's READ is revoked go to `onRevoked` instead
   * (a callback, so the hot path allocates nothing for them).
   */
  match(signal: Signal, onRevoked?: (match: RouteMatch) => void): RouteMatch[] {
    const kind = topicKindOf(signal);
    const index = this.kinds.get(kind);
    if (index === undefined) return [];
    const out: RouteMatch[] = [];
    if (signal.type === 'connection.announcement') {
      for (const entry of this.byConnection.get(signal.connectionId) ?? []) if (entry.namespaces.has(kind)) out.push(entry);
      return out.map(({ connectionId, targetIndex }) => ({ connectionId, targetIndex }));
    }
    const namespace = namespaceOf(signal);
    const byNs = namespace === undefined ? undefined : index.byNamespace.get(namespace);
    // Walk whichever candidate set is smaller: namespace-side or subject-side.
    const nsCost = (byNs?.size ?? 0) + index.anyNamespace.size;
    let subjectCost = 0;
    for (const subject of signal.readGrantedSubjects) subjectCost += index.bySubject.get(subject)?.size ?? 0;
    const accept = (entry: Entry): void => {
      const set = entry.namespaces.get(kind);
      if (set === undefined) return;
      if (set !== null && (namespace === undefined || !set.has(namespace))) return;
      const verdict = authorizationOf(signal, entry.authorization);
      if (verdict === 'revoked') onRevoked?.(entry);
      if (verdict !== 'granted') return;
      out.push({ connectionId: entry.connectionId, targetIndex: entry.targetIndex });
    };
    if (subjectCost < nsCost) {
      const seen = new Set<Entry>();
      for (const subject of signal.readGrantedSubjects) {
        for (const entry of index.bySubject.get(subject) ?? []) {
          if (seen.has(entry)) continue;
          seen.add(entry);
          accept(entry);
        }
      }
    } else {
      if (byNs) for (const entry of byNs) accept(entry);
      for (const entry of index.anyNamespace) accept(entry);
    }
    return out;
  }
}
