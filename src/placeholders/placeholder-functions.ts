/**
 * Ditto's `fn:` pipeline functions. Each is compiled once (arity checked, constants bound, patterns
 * turned into RegExps) into a step `(input, ctx) → output`. `undefined` is Ditto's "empty";
 * {@link DELETED} ends the pipeline with no value regardless of later steps (`fn:delete`).
 */
import { PlaceholderError } from '../errors.ts';
import type { FunctionCall, PlaceholderRef, StringArg } from './template-parser.ts';
import type { PlaceholderContext, Resolver } from './placeholder-resolvers.ts';

/** Marker returned by `fn:delete`. */
export const DELETED: unique symbol = Symbol('deleted');
export type StepValue = string | undefined | typeof DELETED;
export type Step = (input: string | undefined, ctx: PlaceholderContext) => StepValue;

/** Compiles a placeholder argument to its resolver (supplied by the template compiler). */
export type ArgCompiler = (ref: PlaceholderRef) => Resolver;

/** Names of the supported functions. */
export const FUNCTION_NAMES = [
  'default', 'lower', 'upper', 'trim', 'substring-before', 'substring-after', 'url-encode', 'url-decode',
  'base64-encode', 'base64-decode', 'replace', 'delete', 'filter',
] as const;

function arity(call: FunctionCall, min: number, max = min): void {
  const n = call.args.length;
  if (n < min || n > max) {
    const expected = min === max ? `${min}` : `${min} to ${max}`;
    throw new PlaceholderError(`fn:${call.name} takes ${expected} argument(s), got ${n}`, call.position);
  }
}

function constant(call: FunctionCall, index: number): string {
  const arg = call.args[index] as PlaceholderRef | StringArg;
  if (arg.kind !== 'string') throw new PlaceholderError(`argument ${index + 1} of fn:${call.name} must be a quoted string`, arg.position);
  return arg.value;
}

function argResolver(arg: PlaceholderRef | StringArg, compileArg: ArgCompiler): Resolver {
  if (arg.kind === 'string') { const v = arg.value; return () => v; }
  return compileArg(arg);
}

/** Java's `URLEncoder.encode(s, UTF-8)`, which Ditto uses: form encoding, space as `+`. */
export function formUrlEncode(value: string): string {
  return encodeURIComponent(value).replace(/%20/g, '+').replace(/[!'()~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function formUrlDecode(value: string): string | undefined {
  try { return decodeURIComponent(value.replace(/\+/g, ' ')); } catch { return undefined; }
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** `like` for fn:filter: `*` any characters, `?` one character, `|` alternatives. */
function likeRegExp(pattern: string): RegExp {
  const alternatives = pattern.split('|').map((alt) => {
    let source = '';
    for (const ch of alt) source += ch === '*' ? '.*' : ch === '?' ? '.' : ch.replace(/[.+^${}()|[\]\\/-]/g, '\\$&');
    return source;
  });
  return new RegExp(`^(?:${alternatives.join('|')})$`, 's');
}

const FILTER_OPS = new Set(['eq', 'ne', 'exists', 'like']);

function compileFilter(call: FunctionCall, compileArg: ArgCompiler): Step {
  arity(call, 1, 3);
  const args = call.args;
  // Ditto's forms: (value, op, compared), (value, 'exists'), (op, compared) on the input, ('exists').
  let subject: Resolver | undefined;
  let rest: readonly (PlaceholderRef | StringArg)[];
  const first = args[0] as PlaceholderRef | StringArg;
  if (args.length === 3 || first.kind === 'placeholder' || (args.length === 2 && first.kind === 'string' && !FILTER_OPS.has(first.value))) {
    subject = argResolver(first, compileArg);
    rest = args.slice(1);
  } else {
    rest = args;
  }
  const opArg = rest[0];
  if (opArg === undefined || opArg.kind !== 'string' || !FILTER_OPS.has(opArg.value)) {
    // A constant first argument that is no operator was most likely meant as one.
    const at = subject !== undefined && first.kind === 'string' ? first.position : (opArg ?? call).position;
    throw new PlaceholderError(`fn:filter needs one of eq, ne, exists, like as its operator`, at);
  }
  const op = opArg.value;
  const comparedArg = rest[1];
  if (op !== 'exists' && comparedArg === undefined) throw new PlaceholderError(`fn:filter '${op}' needs a value to compare with`, call.position);
  const compared = comparedArg === undefined ? undefined : argResolver(comparedArg, compileArg);
  const regex = op === 'like' && comparedArg?.kind === 'string' ? likeRegExp(comparedArg.value) : undefined;
  const condition = (value: string | undefined, ctx: PlaceholderContext): boolean => {
    switch (op) {
      case 'eq': return value !== undefined && value === compared?.(ctx);
      case 'ne': return value !== compared?.(ctx);
      case 'exists': {
        const wanted = compared === undefined ? 'true' : compared(ctx);
        return (value !== undefined) === (wanted !== 'false');
      }
      default: {
        if (value === undefined) return false;
        const pattern = regex ?? (() => { const p = compared?.(ctx); return p === undefined ? undefined : likeRegExp(p); })();
        return pattern !== undefined && pattern.test(value);
      }
    }
  };
  return (input, ctx) => (condition(subject ? subject(ctx) : input, ctx) ? input : undefined);
}

/**
 * Compiles one `fn:` call.
 * @throws {PlaceholderError} unknown function, wrong number or kind of arguments.
 */
export function compileFunction(call: FunctionCall, compileArg: ArgCompiler): Step {
  switch (call.name) {
    case 'default': {
      arity(call, 1);
      const fallback = argResolver(call.args[0] as PlaceholderRef | StringArg, compileArg);
      return (input, ctx) => input ?? fallback(ctx);
    }
    case 'lower': arity(call, 0); return (input) => input?.toLowerCase();
    case 'upper': arity(call, 0); return (input) => input?.toUpperCase();
    case 'trim': arity(call, 0); return (input) => input?.trim();
    case 'substring-before': {
      arity(call, 1);
      const needle = constant(call, 0);
      return (input) => { const i = input?.indexOf(needle) ?? -1; return i < 0 ? undefined : input?.slice(0, i); };
    }
    case 'substring-after': {
      arity(call, 1);
      const needle = constant(call, 0);
      return (input) => { const i = input?.indexOf(needle) ?? -1; return i < 0 ? undefined : input?.slice(i + needle.length); };
    }
    case 'url-encode': arity(call, 0); return (input) => (input === undefined ? undefined : formUrlEncode(input));
    case 'url-decode': arity(call, 0); return (input) => (input === undefined ? undefined : formUrlDecode(input));
    case 'base64-encode': arity(call, 0); return (input) => (input === undefined ? undefined : Buffer.from(input, 'utf8').toString('base64'));
    case 'base64-decode':
      arity(call, 0);
      return (input) => (input === undefined || !BASE64.test(input) || input.length % 4 === 1 ? undefined : Buffer.from(input, 'base64').toString('utf8'));
    case 'replace': {
      arity(call, 2);
      const from = constant(call, 0);
      const to = constant(call, 1);
      // Java's String.replace: every literal occurrence; an empty `from` changes nothing here.
      return (input) => (input === undefined || from === '' ? input : input.split(from).join(to));
    }
    case 'delete': arity(call, 0); return () => DELETED;
    case 'filter': return compileFilter(call, compileArg);
    default:
      throw new PlaceholderError(`unknown function 'fn:${call.name}' (known: ${FUNCTION_NAMES.map((n) => `fn:${n}`).join(', ')})`, call.position);
  }
}
