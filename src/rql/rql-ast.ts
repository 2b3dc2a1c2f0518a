/** The syntax tree of a parsed RQL filter. Every node keeps the 0-based offset it starts at. */
import type { JsonPrimitive } from '../protocol/signal.ts';

export type RqlComparisonOp = 'eq' | 'ne' | 'gt' | 'ge' | 'lt' | 'le';
export type RqlLogicalOp = 'and' | 'or';

/** A field: a thing pointer (`attributes/x`) or a placeholder (`topic:action`, `resource:path`, `header:x`). */
export interface RqlField {
  readonly name: string;
  readonly position: number;
}

export type RqlNode =
  | { readonly type: 'logical'; readonly op: RqlLogicalOp; readonly children: readonly RqlNode[]; readonly position: number }
  | { readonly type: 'not'; readonly child: RqlNode; readonly position: number }
  | { readonly type: 'comparison'; readonly op: RqlComparisonOp; readonly field: RqlField; readonly value: JsonPrimitive; readonly position: number }
  | { readonly type: 'in'; readonly field: RqlField; readonly values: readonly JsonPrimitive[]; readonly position: number }
  | { readonly type: 'like'; readonly caseInsensitive: boolean; readonly field: RqlField; readonly pattern: string; readonly position: number }
  | { readonly type: 'exists'; readonly field: RqlField; readonly position: number };
