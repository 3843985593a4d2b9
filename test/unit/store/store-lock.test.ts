import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { acquireStoreLock } from '../../../src/store/store-lock.js';

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
