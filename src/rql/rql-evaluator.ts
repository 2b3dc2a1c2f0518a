/**
 * Compiles RQL filters into predicates over a signal. Fields are resolved once at compile time into
 * accessors and `like` patterns into regular expressions, so evaluation allocates nothing per event.
 */
import { RqlError } from '../errors.ts';
import { resourcePathOf, resourceTypeOf } from '../protocol/envelope.ts';
import type { JsonObject, JsonPrimitive, JsonValue, Signal } from '../protocol/signal.ts';
import { getAt, pointerSegments } from '../protocol/thing-view.ts';
import { TOPIC_FIELDS, topicField, topicPathOf, type TopicField } from '../protocol/topic-path.ts';
import type { RqlField, RqlNode } from './rql-ast.ts';
import { parseRql } from './rql-parser.ts';

/** What a filter is evaluated against. */
export interface RqlScope {
  readonly signal: Signal;
  /** The thing as known from the event (plus extra fields); called only when a filter reads it. */
  thing(): JsonObject;
  /** Epoch ms, for `time:now`. */
  now(): number;
}

/** A compiled filter. */
export interface CompiledRql {
  readonly source: string;
  readonly ast: RqlNode;
  test(scope: RqlScope): boolean;
}

type Accessor = (scope: RqlScope) => JsonValue | undefined;
type Predicate = (scope: RqlScope) => boolean;

function headerValue(signal: Signal, name: string): string | undefined {
  const direct = signal.headers[name];
  if (direct !== undefined) return direct;
  for (const key in signal.headers) if (key.toLowerCase() === name) return signal.headers[key];
  return undefined;
}

function compileField(field: RqlField): Accessor {
  const { name } = field;
  const colon = name.indexOf(':');
  if (colon >= 0) {
    const prefix = name.slice(0, colon);
    const key = name.slice(colon + 1);
    switch (prefix) {
      case 'topic':
        if (!(TOPIC_FIELDS as readonly string[]).includes(key)) throw new RqlError(`unknown field '${name}'`, field.position);
        return (s) => topicField(topicPathOf(s.signal), key as TopicField);
      case 'resource':
        if (key === 'path') return (s) => resourcePathOf(s.signal);
        if (key === 'type') return (s) => resourceTypeOf(s.signal);
        throw new RqlError(`unknown field '${name}'`, field.position);
      case 'header': {
        const lower = key.toLowerCase();
        return (s) => headerValue(s.signal, lower);
      }
      case 'time':
        if (key === 'now') return (s) => new Date(s.now()).toISOString();
        if (key === 'now_epoch_millis') return (s) => String(s.now());
        throw new RqlError(`unknown field '${name}'`, field.position);
      default:
        throw new RqlError(`unknown field '${name}'`, field.position);
    }
  }
  if (name === '_revision') return (s) => (s.signal.type === 'thing.event' ? s.signal.revision : undefined);
  if (name === '_modified') return (s) => s.signal.timestamp;
  const segments = pointerSegments(name);
  if (segments.length === 0) throw new RqlError(`empty field name`, field.position);
  return (s) => getAt(s.thing(), segments);
}

function equals(actual: JsonValue | undefined, expected: JsonPrimitive): boolean {
  return actual === expected;
}

function compare(actual: JsonValue | undefined, expected: JsonPrimitive): number | undefined {
  if (typeof actual === 'number' && typeof expected === 'number') return actual - expected;
  if (typeof actual === 'string' && typeof expected === 'string') return actual < expected ? -1 : actual > expected ? 1 : 0;
  return undefined;
}

/** Turns an RQL `like` pattern (`*` any characters, `?` one character) into an anchored RegExp. */
export function likeToRegExp(pattern: string, caseInsensitive: boolean): RegExp {
  let source = '';
  for (const ch of pattern) {
    if (ch === '*') source += '.*';
    else if (ch === '?') source += '.';
    else source += ch.replace(/[.+^${}()|[\]\\/-]/g, '\\$&');
  }
  return new RegExp(`^${source}$`, caseInsensitive ? 'is' : 's');
}

function compileNode(node: RqlNode): Predicate {
  switch (node.type) {
    case 'logical': {
      const children = node.children.map(compileNode);
      return node.op === 'and' ? (s) => children.every((c) => c(s)) : (s) => children.some((c) => c(s));
    }
    case 'not': {
      const child = compileNode(node.child);
      return (s) => !child(s);
    }
    case 'exists': {
      const get = compileField(node.field);
      return (s) => get(s) !== undefined;
    }
    case 'in': {
      const get = compileField(node.field);
      const values = node.values;
      return (s) => { const v = get(s); return values.some((x) => equals(v, x)); };
    }
    case 'like': {
      const get = compileField(node.field);
      const regex = likeToRegExp(node.pattern, node.caseInsensitive);
      return (s) => { const v = get(s); return typeof v === 'string' && regex.test(v); };
    }
    case 'comparison': {
      const get = compileField(node.field);
      const expected = node.value;
      switch (node.op) {
        case 'eq': return (s) => equals(get(s), expected);
        // Ditto: ne also matches when the field is absent.
        case 'ne': return (s) => !equals(get(s), expected);
        case 'gt': return (s) => (compare(get(s), expected) ?? 0) > 0;
        case 'ge': return (s) => { const c = compare(get(s), expected); return c !== undefined && c >= 0; };
        case 'lt': return (s) => (compare(get(s), expected) ?? 0) < 0;
        case 'le': return (s) => { const c = compare(get(s), expected); return c !== undefined && c <= 0; };
      }
    }
  }
}

/**
 * Parses and compiles an RQL filter once; call `test` per event.
 * @throws {RqlError} `ERR_RQL_INVALID` for syntax errors and unknown fields, with the position.
 * @example compileRql('eq(topic:action,"modified")').test(scope)
 */
export function compileRql(source: string): CompiledRql {
  const ast = parseRql(source);
  const predicate = compileNode(ast);
  return { source, ast, test: predicate };
}
