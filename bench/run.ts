/**
 * `npm run bench`: runs the scenarios against loopback servers living in another process, prints a
 * table and writes `bench/results.json`. Every machine-dependent figure comes with a baseline from
 * the same run and a ratio.
 *
 *   npm run bench                         # all scenarios (about 2 minutes)
 *   npm run bench -- --only throughput --events 100000
 *   npm run bench -- --quick              # short run, rough figures
 *   npm run bench -- --smoke --out /tmp/x.json   # tiny run proving the script works (CI)
 *   npm run bench -- --only throughput,latency --out /tmp/results.json
 */
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { latency } from './latency.ts';
import { memory } from './memory.ts';
import { refreshUnderLoad } from './refresh-under-load.ts';
import { routingScale } from './routing-scale.ts';
import type { Scenario, ScenarioResult } from './scenario.ts';
import { startBenchServers } from './servers.ts';
import { singleFlight } from './single-flight.ts';
import { throughput } from './throughput.ts';

/** All scenarios, in run order. */
export const SCENARIOS: readonly Scenario[] = [throughput, singleFlight, refreshUnderLoad, routingScale, memory, latency];

/** One entry of `results.json`. */
export interface BenchResult extends ScenarioResult {
  readonly node: string;
  readonly cpus: number;
  readonly cpuModel: string;
  readonly quick: boolean;
  readonly seconds: number;
  readonly date: string;
}

function formatFigures(record: Readonly<Record<string, number | string>>): string {
  return Object.entries(record)
    .map(([key, value]) => `${key}=${typeof value === 'number' ? value.toLocaleString('en-US') : value}`)
    .join('  ');
}

/** The readable table printed after a run. */
export function formatResults(results: readonly BenchResult[]): string {
  const first = results[0];
  const lines = first ? [`twinlink bench — node ${first.node}, ${first.cpus} × ${first.cpuModel}${first.quick ? ' (quick)' : ''}`, ''] : [];
  for (const result of results) {
    lines.push(`${result.name} (${result.seconds} s)`);
    lines.push(`  engine    ${formatFigures(result.figures)}`);
    lines.push(`  baseline  ${formatFigures(result.baseline)}`);
    lines.push(`  ratios    ${formatFigures(result.ratios)}`);
    for (const text of Object.values(result.goals ?? {})) lines.push(`  goal      ${text}`);
    lines.push('');
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      smoke: { type: 'boolean', default: false },
      only: { type: 'string' },
      events: { type: 'string' },
      out: { type: 'string', default: fileURLToPath(new URL('./results.json', import.meta.url)) },
    },
  });
  const only = values.only?.split(',').map((name) => name.trim());
  const unknown = only?.filter((name) => !SCENARIOS.some((scenario) => scenario.name === name)) ?? [];
  if (unknown.length > 0) {
    console.error(`unknown scenario(s): ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.name).join(', ')}`);
    process.exit(2);
  }
  const selected = SCENARIOS.filter((scenario) => !only || only.includes(scenario.name));
  const smoke = values.smoke ?? false;
  const events = values.events === undefined ? undefined : Number(values.events);
  if (events !== undefined && !(Number.isInteger(events) && events > 0)) {
    console.error(`--events wants a positive integer, got '${values.events}'`);
    process.exit(2);
  }
  const quick = (values.quick ?? false) || smoke;
  const log = (line: string): void => {
    process.stderr.write(`${line}\n`);
  };
  const servers = await startBenchServers();
  const results: BenchResult[] = [];
  const cpus = os.cpus();
  try {
    for (const scenario of selected) {
      log(`${scenario.name}…`);
      const started = performance.now();
      const result = await scenario.run({ servers, quick, smoke, log, ...(events !== undefined ? { events } : {}) });
      results.push({
        ...result,
        node: process.version,
        cpus: cpus.length,
        cpuModel: cpus[0]?.model.trim() ?? 'unknown',
        quick,
        seconds: Math.round((performance.now() - started) / 100) / 10,
        date: new Date().toISOString(),
      });
    }
  } finally {
    await servers.close();
  }
  writeFileSync(values.out as string, `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`${formatResults(results)}results written to ${values.out}\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
