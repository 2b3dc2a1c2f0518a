/**
 * Turns zod issues and YAML parser errors into {@link ConfigIssue}s a person can act on: the field
 * path as written (`connections[0].targets[1].address`), `line:column` of the offending node (its
 * nearest existing parent when a key is missing, the key itself when it is unknown), what was found
 * and what is expected. Secret values are never shown.
 */
import { isMap, isPair, isScalar } from 'yaml';
import type { Document, LineCounter, Node, YAMLError } from 'yaml';
import type { z } from 'zod';
import type { ConfigIssue } from '../errors.ts';
import { maskUri } from './redact.ts';

type Segment = string | number;

/** Where a document came from, for locating issues in it. */
export interface SourceDocument {
  readonly source: string;
  readonly doc?: Document;
  readonly lineCounter?: LineCounter;
  /** The data that was validated (after `${VAR}` substitution), to describe what was found. */
  readonly data: unknown;
}

/** Keys whose values must never appear in a message. */
const SECRET_KEYS = new Set(['clientSecret', 'password', 'passwordHash']);

/**
 * Text a mangled document may have carried out of a secret field (a block read as one multi-line
 * string, a mapping used as a key, a URL with userinfo): such text is described, never quoted.
 */
function mayHoldSecret(text: string): boolean {
  return /[\r\n]|password|secret|:\/\/[^\s/]*@/i.test(text);
}

/** A key as shown in paths and messages. */
function shownKey(key: string): string {
  // Plain names (`password`, `x-api-key`) are shown; only mangled structure used as a key is hidden.
  return key.length > 64 || (mayHoldSecret(key) && !/^[\w.$-]+$/.test(key)) ? '<unexpected key>' : key;
}

/** `connections[0].targets[1].address` */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out === '' ? shownKey(String(segment)) : `.${shownKey(String(segment))}`;
  }
  return out;
}

const EXPECTED: Readonly<Record<string, string>> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping',
  record: 'a mapping',
};

/** Per-parse zod error map: plain wording for the issues our schemas leave to zod's defaults. */
export const configErrorMap: z.core.$ZodErrorMap = (issue) => {
  switch (issue.code) {
    case 'invalid_type':
      return `expected ${EXPECTED[issue.expected] ?? issue.expected}`;
    case 'too_small':
      if (issue.origin === 'array') return `expected at least ${String(issue.minimum)} item(s)`;
      if (issue.origin === 'string') return `expected at least ${String(issue.minimum)} character(s)`;
      return `expected a number ≥ ${String(issue.minimum)}`;
    case 'too_big':
      if (issue.origin === 'array') return `expected at most ${String(issue.maximum)} item(s)`;
      if (issue.origin === 'string') return `expected at most ${String(issue.maximum)} character(s)`;
      return `expected a number ≤ ${String(issue.maximum)}`;
    case 'invalid_value':
      return `expected ${issue.values.map((v) => JSON.stringify(v)).join(' or ')}`;
    case 'invalid_format':
      return `expected text matching ${issue.pattern ?? issue.format}`;
    default:
      return undefined;
  }
};

/** Converts zod issues for `file` into config issues with positions, one per unknown key. */
export function fromZodIssues(issues: readonly z.core.$ZodIssue[], file: SourceDocument, schema: z.ZodType, extraSource?: string): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const issue of issues) {
    const path = issue.path.filter((s): s is Segment => typeof s !== 'symbol');
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeys(schema, path);
      for (const key of issue.keys) {
        const hint = known.length > 0 ? ` (expected one of ${known.join(', ')})` : '';
        out.push(withSource({ path: formatPath([...path, key]), message: `unknown key "${shownKey(key)}"${hint}`, ...position(file, path, key) }, extraSource));
      }
      continue;
    }
    const value = valueAt(file.data, path);
    let message = issue.message;
    if (issue.code === 'invalid_type' && value === undefined && !hasPath(file.data, path)) message = `is missing (${message})`;
    else message += found(path, value, message);
    out.push(withSource({ path: formatPath(path), message, ...position(file, path) }, extraSource));
  }
  return out;
}

/** A YAML parser error as a config issue at the parser's position. */
export function fromYamlError(error: YAMLError, extraSource?: string): ConfigIssue {
  // prettyErrors appends " at line X, column Y:" and a source excerpt; the position is ours to format.
  const message = withoutEcho((error.message.split('\n')[0] ?? error.message).replace(/ at line \d+, column \d+:?$/, ''));
  const pos = error.linePos?.[0];
  return withSource({ path: '', message: `YAML syntax error: ${message}`, line: pos?.line, column: pos?.col }, extraSource);
}

/** A YAML error message without the source text some messages quote (it may be a secret value). */
function withoutEcho(message: string): string {
  const echoing = /^(Block scalar header includes extra characters|Unresolved tag|Could not resolve tag|Not a valid tag|Ordered maps must not include duplicate keys|Unknown directive|Unsupported YAML version|Unresolved plain scalar)\b.*$/s;
  return message
    .replace(echoing, '$1')
    .replace(/^The .* tag has no suffix$/s, 'A tag has no suffix')
    .replace(/^Verbatim tags aren't resolved, so .* is invalid\.$/s, "Verbatim tags aren't resolved");
}

function withSource(issue: ConfigIssue, source: string | undefined): ConfigIssue {
  const clean = Object.fromEntries(Object.entries(issue).filter(([, v]) => v !== undefined)) as unknown as ConfigIssue;
  return source === undefined ? clean : { ...clean, source };
}

/** ` (found "FOO:/x")`, or nothing when the value is secret, absent or already quoted in the message. */
function found(path: readonly Segment[], value: unknown, message: string): string {
  const last = path[path.length - 1];
  if (value === undefined || message.includes('(found') || (typeof last === 'string' && SECRET_KEYS.has(last))) return '';
  let shown: string;
  if (typeof value === 'string') {
    const url = last === 'uri' || last === 'tokenEndpoint';
    const safe = url ? maskUri(value) : value;
    // A mangled `https://user:pw@…` (or one cut short) that maskUri did not recognise is not quoted.
    if (url && safe === value && !URL.canParse(value) && /@|:\/\/[^/]*:/.test(value)) return '';
    if (!url && mayHoldSecret(safe)) return ' (found a string, not shown)';
    shown = JSON.stringify(safe.length > 80 ? `${safe.slice(0, 77)}...` : safe);
    if (message.includes(shown)) return '';
  } else if (Array.isArray(value)) shown = value.length === 0 ? 'an empty list' : 'a list';
  else if (value === null) shown = 'null';
  else if (typeof value === 'object') shown = 'a mapping';
  else shown = String(value);
  return ` (found ${shown})`;
}

function valueAt(data: unknown, path: readonly Segment[]): unknown {
  let current = data;
  for (const segment of path) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Record<Segment, unknown>)[segment];
  }
  return current;
}

function hasPath(data: unknown, path: readonly Segment[]): boolean {
  if (path.length === 0) return data !== undefined;
  const parent = valueAt(data, path.slice(0, -1));
  return typeof parent === 'object' && parent !== null && Object.hasOwn(parent, path[path.length - 1] as Segment);
}

/** `line`/`column` of the node at `path` (or its key `key`), else of its nearest existing parent. */
function position(file: SourceDocument, path: readonly Segment[], key?: string): { line?: number; column?: number } {
  const { doc, lineCounter } = file;
  if (!doc || !lineCounter) return {};
  let offset: number | undefined;
  if (key !== undefined) {
    const map = doc.getIn(path, true);
    if (isMap(map)) {
      const pair = map.items.find((p) => isPair(p) && (isScalar(p.key) ? p.key.value : p.key) === key);
      offset = (pair?.key as Node | undefined)?.range?.[0];
    }
  }
  for (let depth = path.length; offset === undefined && depth >= 0; depth--) {
    const node = depth === 0 ? doc.contents : doc.getIn(path.slice(0, depth), true);
    offset = (node as Node | null | undefined)?.range?.[0];
  }
  if (offset === undefined) return {};
  const pos = lineCounter.linePos(offset);
  return { line: pos.line, column: pos.col };
}

/** Keys the (object) schema at `path` accepts, to suggest when an unknown key appears. */
function knownKeys(schema: z.ZodType, path: readonly Segment[]): string[] {
  let current: unknown = schema;
  for (const segment of [...path, undefined]) {
    // Unwrap defaults, optionals and pipes (transforms) down to the structural schema.
    for (;;) {
      const def = (current as { _zod?: { def?: Record<string, unknown> } })?._zod?.def;
      if (!def) return [];
      if (def.innerType) current = def.innerType;
      else if (def.type === 'pipe') current = def.in;
      else break;
    }
    const def = (current as { _zod: { def: Record<string, unknown> } })._zod.def;
    if (segment === undefined) return def.type === 'object' ? Object.keys(def.shape as object) : [];
    if (def.type === 'object') current = (def.shape as Record<string, unknown>)[segment];
    else if (def.type === 'array') current = def.element;
    else if (def.type === 'record') current = def.valueType;
    else return [];
  }
  return [];
}
