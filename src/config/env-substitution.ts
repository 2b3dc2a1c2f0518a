/**
 * `${VAR}` / `${VAR:-default}` substitution inside the string scalars of a parsed YAML document.
 * Working on scalars (not on the raw text) means a variable can never inject YAML structure, and
 * every node keeps its source range, so later errors still point at the original text.
 */
import { isPair, isScalar, isSeq, parse as parseYaml, visit } from 'yaml';
import type { Document, LineCounter, Scalar } from 'yaml';

/** Where variables come from; `process.env` by default. */
export type Env = Readonly<Record<string, string | undefined>>;

/** An unset variable (or a malformed `${…}`) found while substituting. */
export interface EnvProblem {
  /** Field path segments of the scalar holding the reference. */
  readonly path: readonly (string | number)[];
  readonly message: string;
  readonly line: number;
  readonly column: number;
}

// `$${` is an escaped literal `${`; `${NAME}` / `${NAME:-default}` a reference; any other `${` is malformed.
const REFERENCE = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{/g;

/**
 * Substitutes variables in one string. As in POSIX shells, `:-` also applies when the variable is
 * set but empty. Returns the new text and the references that could not be resolved.
 *
 * @example substituteString('${HOST:-localhost}:8080', {}) // { value: 'localhost:8080', problems: [] }
 */
export function substituteString(text: string, env: Env): { value: string; problems: { token: string; message: string }[] } {
  const problems: { token: string; message: string }[] = [];
  const value = text.replace(REFERENCE, (token: string, name: string | undefined, fallback: string | undefined) => {
    if (token === '$${') return '${';
    if (name === undefined) {
      problems.push({ token, message: 'malformed variable reference (expected ${NAME} or ${NAME:-default}; write $${ for a literal ${)' });
      return token;
    }
    const set = env[name];
    if (set !== undefined && (set !== '' || fallback === undefined)) return set;
    if (fallback !== undefined) return fallback;
    problems.push({ token, message: `environment variable ${name} is not set (set it, or give a default: \${${name}:-value})` });
    return '';
  });
  return { value, problems };
}

/**
 * Substitutes variables in every string scalar value of `doc` (keys are left alone) and returns the
 * problems with their `line:column`. A substituted plain (unquoted) scalar is re-read as a YAML
 * scalar so `port: ${PORT:-8080}` yields a number, as the same text written literally would;
 * anything that is not a plain number or boolean stays a string.
 */
export function substituteEnv(doc: Document, text: string, lineCounter: LineCounter, env: Env): EnvProblem[] {
  const problems: EnvProblem[] = [];
  visit(doc, {
    Scalar(key, node, ancestors) {
      if (key === 'key' || typeof node.value !== 'string' || !node.value.includes('${')) return;
      const result = substituteString(node.value, env);
      if (result.problems.length > 0) {
        const path = fieldPath([...ancestors, node]);
        let cursor = node.range?.[0] ?? 0;
        for (const problem of result.problems) {
          // Find the reference in the source so the column points at `${`, not at the scalar start.
          const at = text.indexOf(problem.token, cursor);
          const offset = at >= 0 && (!node.range || at < node.range[1]) ? at : (node.range?.[0] ?? 0);
          if (at >= 0) cursor = at + problem.token.length;
          const pos = lineCounter.linePos(offset);
          problems.push({ path, message: problem.message, line: pos.line, column: pos.col });
        }
      }
      node.value = node.type === 'PLAIN' ? reread(result.value) : result.value;
    },
  });
  return problems;
}

function reread(value: string): string | number | boolean {
  try {
    // logLevel 'error': a warning (e.g. an unknown tag) would print the value, which may be a secret.
    const parsed: unknown = parseYaml(value, { logLevel: 'error' });
    return typeof parsed === 'number' || typeof parsed === 'boolean' ? parsed : value;
  } catch {
    return value;
  }
}

/** `['connections', 0, 'credentials', 'clientSecret']` for a node, from its ancestors. */
export function fieldPath(chain: readonly unknown[]): (string | number)[] {
  const path: (string | number)[] = [];
  chain.forEach((node, i) => {
    const child = chain[i + 1];
    if (child === undefined) return;
    if (isSeq(node)) path.push(node.items.indexOf(child as never));
    else if (isPair(node)) path.push(String(isScalar(node.key) ? (node.key as Scalar).value : node.key));
  });
  return path;
}
