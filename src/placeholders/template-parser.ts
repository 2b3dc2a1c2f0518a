/**
 * Parser for Ditto placeholder templates: literal text with `{{ prefix:name | fn:f('a') | fn:g }}`
 * expressions. It only checks syntax; names are checked by `compileTemplate`.
 */
import { PlaceholderError } from '../errors.ts';

/** A `prefix:name` reference, as pipeline input or function argument. */
export interface PlaceholderRef {
  readonly kind: 'placeholder';
  readonly prefix: string;
  readonly name: string;
  readonly position: number;
}

/** A quoted string argument. */
export interface StringArg {
  readonly kind: 'string';
  readonly value: string;
  readonly position: number;
}

export interface FunctionCall {
  readonly name: string;
  readonly args: readonly (PlaceholderRef | StringArg)[];
  readonly position: number;
}

/** One `{{ … }}` expression: an optional input placeholder and a pipeline of functions. */
export interface TemplateExpression {
  readonly kind: 'expression';
  /** Absent when the pipeline starts with a function (its input is empty, as in Ditto). */
  readonly input?: PlaceholderRef;
  readonly functions: readonly FunctionCall[];
  /** Offset of `{{`. */
  readonly position: number;
  readonly source: string;
}

export type TemplatePart = string | TemplateExpression;

const PLACEHOLDER = /^([A-Za-z][\w-]*):(\S+)$/;
const FUNCTION = /^fn:([A-Za-z][\w-]*)\s*(?:\(([\s\S]*)\))?$/;

/** Splits `text` at `separator` outside quotes and parentheses, keeping offsets. */
function splitTopLevel(text: string, separator: string, base: number): { text: string; position: number }[] {
  const pieces: { text: string; position: number }[] = [];
  let depth = 0;
  let quote: string | undefined;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (quote !== undefined) { if (ch === quote) quote = undefined; continue; }
    if (ch === '"' || ch === "'") quote = ch;
    else if (ch === '(') depth++;
    else if (ch === ')') depth--;
    else if (ch === separator && depth === 0) { pieces.push({ text: text.slice(start, i), position: base + start }); start = i + 1; }
  }
  if (quote !== undefined) throw new PlaceholderError(`unterminated string in '${text.trim()}'`, base + text.lastIndexOf(quote));
  pieces.push({ text: text.slice(start), position: base + start });
  // Report trimmed pieces at the offset of their first non-space character.
  return pieces.map((p) => {
    const lead = p.text.length - p.text.trimStart().length;
    return { text: p.text.trim(), position: p.position + lead };
  });
}

function parsePlaceholder(text: string, position: number): PlaceholderRef {
  const match = PLACEHOLDER.exec(text);
  if (!match) throw new PlaceholderError(`'${text}' is not a placeholder (expected prefix:name)`, position);
  return { kind: 'placeholder', prefix: match[1] as string, name: match[2] as string, position };
}

function parseArg(text: string, position: number): PlaceholderRef | StringArg {
  const first = text[0];
  if (first === '"' || first === "'") {
    if (text.length < 2 || text[text.length - 1] !== first) throw new PlaceholderError(`unterminated string ${text}`, position);
    return { kind: 'string', value: text.slice(1, -1), position };
  }
  if (text === '') throw new PlaceholderError('empty function argument', position);
  return parsePlaceholder(text, position);
}

function parseFunction(text: string, position: number): FunctionCall {
  const match = FUNCTION.exec(text);
  if (!match) throw new PlaceholderError(`'${text}' is not a function call (expected fn:name or fn:name(args))`, position);
  const name = match[1] as string;
  const argText = match[2];
  if (argText === undefined || argText.trim() === '') return { name, args: [], position };
  const argBase = position + text.indexOf('(') + 1;
  const args = splitTopLevel(argText, ',', argBase).map((a) => parseArg(a.text, a.position));
  return { name, args, position };
}

function parseExpression(inner: string, innerStart: number, open: number, source: string): TemplateExpression {
  const segments = splitTopLevel(inner, '|', innerStart);
  const [head, ...rest] = segments as [{ text: string; position: number }, ...{ text: string; position: number }[]];
  if (head.text === '') throw new PlaceholderError('empty placeholder expression', open);
  let input: PlaceholderRef | undefined;
  const functions: FunctionCall[] = [];
  if (head.text.startsWith('fn:')) functions.push(parseFunction(head.text, head.position));
  else input = parsePlaceholder(head.text, head.position);
  for (const segment of rest) {
    if (segment.text === '') throw new PlaceholderError("empty pipeline step after '|'", segment.position);
    if (!segment.text.startsWith('fn:')) throw new PlaceholderError(`pipeline step '${segment.text}' must be a function (fn:…)`, segment.position);
    functions.push(parseFunction(segment.text, segment.position));
  }
  return { kind: 'expression', ...(input ? { input } : {}), functions, position: open, source };
}

/**
 * Parses a template into literal strings and expressions.
 * @throws {PlaceholderError} `ERR_PLACEHOLDER_INVALID` with the 0-based position of the problem.
 * @example parseTemplate('POST:/things/{{ thing:id | fn:url-encode }}')
 */
export function parseTemplate(text: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let pos = 0;
  while (pos < text.length) {
    const open = text.indexOf('{{', pos);
    if (open < 0) { parts.push(text.slice(pos)); break; }
    if (open > pos) parts.push(text.slice(pos, open));
    // Find the closing braces outside quotes, so `fn:default('}}')` stays intact.
    let quote: string | undefined;
    let close = -1;
    for (let i = open + 2; i < text.length - 1; i++) {
      const ch = text[i] as string;
      if (quote !== undefined) { if (ch === quote) quote = undefined; continue; }
      if (ch === '"' || ch === "'") quote = ch;
      else if (ch === '}' && text[i + 1] === '}') { close = i; break; }
      else if (ch === '{' && text[i + 1] === '{') throw new PlaceholderError("nested '{{' inside a placeholder", i);
    }
    if (close < 0) throw new PlaceholderError("'{{' without closing '}}'", open);
    parts.push(parseExpression(text.slice(open + 2, close), open + 2, open, text.slice(open, close + 2)));
    pos = close + 2;
  }
  return parts;
}
