/**
 * Spec helper: parses Prometheus text exposition with `parse-prometheus-text-format` (which ships
 * no types) and offers lookups. A malformed exposition throws, failing the calling spec.
 */
import { createRequire } from 'node:module';

/** One sample as the parser returns it (values are strings, histograms carry `buckets`). */
export interface ParsedSample {
  readonly value?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly buckets?: Readonly<Record<string, string>>;
  readonly count?: string;
  readonly sum?: string;
}

/** One metric family. */
export interface ParsedFamily {
  readonly name: string;
  readonly help: string;
  readonly type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED';
  readonly metrics: readonly ParsedSample[];
}

const require = createRequire(import.meta.url);
const parse = require('parse-prometheus-text-format') as (text: string) => ParsedFamily[];

/** Parses an exposition; throws when it is not valid text format. */
export function parsePrometheus(text: string): Map<string, ParsedFamily> {
  const families = parse(text);
  if (!Array.isArray(families)) throw new Error('parser returned no families');
  return new Map(families.map((family) => [family.name, family]));
}

/** Samples of `family` whose labels include `labels`. */
export function samples(families: Map<string, ParsedFamily>, name: string, labels: Record<string, string> = {}): ParsedSample[] {
  const family = families.get(name);
  if (!family) return [];
  return family.metrics.filter((sample) => Object.entries(labels).every(([key, value]) => sample.labels?.[key] === value));
}

/** The numeric value of the single sample matching `labels`, or undefined when there is none. */
export function valueOf(families: Map<string, ParsedFamily>, name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples(families, name, labels);
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return found[0]?.value === undefined ? undefined : Number(found[0].value);
}
