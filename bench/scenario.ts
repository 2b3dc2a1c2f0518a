/**
 * The shape every scenario returns and the context it runs in.
 */
import type { BenchServers } from './servers.ts';

/** Figures of one scenario; `run.ts` adds `node`, `cpus` and `date`. */
export interface ScenarioResult {
  readonly name: string;
  /** The engine's measurements. */
  readonly figures: Readonly<Record<string, number | string>>;
  /** The same measurements taken from a baseline in the same run. */
  readonly baseline: Readonly<Record<string, number | string>>;
  /** Machine-independent figures: engine ÷ baseline, and goal checks. */
  readonly ratios: Readonly<Record<string, number | string>>;
  /** Goals met or missed, in words. */
  readonly goals?: Readonly<Record<string, string>>;
}

/** What a scenario gets from the runner. */
export interface ScenarioContext {
  readonly servers: BenchServers;
  /** Shorter run; figures are rougher. */
  readonly quick: boolean;
  /** Tiny run that only proves the scenario works (for CI); implies `quick`. Figures are meaningless. */
  readonly smoke?: boolean;
  /** Events for the throughput scenario (`--events N`); default 50,000 (quick 3,000, smoke 200). */
  readonly events?: number;
  /** Progress lines on stderr. */
  readonly log: (line: string) => void;
}

/** A scenario: a name and a function. */
export interface Scenario {
  readonly name: string;
  run(context: ScenarioContext): Promise<ScenarioResult>;
}

/** "met" / "MISSED" with the figure, for the goals column. */
export function goal(met: boolean, text: string): string {
  return `${met ? 'met' : 'MISSED'}: ${text}`;
}
