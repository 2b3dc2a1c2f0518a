/**
 * Summarises a V8 `.cpuprofile` (from `node --cpu-prof`): the functions with the most self time,
 * and the share of time per area (engine source, got, node internals, …).
 *
 *   node --cpu-prof --cpu-prof-dir=bench/profiles --import tsx bench/run.ts --only throughput
 *   npx tsx bench/profile-summary.ts bench/profiles/<file>.cpuprofile [top]
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** Groups a script URL into a readable area. */
export function areaOf(url: string): string {
  if (url === '') return '(native/vm)';
  if (url.includes('/src/')) return `twinlink ${url.slice(url.indexOf('/src/') + 1).split('/').slice(0, 2).join('/')}`;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1] as string;
  if (url.startsWith('node:')) return 'node internals';
  if (url.includes('/bench/')) return 'bench harness';
  return url;
}

/** Self time per function and per area, in ms. */
export function summarise(profile: CpuProfile): { functions: [string, number][]; areas: [string, number][]; totalMs: number } {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const self = new Map<number, number>();
  profile.samples.forEach((id, index) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0) / 1000));
  const functions = new Map<string, number>();
  const areas = new Map<string, number>();
  let totalMs = 0;
  for (const [id, ms] of self) {
    const node = byId.get(id);
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)' || functionName === '(program)') continue;
    totalMs += ms;
    const file = url.replace(/^.*\/(node_modules|src|bench)\//, '$1/');
    const key = `${functionName || '(anonymous)'}  ${file}:${lineNumber + 1}`;
    functions.set(key, (functions.get(key) ?? 0) + ms);
    const area = functionName === '(garbage collector)' ? '(garbage collector)' : areaOf(url);
    areas.set(area, (areas.get(area) ?? 0) + ms);
  }
  const sorted = (map: Map<string, number>): [string, number][] => [...map].sort((a, b) => b[1] - a[1]);
  return { functions: sorted(functions), areas: sorted(areas), totalMs };
}

if (process.argv[1]?.endsWith('profile-summary.ts')) {
  const [file, top = '25'] = process.argv.slice(2);
  if (!file) {
    console.error('usage: tsx bench/profile-summary.ts <file.cpuprofile> [top]');
    process.exit(2);
  }
  const { functions, areas, totalMs } = summarise(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile);
  const pct = (ms: number): string => `${((100 * ms) / totalMs).toFixed(1).padStart(5)}%`;
  console.log(`busy (non-idle) time: ${totalMs.toFixed(0)} ms\n\nby area:`);
  for (const [area, ms] of areas.slice(0, 15)) console.log(`  ${pct(ms)}  ${area}`);
  console.log(`\ntop ${top} functions by self time:`);
  for (const [name, ms] of functions.slice(0, Number(top))) console.log(`  ${pct(ms)}  ${name}`);
}
