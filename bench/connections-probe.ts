/**
 * Runs `bench/connections-worker.ts` in a fresh `node --expose-gc` process and caches the result per
 * connection count, so the routing and memory scenarios share the expensive 10,000-connection run.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ConnectionsProbe } from './connections-worker.ts';

const WORKER = fileURLToPath(new URL('./connections-worker.ts', import.meta.url));
const cache = new Map<string, Promise<ConnectionsProbe>>();

/** Measures an engine with `connections` idle connections (plus one matching) in its own process. */
export function probeConnections(connections: number, events: number, origin: string): Promise<ConnectionsProbe> {
  const key = `${connections}/${events}`;
  let probe = cache.get(key);
  if (!probe) {
    probe = new Promise<ConnectionsProbe>((resolve, reject) => {
      execFile(
        process.execPath,
        ['--expose-gc', '--import', 'tsx', WORKER, String(connections), String(events), origin],
        { maxBuffer: 1 << 20, timeout: 300_000 },
        (error, stdout, stderr) => {
          if (error) {
            reject(new Error(`connections worker failed: ${error.message}\n${stderr}`));
            return;
          }
          const line = stdout.trim().split('\n').pop() ?? '';
          resolve(JSON.parse(line) as ConnectionsProbe);
        },
      );
    });
    cache.set(key, probe);
  }
  return probe;
}
