/**
 * Parser for the RQL subset Ditto supports in target filters:
 * `eq ne gt ge lt le in like ilike exists and or not`, with string (`"…"` or `'…'`, backslash
 * escapes), number, `true`, `false` and `null` literals.
 */
import { RqlError } from '../errors.ts';
import type { JsonPrimitive } from '../protocol/signal.ts';
import type { RqlComparisonOp, RqlField, RqlNode } from './rql-ast.ts';

const COMPARISONS = new Set<string>(['eq', 'ne', 'gt', 'ge', 'lt', 'le']);
const OPERATORS = new Set<string>([...COMPARISONS, 'in', 'like', 'ilike', 'exists', 'and', 'or', 'not']);
const NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

class Parser {
  private pos = 0;
  constructor(private readonly text: string) {}

  fail(message: string, position = this.pos): never {
    throw new RqlError(`${message} at position ${position} of filter '${this.text}'`, position);
  }

  private skipSpace(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos] as string)) this.pos++;
  }

  private expect(char: string): void {
    this.skipSpace();
    if (this.text[this.pos] !== char) this.fail(this.pos >= this.text.length ? `expected '${char}' but the filter ended` : `expected '${char}'`);
    this.pos++;
  }

  private peek(): string | undefined {
    this.skipSpace();
    return this.text[this.pos];
  }

  /** A bare word: operator name, field name or keyword literal. */
  private word(): { text: string; position: number } {
    this.skipSpace();
    const start = this.pos;
    while (this.pos < this.text.length && !/[\s(),"']/.test(this.text[this.pos] as string)) this.pos++;
    return { text: this.text.slice(start, this.pos), position: start };
  }

  parseQuery(): RqlNode {
    const { text: op, position } = this.word();
    if (op === '') this.fail(this.pos >= this.text.length ? 'expected an operator but the filter ended' : 'expected an operator', position);
    if (!OPERATORS.has(op)) this.fail(`unknown operator '${op}'`, position);
    this.expect('(');
    let node: RqlNode;
    if (op === 'and' || op === 'or') {
      const children = [this.parseQuery()];
      while (this.peek() === ',') { this.pos++; children.push(this.parseQuery()); }
      node = { type: 'logical', op, children, position };
    } else if (op === 'not') {
      node = { type: 'not', child: this.parseQuery(), position };
    } else if (op === 'exists') {
      node = { type: 'exists', field: this.parseField(), position };
    } else if (op === 'in') {
      const field = this.parseField();
      const values: JsonPrimitive[] = [];
      do { this.expect(','); values.push(this.parseLiteral()); } while (this.peek() === ',');
      node = { type: 'in', field, values, position };
    } else if (op === 'like' || op === 'ilike') {
      const field = this.parseField();
      this.expect(',');
      const at = (this.peek(), this.pos);
      const pattern = this.parseLiteral();
      if (typeof pattern !== 'string') this.fail(`${op} needs a string pattern`, at);
      node = { type: 'like', caseInsensitive: op === 'ilike', field, pattern, position };
    } else {
      const field = this.parseField();
      this.expect(',');
      node = { type: 'comparison', op: op as RqlComparisonOp, field, value: this.parseLiteral(), position };
    }
    this.expect(')');
    return node;
  }

  private parseField(): RqlField {
    const { text, position } = this.word();
    if (text === '') this.fail('expected a field name', position);
    const colon = text.indexOf(':');
    if (colon >= 0) {
      const prefix = text.slice(0, colon);
      if (!['topic', 'resource', 'header', 'time'].includes(prefix)) this.fail(`unknown placeholder '${prefix}:' in field '${text}'`, position);
      if (colon === text.length - 1) this.fail(`field '${text}' names no placeholder`, position);
    }
    return { name: text, position };
  }

  private parseLiteral(): JsonPrimitive {
    const c = this.peek();
    if (c === '"' || c === "'") return this.parseString(c);
    const { text, position } = this.word();
    if (text === '') this.fail(this.pos >= this.text.length ? 'expected a value but the filter ended' : 'expected a value', position);
    if (text === 'true') return true;
    if (text === 'false') return false;
    if (text === 'null') return null;
    if (NUMBER.test(text)) return Number(text);
    return this.fail(`invalid value '${text}' (strings must be quoted)`, position);
  }

  private parseString(quote: string): string {
    const start = this.pos;
    this.pos++;
    let out = '';
    while (this.pos < this.text.length) {
      const ch = this.text[this.pos] as string;
      if (ch === '\\') {
        const next = this.text[this.pos + 1];
        if (next === undefined) break;
        out += next;
        this.pos += 2;
        continue;
      }
      if (ch === quote) { this.pos++; return out; }
      out += ch;
      this.pos++;
    }
    return this.fail('unterminated string', start);
  }

  parseAll(): RqlNode {
    const node = this.parseQuery();
    this.skipSpace();
    if (this.pos < this.text.length) this.fail(`unexpected '${this.text[this.pos] as string}' after the end of the query`);
    return node;
  }
}

/**
 * Parses an RQL filter into its syntax tree.
 * @throws {RqlError} `ERR_RQL_INVALID` with the 0-based `position` of the problem.
 * @example parseRql('and(eq(attributes/counter,1),like(thingId,"org.*"))')
 */
export function parseRql(text: string): RqlNode {
  return new Parser(text).parseAll();
}
