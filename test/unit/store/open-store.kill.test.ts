// SPEC §10 at store level: every commit acknowledged before a SIGKILL is there after a restart.
// A child process (test/helpers/store-writer.ts) commits in a loop and prints each acknowledged
// peering; the test kills it mid-stream, reopens the store and looks for every one of them. The
// child compacts every few kilobytes, so kills also land inside compactions.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { silentLogger } from '../../../src/log/logger.js';
import { openStore } from '../../../src/store/open-store.js';
import { peeringId } from '../../helpers/store-records.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const writer = join(root, 'test/helpers/store-writer.ts');
const tsLoader = import.meta.resolve('@tapjs/typescript/import');

/** Runs the writer until it has acknowledged `killAfter` commits, then SIGKILLs it. */
async function runAndKill(path: string, first: number, killAfter: number): Promise<{ acked: number[]; signal: string | null }> {
  const env = { ...process.env };
  delete env.NODE_OPTIONS; // tap's process-info hook has no business in the child
  // cwd at the project root: the TypeScript loader finds tsconfig.json from there.
  const child = spawn(process.execPath, ['--import', tsLoader, writer, path, String(first)], {
    cwd: root, env, stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = once(child, 'exit');
  const acked: number[] = [];
  for await (const line of createInterface({ input: child.stdout })) {
    if (line === 'ready') continue;
    acked.push(Number(line));
    if (acked.length === killAfter) child.kill('SIGKILL');
  }
  const [, signal] = (await exited) as [number | null, string | null];
  return { acked, signal };
}

t.test('every acknowledged commit survives kill -9', async (t) => {
  const path = join(t.testdir(), 'state.json');
  let first = 1;
  for (const killAfter of [150, 700, 1500]) {
    const { acked, signal } = await runAndKill(path, first, killAfter);
    t.equal(signal, 'SIGKILL', 'killed mid-stream, not exited');
    t.ok(acked.length >= killAfter, `${acked.length} commits acknowledged before the kill`);

    const { store, recovery } = await openStore({ nodeId: 'hv-01', path, logger: silentLogger() });
    const missing = acked.filter((n) => !store.view.getPeering(peeringId(n)));
    t.same(missing, [], `none of ${acked.length} acknowledged commits is missing`);
    t.ok(recovery.droppedTail === null || recovery.droppedTail.savedTo === null, 'at most a torn last write was cut');
    first = Math.max(...acked, first) + 1000;
    await store.close();
  }
});
