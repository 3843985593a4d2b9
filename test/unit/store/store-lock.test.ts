import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { acquireStoreLock } from '../../../src/store/store-lock.js';
import { until } from '../../helpers/poll.js';

t.test('takes a free lock and releases it', async (t) => {
  const path = join(t.testdir(), 'state.json.lock');
  const lock = await acquireStoreLock(path);
  t.equal(readFileSync(path, 'utf8').trim(), String(process.pid));
  await lock.release();
  t.notOk(existsSync(path));
});

t.test('refuses a lock held by a live process', async (t) => {
  const path = join(t.testdir(), 'state.json.lock');
  writeFileSync(path, `${process.ppid}\n`); // our parent is alive while we run
  await t.rejects(acquireStoreLock(path), /holds the store lock/);
});

t.test('takes over a lock left by a dead process', async (t) => {
  const path = join(t.testdir(), 'state.json.lock');
  const dead = spawnSync(process.execPath, ['-e', '']).pid;
  t.ok(dead, 'a pid that has exited');
  writeFileSync(path, `${dead}\n`);
  const lock = await acquireStoreLock(path);
  t.equal(readFileSync(path, 'utf8').trim(), String(process.pid));
  await lock.release();
});

t.test('takes over a lock whose holder is a zombie (exited, not yet reaped)', async (t) => {
  const path = join(t.testdir(), 'state.json.lock');
  // sh starts `sleep 0` in the background, prints its pid and becomes `sleep 30`, which never
  // reaps it: the sleep 0 stays a zombie of that process, which process.kill(pid, 0) still finds.
  const parent = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(async () => {
    if (parent.exitCode !== null || parent.signalCode !== null) return;
    const exited = once(parent, 'exit');
    parent.kill('SIGKILL'); // by its pid; init then reaps the zombie
    await exited;
  });
  const [line] = (await once(parent.stdout, 'data')) as [Buffer];
  const zombie = Number.parseInt(line.toString(), 10);
  const state = (): string => readFileSync(`/proc/${zombie}/stat`, 'utf8').replace(/^.*\) /s, '')[0] ?? '';
  t.ok((await until(async () => state() === 'Z', 5000)).ok, `process ${zombie} is a zombie (its state: ${state()})`);
  t.doesNotThrow(() => process.kill(zombie, 0), 'kill(pid, 0) still succeeds on it');
  writeFileSync(path, `${zombie}\n`);
  const lock = await acquireStoreLock(path);
  t.equal(readFileSync(path, 'utf8').trim(), String(process.pid), 'the lock is taken over');
  await lock.release();
});
