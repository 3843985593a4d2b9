// Issue 9, fault 8, with a real full disk: the daemon's store lives on a small tmpfs mounted by
// this test (it needs root, and fails loudly without it). A write the disk refuses is answered
// 503 and is never visible to reads; status.store.state says degraded; once space returns the
// store recovers by itself (no restart) and takes writes again; after a kill -9 the files hold
// exactly the acknowledged writes.
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { RpcClientError } from '../../src/rpc/client.js';
import { type DaemonHandle, startDaemon } from '../helpers/daemon.js';

interface StoreStatus {
  store: { state: string; lastError: string | null; recoveries: number };
}

/** Fills the filesystem that holds `file` until it refuses (ENOSPC); returns the bytes written. */
function fill(file: string): number {
  const chunk = Buffer.alloc(4096, 0x61);
  let bytes = 0;
  for (;;) {
    try {
      appendFileSync(file, chunk);
      bytes += chunk.length;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOSPC') return bytes;
      throw err;
    }
  }
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

t.test('disk full: refused writes are not visible, and the store recovers once space returns', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vpc-peerd-diskfull-'));
  const storeDir = join(dir, 'store');
  mkdirSync(storeDir);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k,mode=0750', 'tmpfs', storeDir], { stdio: 'pipe' });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`this test mounts a tmpfs and needs root (CAP_SYS_ADMIN): mount failed: ${String((err as { stderr?: Buffer }).stderr ?? err)}`, { cause: err });
  }
  const running: { daemon?: DaemonHandle } = {};
  t.teardown(async () => {
    await running.daemon?.kill('SIGKILL'); // the journal must be closed before the unmount
    try {
      execFileSync('umount', [storeDir], { stdio: 'pipe' });
    } catch {
      execFileSync('umount', ['-l', storeDir], { stdio: 'pipe' });
    }
    rmSync(dir, { recursive: true, force: true });
  });

  const d = await startDaemon(t, { dir, config: { store: { path: './store/state.json' } } });
  running.daemon = d;
  const admin = await d.admin();
  const create = (id: string): Promise<unknown> => admin.call('vpc.create', { id, tenantId: 'acme', cidrs: ['10.0.0.0/16'], bridge: `b-${id}` });
  const acked: string[] = [];
  for (let i = 0; i < 5; i++) {
    await create(`before-${i}`);
    acked.push(`before-${i}`);
  }

  const filler = join(storeDir, 'filler');
  t.ok(fill(filler) > 0, 'the tmpfs is full');
  // The journal's last page may still have room for a few lines: write until the disk refuses.
  let refused: string | undefined;
  for (let i = 0; i < 200 && refused === undefined; i++) {
    const id = `full-${i}`;
    try {
      await create(id);
      acked.push(id);
    } catch (err) {
      t.ok(err instanceof RpcClientError && err.code === 503 && (err.data as { reason?: string }).reason === 'UNAVAILABLE', `503 UNAVAILABLE: ${(err as Error).message}`);
      refused = id;
    }
  }
  if (refused === undefined) throw new Error('the full disk never refused a write');
  const status = (await admin.call('status', {})) as StoreStatus;
  t.match(status.store, { state: /^(degraded|recovering)$/, lastError: /ENOSPC|no space/i }, 'status.store says why writes are refused');
  await t.rejects(admin.call('vpc.get', { id: refused }), { code: 404 }, 'the refused VPC is not visible');
  t.notOk(((await admin.call('vpc.list', {})) as { items: { id: string }[] }).items.some((v) => v.id === refused), 'nor listed');
  t.match(d.logs(), /"level":"error"[^\n]*journal failed/, 'the failure is logged');

  rmSync(filler);
  const recovered = await until('the store recovers', async () => {
    const s = ((await admin.call('status', {})) as StoreStatus).store;
    return s.state === 'ok' ? s : undefined;
  });
  t.match(recovered, { recoveries: 1, lastError: null }, 'recovered by itself, without a restart');
  t.match(d.logs(), /store: recovered/);
  await create(refused);
  acked.push(refused);
  t.pass('writes are taken again (the refused one can be retried)');

  await d.kill('SIGKILL');
  await d.restart();
  const again = await d.admin();
  const stored = ((await again.call('vpc.list', {})) as { items: { id: string }[] }).items.map((v) => v.id).sort();
  t.same(stored, [...acked].sort(), 'after kill -9 the files hold exactly the acknowledged writes');
});
