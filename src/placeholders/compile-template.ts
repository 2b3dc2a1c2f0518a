/**
 * Compiles a placeholder template once (at connection start or config load) into a resolver that
 * does no parsing, no name lookup and no RegExp compilation per event.
 */
import { PlaceholderError } from '../errors.ts';
import { DELETED, compileFunction, type Step } from './placeholder-functions.ts';
import {
  PLACEHOLDER_NAMES, PLACEHOLDER_PREFIXES, resolverFor, type PlaceholderContext, type PlaceholderPrefix, type Resolver,
} from './placeholder-resolvers.ts';
import { parseTemplate, type PlaceholderRef } from './template-parser.ts';

/** A compiled template. */
export interface CompiledTemplate {
  readonly source: string;
  /** The `prefix:name` placeholders it uses, in order. */
  readonly placeholders: readonly string[];
  /** True when the template has no placeholder at all. */
  readonly isStatic: boolean;
  /**
   * The resolved text, or `undefined` when an expression resolved to nothing (an unavailable
   * placeholder without `fn:default`, or `fn:delete`). `encode` is applied to each expression's value.
   */
  resolve(ctx: PlaceholderContext, encode?: (value: string) => string): string | undefined;
}

type CompiledPart = string | ((ctx: PlaceholderContext) => string | undefined);

/**
 * Compiles `text`, accepting only placeholders whose prefix is in `allowed` (default: all).
 * @throws {PlaceholderError} `ERR_PLACEHOLDER_INVALID` with the 0-based position for bad syntax,
 *   unknown or disallowed placeholders and unknown functions.
 * @example compileTemplate('/things/{{ thing:id }}').resolve(ctx) // '/things/ns:name'
 */
export function compileTemplate(text: string, allowed: readonly string[] = PLACEHOLDER_PREFIXES): CompiledTemplate {
  const placeholders: string[] = [];
  const compileRef = (ref: PlaceholderRef): Resolver => {
    if (!allowed.includes(ref.prefix)) {
      const known = (PLACEHOLDER_PREFIXES as readonly string[]).includes(ref.prefix);
      throw new PlaceholderError(
        known ? `placeholder '${ref.prefix}:${ref.name}' is not allowed here` : `unknown placeholder '${ref.prefix}:${ref.name}' (known prefixes: ${allowed.join(', ')})`,
        ref.position,
      );
    }
    const resolver = resolverFor(ref.prefix, ref.name);
    if (resolver === undefined) {
      const names = PLACEHOLDER_NAMES[ref.prefix as Exclude<PlaceholderPrefix, 'header'>];
      throw new PlaceholderError(`unknown placeholder '${ref.prefix}:${ref.name}' (known: ${names.map((n) => `${ref.prefix}:${n}`).join(', ')})`, ref.position);
    }
    placeholders.push(`${ref.prefix}:${ref.name}`);
    return resolver;
  };

  const parts: CompiledPart[] = parseTemplate(text).map((part) => {
    if (typeof part === 'string') return part;
    const input = part.input ? compileRef(part.input) : undefined;
    const steps: Step[] = part.functions.map((call) => compileFunction(call, compileRef));
    if (steps.length === 0 && input) return input;
    return (ctx: PlaceholderContext) => {
      let value: string | undefined = input?.(ctx);
      for (const step of steps) {
        const next = step(value, ctx);
        if (next === DELETED) return undefined;
        value = next;
      }
      return value;
    };
  });

  const isStatic = parts.every((p) => typeof p === 'string');
  const constant = isStatic ? parts.join('') : undefined;
  return {
    source: text,
    placeholders,
    isStatic,
    resolve(ctx, encode) {
      if (constant !== undefined) return constant;
      let out = '';
      for (const part of parts) {
        if (typeof part === 'string') { out += part; continue; }
        const value = part(ctx);
        if (value === undefined) return undefined;
        out += encode ? encode(value) : value;
      }
      return out;
    },
  };
}
