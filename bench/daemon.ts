// The real daemon process (dist/src/main.js) for the benchmarks: started on a config in `dir`,
// logged in as the operator; stop() sends SIGTERM and kills it if it has not exited in 30 s.
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connectClient, type RpcClient } from '../src/rpc/client.js';

const MAIN = new URL('../src/main.js', import.meta.url).pathname;
const UP_WITHIN_MS = 15_000;
const STOP_WITHIN_MS = 30_000;

export interface BenchDaemon {
  readonly client: RpcClient;
  stop(): Promise<void>;
}

/** Starts the daemon with its socket, store and token in `dir`; `config` adds to (or replaces) the defaults. */
export async function startBenchDaemon(dir: string, config: Record<string, unknown>, clientTimeoutMs: number): Promise<BenchDaemon> {
  const configPath = join(dir, 'config.json');
  await writeFile(
    configPath,
    JSON.stringify({
      nodeId: 'bench',
      socket: { path: './d.sock' },
      store: { path: './state.json' },
      auth: { adminTokenFile: './admin.token' },
      log: { level: 'warn' },
      ...config,
    }),
  );
  const child = spawn(process.execPath, [MAIN, '--config', configPath], { stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const kill = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, STOP_WITHIN_MS).unref())]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  const deadline = Date.now() + UP_WITHIN_MS;
  for (;;) {
    try {
      const client = await connectClient(join(dir, 'd.sock'), { timeoutMs: clientTimeoutMs });
      await client.call('auth.login', { token: (await readFile(join(dir, 'admin.token'), 'utf8')).trim() });
      let stopping: Promise<void> | null = null;
      return {
        client,
        // Once, however often it is called (the bench's own call and its teardown).
        stop: () => (stopping ??= client.close().then(kill)),
      };
    } catch (err) {
      if (Date.now() > deadline || child.exitCode !== null) {
        await kill();
        throw new Error(`the daemon did not come up: ${(err as Error).message}`, { cause: err });
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
