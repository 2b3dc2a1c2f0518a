/**
 * The configuration loader: YAML 1.2 (JSON is a subset) → `${VAR}` substitution → zod schema →
 * deep-frozen {@link TwinlinkConfig}. Every problem found (syntax, unset variables, invalid values,
 * in the main file and in `connectionsDir` files) is collected and thrown as one {@link ConfigError}
 * whose issues carry `file:line:column`, the field path, what was found and what is expected.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { LineCounter, parseDocument, visit } from 'yaml';
import type { Document } from 'yaml';
import type { z } from 'zod';
import { ConfigError, ErrorCode } from '../errors.ts';
import type { ConfigIssue } from '../errors.ts';
import { configErrorMap, formatPath, fromYamlError, fromZodIssues } from './config-issues.ts';
import type { SourceDocument } from './config-issues.ts';
import { connectionSchema } from './connection-schema.ts';
import { substituteEnv } from './env-substitution.ts';
import type { Env } from './env-substitution.ts';
import { connectionSchemaFor, defaultEngineSettings, engineSettingsSchema, twinlinkConfigSchema } from './schema.ts';
import type { ConnectionConfig, EngineSettings, TwinlinkConfig } from './types.ts';

export type { Env } from './env-substitution.ts';

/** Options of {@link loadConfig}. */
export interface LoadOptions {
  /** Variables for `${VAR}`; default `process.env`. */
  readonly env?: Env;
  /** Name used in messages; default the path, or `<config>` for text. */
  readonly source?: string;
}

/** Options of {@link parseConfigText}. */
export interface ParseOptions extends LoadOptions {
  /** Folder `connectionsDir` is relative to; default the working directory. */
  readonly baseDir?: string;
}

/** Issue severity order: the error's code is that of the worst kind present. */
type Kind = 'read' | 'syntax' | 'env' | 'invalid';
const CODE: Readonly<Record<Kind, ErrorCode>> = {
  read: ErrorCode.CONFIG_READ,
  syntax: ErrorCode.CONFIG_SYNTAX,
  env: ErrorCode.CONFIG_ENV,
  invalid: ErrorCode.CONFIG_INVALID,
};

interface Collected {
  readonly issues: ConfigIssue[];
  readonly kinds: Set<Kind>;
}

/** A file read and parsed up to (not including) the schema. */
interface ParsedFile extends SourceDocument {
  /** Paths (formatted) of scalars whose variables were unset: their schema errors would be noise. */
  readonly envPaths: ReadonlySet<string>;
  readonly syntaxFailed: boolean;
}

/** A `connectionsDir` file's name (as shown in messages) and content. */
interface ConnectionFile {
  readonly source: string;
  readonly text?: string;
  readonly readError?: string;
}

const CONNECTION_FILE = /\.(?:ya?ml|json)$/i;

function add(collected: Collected, kind: Kind, issues: readonly ConfigIssue[]): void {
  if (issues.length === 0) return;
  collected.kinds.add(kind);
  collected.issues.push(...issues);
}

function fail(collected: Collected, source: string): never {
  const kind = (['read', 'syntax', 'env', 'invalid'] as const).find((k) => collected.kinds.has(k)) ?? 'invalid';
  // Report in reading order: file by file (main first), then by position.
  const files = [...new Set(collected.issues.map((i) => i.source ?? ''))];
  const order = (i: ConfigIssue): [number, number, number] => [files.indexOf(i.source ?? ''), i.line ?? Infinity, i.column ?? 0];
  const sorted = [...collected.issues].sort((a, b) => {
    const [fa, la, ca] = order(a);
    const [fb, lb, cb] = order(b);
    return fa - fb || la - lb || ca - cb;
  });
  throw new ConfigError(CODE[kind], source, sorted);
}

/** Parses YAML keeping positions, then substitutes variables. `extraSource` marks non-main files. */
function parseFile(text: string, source: string, env: Env, collected: Collected, extraSource?: string): ParsedFile {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true, logLevel: 'error' });
  if (doc.errors.length > 0) {
    // Only the first: after one syntax error the parser's follow-up errors are mostly echoes of it.
    add(collected, 'syntax', doc.errors.slice(0, 1).map((e) => fromYamlError(e, extraSource)));
    return { source, doc, lineCounter, data: undefined, envPaths: new Set(), syntaxFailed: true };
  }
  const problems = substituteEnv(doc, text, lineCounter, env);
  add(
    collected,
    'env',
    problems.map((p) => ({ path: formatPath(p.path), message: p.message, line: p.line, column: p.column, ...(extraSource ? { source: extraSource } : {}) })),
  );
  let data: unknown;
  try {
    // An empty file is an empty mapping: every default applies.
    data = doc.toJS({ maxAliasCount: 1000 }) ?? {};
  } catch (error) {
    // The parser accepts an alias without an anchor (or an alias bomb) and only toJS throws.
    add(collected, 'syntax', [aliasIssue(doc, lineCounter, error, extraSource)]);
    return { source, doc, lineCounter, data: undefined, envPaths: new Set(), syntaxFailed: true };
  }
  return { source, doc, lineCounter, data, envPaths: new Set(problems.map((p) => formatPath(p.path))), syntaxFailed: false };
}

/** The syntax issue for an alias `toJS` could not resolve, at the first unresolvable alias. */
function aliasIssue(doc: Document, lineCounter: LineCounter, error: unknown, extraSource?: string): ConfigIssue {
  let offset: number | undefined;
  let unresolved = false;
  visit(doc, {
    Alias(_, node) {
      offset ??= node.range?.[0];
      if (node.resolve(doc) !== undefined) return undefined;
      offset = node.range?.[0];
      unresolved = true;
      return visit.BREAK;
    },
  });
  const pos = lineCounter.linePos(offset ?? 0);
  // The alias name is not echoed: a mangled file can turn a secret value into one (`password: *s3cret`).
  const message = unresolved
    ? 'YAML syntax error: alias without an anchor (an alias *name needs an anchor &name earlier in the file)'
    : `YAML syntax error: ${error instanceof Error && /alias count/i.test(error.message) ? 'too many aliases' : 'aliases cannot be resolved'}`;
  return { path: '', message, line: pos.line, column: pos.col, ...(extraSource ? { source: extraSource } : {}) };
}

function schemaIssues(result: z.ZodSafeParseResult<unknown>, file: ParsedFile, schema: z.ZodType, extraSource?: string): ConfigIssue[] {
  if (result.success) return [];
  return fromZodIssues(result.error.issues, file, schema, extraSource).filter((i) => !file.envPaths.has(i.path));
}

/** The folder named by `connectionsDir`, if the (unvalidated) data names one. */
function connectionsDirOf(data: unknown, baseDir: string): string | undefined {
  const dir = typeof data === 'object' && data !== null ? (data as { connectionsDir?: unknown }).connectionsDir : undefined;
  return typeof dir === 'string' && dir.trim() !== '' ? resolve(baseDir, dir) : undefined;
}

function displayName(dir: string, name: string): string {
  // Relative to the working directory, like the path a user would type.
  const file = join(dir, name);
  return relative(process.cwd(), file) || file;
}

function readConnectionFilesSync(dir: string): ConnectionFile[] | string {
  try {
    return readdirSync(dir)
      .filter((n) => CONNECTION_FILE.test(n))
      .sort()
      .map((name) => {
        const source = displayName(dir, name);
        try {
          return { source, text: readFileSync(join(dir, name), 'utf8') };
        } catch (error) {
          return { source, readError: (error as Error).message };
        }
      });
  } catch (error) {
    return (error as Error).message;
  }
}

async function readConnectionFiles(dir: string): Promise<ConnectionFile[] | string> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => CONNECTION_FILE.test(n)).sort();
  } catch (error) {
    return (error as Error).message;
  }
  return Promise.all(
    names.map(async (name) => {
      const source = displayName(dir, name);
      try {
        return { source, text: await readFile(join(dir, name), 'utf8') };
      } catch (error) {
        return { source, readError: (error as Error).message };
      }
    }),
  );
}

/** Validates the parsed main file and the connection files together. */
function assemble(main: ParsedFile, files: ConnectionFile[] | string | undefined, env: Env, collected: Collected, baseDir: string): TwinlinkConfig {
  const result = twinlinkConfigSchema.safeParse(main.data, { error: configErrorMap });
  add(collected, 'invalid', schemaIssues(result, main, twinlinkConfigSchema));

  if (typeof files === 'string') {
    const at = fromZodIssues([{ code: 'custom', path: ['connectionsDir'], message: '', input: undefined }], main, twinlinkConfigSchema)[0];
    add(collected, 'read', [{ ...at, path: 'connectionsDir', message: `cannot read the connections directory: ${files}` }]);
  }

  // Dir files are checked against the engine settings in effect (defaults if the section is broken).
  const rawEngine = (main.data as { engine?: unknown } | undefined)?.engine ?? {};
  const engine = result.success ? result.data.engine : (engineSettingsSchema.safeParse(rawEngine).data ?? defaultEngineSettings());
  const fromDir: ConnectionConfig[] = [];
  const ids = new Map<string, string>();
  const mainConnections = (main.data as { connections?: unknown } | undefined)?.connections;
  if (Array.isArray(mainConnections)) {
    mainConnections.forEach((c: unknown, i) => {
      const id = (c as { id?: unknown } | null)?.id;
      if (typeof id === 'string') ids.set(id, `${main.source} connections[${i}]`);
    });
  }
  for (const file of Array.isArray(files) ? files : []) {
    if (file.text === undefined) {
      add(collected, 'read', [{ path: '', message: `cannot read file: ${file.readError ?? 'unknown error'}`, source: file.source }]);
      continue;
    }
    const parsed = parseFile(file.text, file.source, env, collected, file.source);
    if (parsed.syntaxFailed) continue;
    const schema = connectionSchemaFor(engine);
    const conn = schema.safeParse(parsed.data, { error: configErrorMap });
    add(collected, 'invalid', schemaIssues(conn, parsed, connectionSchema, file.source));
    const id = (parsed.data as { id?: unknown } | null)?.id;
    if (typeof id === 'string') {
      const earlier = ids.get(id);
      if (earlier !== undefined) {
        const at = fromZodIssues([{ code: 'custom', path: ['id'], message: '', input: id }], parsed, connectionSchema, file.source)[0];
        add(collected, 'invalid', [{ ...at, path: 'id', message: `duplicate connection id "${id}" (already defined in ${earlier})` }]);
      } else ids.set(id, file.source);
    }
    if (conn.success) fromDir.push(conn.data);
  }

  if (collected.issues.length > 0 || !result.success) fail(collected, main.source);
  const dir = connectionsDirOf(main.data, baseDir);
  return deepFreeze({
    ...result.data,
    connections: [...result.data.connections, ...fromDir],
    ...(dir !== undefined ? { connectionsDir: dir } : {}),
  });
}

/**
 * Parses and validates configuration text synchronously (reading `connectionsDir`, if set, from
 * disk relative to `baseDir`). Throws {@link ConfigError} listing every problem.
 *
 * @example parseConfigText('http: { port: 9090 }', { env: {} }).http.port // 9090
 */
export function parseConfigText(text: string, options: ParseOptions = {}): TwinlinkConfig {
  const { env = process.env, source = '<config>', baseDir = process.cwd() } = options;
  const collected: Collected = { issues: [], kinds: new Set() };
  const main = parseFile(text, source, env, collected);
  if (main.syntaxFailed) fail(collected, source);
  const dir = connectionsDirOf(main.data, baseDir);
  const files = dir === undefined ? undefined : readConnectionFilesSync(dir);
  return assemble(main, files, env, collected, baseDir);
}

/** True when `pathOrText` names a config file rather than holding config text. */
function looksLikePath(pathOrText: string): boolean {
  if (pathOrText.includes('\n')) return false;
  if (/\.(?:ya?ml|json)$/i.test(pathOrText.trim())) return true;
  try {
    return existsSync(pathOrText) && statSync(pathOrText).isFile();
  } catch {
    return false;
  }
}

/**
 * Loads the configuration from a file path (if `pathOrText` names an existing file or ends in
 * `.yaml`, `.yml` or `.json`) or from YAML/JSON text, including the `connectionsDir` files.
 * Resolves to a deep-frozen config; rejects with {@link ConfigError} (`ERR_CONFIG_READ`,
 * `ERR_CONFIG_SYNTAX`, `ERR_CONFIG_ENV` or `ERR_CONFIG_INVALID`) listing every problem.
 *
 * @example const config = await loadConfig('config/twinlink.yaml');
 */
export async function loadConfig(pathOrText: string, options: LoadOptions = {}): Promise<TwinlinkConfig> {
  const env = options.env ?? process.env;
  const collected: Collected = { issues: [], kinds: new Set() };
  if (!looksLikePath(pathOrText)) return parseConfigText(pathOrText, options);
  const source = options.source ?? pathOrText;
  let text: string;
  try {
    text = await readFile(pathOrText, 'utf8');
  } catch (error) {
    add(collected, 'read', [{ path: '', message: `cannot read the configuration file: ${(error as Error).message}` }]);
    fail(collected, source);
  }
  const baseDir = dirname(resolve(pathOrText));
  const main = parseFile(text, source, env, collected);
  if (main.syntaxFailed) fail(collected, source);
  const dir = connectionsDirOf(main.data, baseDir);
  const files = dir === undefined ? undefined : await readConnectionFiles(dir);
  return assemble(main, files, env, collected, baseDir);
}

/**
 * Validates one connection that arrived as JSON (connections API) against the engine settings;
 * same rules and error class as the file loader, paths like `targets[0].address`, no positions.
 *
 * @example parseConnection(JSON.parse(body), config.engine, 'PUT /connections/x')
 */
export function parseConnection(raw: unknown, settings: EngineSettings, source = 'connection'): ConnectionConfig {
  const result = connectionSchemaFor(settings).safeParse(raw, { error: configErrorMap });
  if (!result.success) throw new ConfigError(ErrorCode.CONFIG_INVALID, source, fromZodIssues(result.error.issues, { source, data: raw }, connectionSchema));
  return deepFreeze(result.data);
}

/**
 * Parses one connection written as YAML or JSON text (a `connectionsDir` file's content), with
 * `${VAR}` substitution and positions in errors.
 */
export function parseConnectionText(text: string, settings: EngineSettings, options: LoadOptions = {}): ConnectionConfig {
  const { env = process.env, source = '<connection>' } = options;
  const collected: Collected = { issues: [], kinds: new Set() };
  const parsed = parseFile(text, source, env, collected);
  if (parsed.syntaxFailed) fail(collected, source);
  const result = connectionSchemaFor(settings).safeParse(parsed.data, { error: configErrorMap });
  add(collected, 'invalid', schemaIssues(result, parsed, connectionSchema));
  if (collected.issues.length > 0 || !result.success) fail(collected, source);
  return deepFreeze(result.data);
}

/** Freezes `value` and everything reachable from it; returns it for chaining. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
  }
  return value;
}

