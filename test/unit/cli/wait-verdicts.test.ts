// What `peering wait` counts as reached, final or still to wait for (trial findings 4 and 8):
// not-local is not final (a bridge created later is picked up at the next interval pass), and
// PEERING_NOT_FOUND is "deleted" only for a peering this wait saw before, never for a typo.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { judge, runCli, type CliIo } from '../../../src/cli/run.js';
import { RpcError } from '../../../src/errors.js';
import { fakeDaemonServer } from '../../helpers/rpc-fakes.js';

const ID = 'pcx-0123456789abcdef0';

/** A daemon whose peering.get answers what `next` gives, call by call (undefined: not found). */
async function daemon(t: Test, next: (call: number) => Record<string, unknown> | undefined): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'peerctl-verdict-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'd.sock');
  let calls = 0;
  const server = fakeDaemonServer(path, {
    'peering.get': (params) => {
      const p = next(calls++);
      if (p === undefined) throw new RpcError('PEERING_NOT_FOUND', `No peering ${String(params.id)}.`);
      return { id: ID, ...p };
    },
  });
  await server.listen();
  t.teardown(() => server.close());
  return path;
}

async function wait(path: string, ...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = { stdout: { write: (s: string) => (out += s), isTTY: false }, stderr: { write: (s: string) => (err += s) }, env: {} };
  const code = await runCli(['--socket', path, '--token', 'alice-token', 'peering', 'wait', ID, ...args], io);
  return { code, out, err };
}

t.test('judge: not-local keeps a --for programmed wait going, and says which way it is not local', async (t) => {
  const v = judge({ status: 'active', dataplane: { state: 'not-local' } }, 'programmed', false);
  t.equal(v.kind, 'waiting');
  t.match(v.state, /data plane not-local \(a bridge of one of its VPCs is not on this host\)/);
  t.notMatch(v.state, /neither/);
});

t.test('judge --all-hosts: a stale host is not done, whatever it last reported', async (t) => {
  const p = (stale: boolean) => ({
    status: 'deleted',
    dataplane: { state: 'inactive' },
    hosts: [{ nodeId: 'hv-1', state: 'inactive' }, { nodeId: 'hv-2', state: 'unknown', ...(stale ? { stale: true, lastState: 'inactive' } : {}) }],
  });
  t.equal(judge(p(false), 'deleted', true).kind, 'reached', 'a host that never saw the peering holds none of its flows');
  const v = judge(p(true), 'deleted', true);
  t.equal(v.kind, 'waiting', 'a host not heard from lately may still hold flows');
  t.match(v.state, /hv-2 unknown \(not heard from lately\)/);
  const active = { status: 'active', dataplane: { state: 'programmed' }, hosts: [{ nodeId: 'hv-1', state: 'programmed' }, { nodeId: 'hv-2', state: 'unknown', stale: true, lastState: 'programmed' }] };
  t.equal(judge(active, 'programmed', true).kind, 'waiting');
});

t.test('peering wait --for programmed waits through not-local until the bridge appears', async (t) => {
  const path = await daemon(t, (n) => ({ status: 'active', dataplane: { state: n < 2 ? 'not-local' : 'programmed' } }));
  const r = await wait(path, '--for', 'programmed', '--timeout', '10');
  t.same([r.code, r.out, r.err], [0, `${ID} is programmed\n`, '']);
});

t.test('peering wait --for programmed times out (1) on a peering that stays not-local', async (t) => {
  const path = await daemon(t, () => ({ status: 'active', dataplane: { state: 'not-local' } }));
  const r = await wait(path, '--for', 'programmed', '--timeout', '0.3');
  t.equal(r.code, 1);
  t.match(r.err, /^error: timed out after 0\.3 s waiting for pcx-0123456789abcdef0 to be programmed; last state: status active, data plane not-local \(a bridge/);
});

t.test('peering wait --for deleted: an id never seen is no success (1)', async (t) => {
  const path = await daemon(t, () => undefined);
  const r = await wait(path, '--for', 'deleted');
  t.equal(r.code, 1);
  t.equal(r.out, '');
  t.match(r.err, /^error: no such peering pcx-0123456789abcdef0 \(PEERING_NOT_FOUND\)/);
});

t.test('peering wait --for deleted: seen, then compacted away, is deleted (0)', async (t) => {
  const path = await daemon(t, (n) => (n === 0 ? { status: 'active', dataplane: { state: 'programmed' } } : undefined));
  const r = await wait(path, '--for', 'deleted', '--timeout', '10');
  t.same([r.code, r.out, r.err], [0, `${ID} is deleted\n`, '']);
});

t.test('peering wait: a peering that can no longer get there says so in one form (1)', async (t) => {
  const expired = await daemon(t, () => ({ status: 'expired', dataplane: { state: 'inactive' } }));
  const r = await wait(expired, '--for', 'deleted');
  t.equal(r.code, 1);
  t.equal(r.err, `error: ${ID} will not become deleted: it is expired (status expired, data plane inactive)\n`);
  const gone = await daemon(t, (n) => (n === 0 ? { status: 'pending-acceptance', dataplane: { state: 'inactive' } } : undefined));
  const g = await wait(gone, '--for', 'active', '--timeout', '10');
  t.equal(g.code, 1);
  t.equal(g.err, `error: ${ID} will not become active: it no longer exists (gone)\n`);
});
