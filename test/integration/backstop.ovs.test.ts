// Issue 12, part 2: in steady state the daemon starts no ovs-ofctl process but the backstop's
// one `dump-flows` per bridge per `ovs.reconcileIntervalMs`, those reads spread over the
// interval (counted by an ovs-ofctl shim first on the daemon's PATH, against a real OVS).
import t from 'tap';
import type { RpcClient } from '../../src/rpc/client.js';
import { startDaemon } from '../helpers/daemon.js';
import { ofctlShim } from '../helpers/ofctl-shim.js';
import { startOvs } from '../helpers/ovs.js';
import { until } from '../helpers/poll.js';

const INTERVAL_MS = 1_200;
const ROUNDS = 3;

t.test('steady state: one dump-flows per bridge per interval, in turn, and no other ovs-ofctl', async (t) => {
  const sb = await startOvs(t, { name: 'backstop' });
  const bridges = [await sb.addBridge('a'), await sb.addBridge('b'), await sb.addBridge('c')];
  const shim = ofctlShim(t);
  const d = await startDaemon(t, {
    config: { ovs: { enabled: true, rundir: sb.rundir, reconcileIntervalMs: INTERVAL_MS } },
    env: { PATH: shim.path },
  });
  const admin: RpcClient = await d.admin();
  const call = <T>(method: string, params: Record<string, unknown> = {}): Promise<T> => admin.call(method, params) as Promise<T>;
  for (const [i, bridge] of bridges.entries()) await call('vpc.create', { id: `vpc-${i}`, tenantId: 'acme', cidrs: [`10.${i}.0.0/16`], bridge });
  const id = (await call<{ id: string }>('peering.create', { requesterVpcId: 'vpc-0', accepterVpcId: 'vpc-1' })).id;
  await call('peering.accept', { id });
  type Ovs = { channelsSynced: number; channelDisagreements: number; lastReconcileAt: string | null };
  const ovs = async (): Promise<Ovs> => (await call<{ ovs: Ovs }>('status')).ovs;
  const programmed = await until(async () => (await call<{ dataplane: { state: string } }>('peering.get', { id })).dataplane.state === 'programmed', 10_000);
  t.ok(programmed.ok, 'programmed');
  t.ok((await until(async () => (await ovs()).channelsSynced === 3, 10_000)).ok, 'every channel synced');

  const sorted = [...bridges].sort();
  const dumpsOf = (bridge: string): number => shim.calls().filter((l) => l.startsWith('dump-flows') && l.split(' ').includes(bridge)).length;
  // A window that starts half a slot after a read of the first bridge holds no read on its edges.
  const before = dumpsOf(sorted[0] as string);
  const first = await until(async () => dumpsOf(sorted[0] as string) > before, 3 * INTERVAL_MS, 5);
  t.ok(first.ok, 'the backstop reads the first bridge');
  const slot = INTERVAL_MS / bridges.length;
  await new Promise((r) => setTimeout(r, slot / 2));
  const from = shim.calls().length;
  const at = (await ovs()).lastReconcileAt;
  await new Promise((r) => setTimeout(r, ROUNDS * INTERVAL_MS));
  const calls = shim.calls().slice(from);
  t.same(calls.filter((l) => !l.startsWith('dump-flows')), [], 'nothing but dump-flows');
  const per = sorted.map((b) => calls.filter((l) => l.split(' ').includes(b)).length);
  t.same(per, sorted.map(() => ROUNDS), `${ROUNDS} intervals: one dump per bridge per interval (${calls.length} calls)`);
  const order = calls.map((l) => sorted.find((b) => l.split(' ').includes(b)));
  t.same(order, Array.from({ length: calls.length }, (_, i) => sorted[(i + 1) % sorted.length]), 'one bridge after another, in turn');
  const last = await ovs();
  t.not(last.lastReconcileAt, at, 'the pass over everything still runs and is reported');
  t.equal(last.channelDisagreements, 0, 'the dumps agree with the channels’ tables');
});
