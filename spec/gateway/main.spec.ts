import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';

interface Run { code: number | null; stdout: string; stderr: string }

function runCli(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/gateway/main.ts', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('twinlink CLI', () => {
  let dir: string;
  before(async () => (dir = await mkdtemp(join(tmpdir(), 'twinlink-cli-'))));
  after(() => rm(dir, { recursive: true, force: true }));

  it('--check accepts the default config/twinlink.yaml', async () => {
    const run = await runCli(['--check']);
    expect(run).to.deep.include({ code: 0, stdout: 'config OK: 1 connection\n', stderr: '' });
  });

  it('--check with an invalid config exits 2 with the loader\'s messages and no stack trace', async () => {
    const file = join(dir, 'bad.yaml');
    await writeFile(file, 'http:\n  port: nope\nbogus: 1\n');
    const run = await runCli(['--check', '--config', file]);
    expect(run.code).to.equal(2);
    expect(run.stdout).to.equal('');
    expect(run.stderr).to.include(`${file}:2:9 http.port:`).and.include(`${file}:3:1 bogus: unknown key "bogus"`);
    expect(run.stderr).to.not.match(/\n\s+at /);
  });

  it('takes the config path from TWINLINK_CONFIG', async () => {
    const file = join(dir, 'empty.yaml');
    await writeFile(file, 'connections: []\n');
    const run = await runCli(['--check'], { TWINLINK_CONFIG: file });
    expect(run).to.deep.include({ code: 0, stdout: 'config OK: 0 connections\n' });
  });

  it('exits 2 with usage for unknown flags and a missing file', async () => {
    const flag = await runCli(['--frobnicate']);
    expect(flag.code).to.equal(2);
    expect(flag.stderr).to.include('usage: twinlink');
    const missing = await runCli(['--check', '--config', join(dir, 'absent.yaml')]);
    expect(missing.code).to.equal(2);
    expect(missing.stderr).to.include('cannot read the configuration file');
  });
});
