import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';

interface Entry {
  name: string;
  figures: Record<string, unknown>;
  baseline: Record<string, unknown>;
  ratios: Record<string, unknown>;
  node: string;
  cpus: number;
  date: string;
}

const SCENARIOS = ['throughput', 'single-flight', 'refresh-under-load', 'routing-scale', 'latency'];

// A tiny run of the real script: proves it completes and writes valid results. No timing is asserted.
describe('npm run bench (smoke run)', function () {
  this.timeout(90_000);
  let dir: string;
  let results: Entry[];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'twinlink-bench-'));
    const out = join(dir, 'results.json');
    await new Promise<void>((resolve, reject) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', 'bench/run.ts', '--smoke', '--only', SCENARIOS.join(','), '--out', out],
        { timeout: 80_000, maxBuffer: 1 << 22 },
        (error, _stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve()),
      );
    });
    results = JSON.parse(readFileSync(out, 'utf8')) as Entry[];
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  it('writes one entry per selected scenario, in order', () => {
    expect(results.map((entry) => entry.name)).to.deep.equal(SCENARIOS);
  });

  it('gives every entry figures, baseline, ratios and the machine it ran on', () => {
    for (const entry of results) {
      expect(Object.keys(entry.figures), entry.name).to.have.length.greaterThan(0);
      expect(Object.keys(entry.baseline), entry.name).to.have.length.greaterThan(0);
      expect(Object.keys(entry.ratios), entry.name).to.have.length.greaterThan(0);
      expect(entry.node).to.equal(process.version);
      expect(entry.cpus).to.be.greaterThan(0);
      expect(Number.isNaN(Date.parse(entry.date))).to.equal(false);
    }
  });

  it('delivers every throughput event with one token request', () => {
    const throughput = results.find((entry) => entry.name === 'throughput');
    expect(throughput?.figures.non2xxResponses).to.equal(0);
    expect(throughput?.figures.tokenRequests).to.equal(1);
  });

  it('serves all events waiting on a cold token cache with a single token request', () => {
    expect(results.find((entry) => entry.name === 'single-flight')?.figures.tokenRequests).to.equal(1);
  });

  it('sends no request with an expired token under load', () => {
    const refresh = results.find((entry) => entry.name === 'refresh-under-load');
    expect(refresh?.figures.requestsWithExpiredToken).to.equal(0);
    expect(refresh?.figures.responses401).to.equal(0);
  });
});
