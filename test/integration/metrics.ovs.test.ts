// Metrics and sd_notify against a real private Open vSwitch: flows per bridge follow what the
// daemon programs, drift repairs are counted, reconcile durations are observed, and STATUS=
// reports the bridges.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startDaemon } from '../helpers/daemon.js';
import { listenNotify } from '../helpers/notify-socket.js';
import { startOvs } from '../helpers/ovs.js';

interface Families {
  families: { name: string; samples: { labels: Record<string, string>; value?: number; histogram?: { count: number } }[] }[];
}

const value = (m: Families, name: string, labels: Record<string, string> = {}): number | undefined => {
  const s = m.families
    .find((f) => f.name === name)
    ?.samples.find((x) => Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  return s?.value ?? s?.histogram?.count;
};

async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = await probe();
    if (got !== undefined && got !== false) return got;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

t.test('flows per bridge, drift repairs and reconcile durations from a real OVS', async (t) => {
  const sb = await startOvs(t, { name: 'metrics' });
  const brA = await sb.addBridge('a');
  const brB = await sb.addBridge('b');
  const d = await startDaemon(t, { config: { ovs: { enabled: true, rundir: sb.rundir, reconcileIntervalMs: 200 } } });
  const admin = await d.admin();
  const metrics = async (): Promise<Families> => (await admin.call('metrics', {})) as Families;

  await admin.call('vpc.create', { id: 'vpc-a', tenantId: 'acme', cidrs: ['10.0.0.0/16'], bridge: brA });
  await admin.call('vpc.create', { id: 'vpc-b', tenantId: 'acme', cidrs: ['10.1.0.0/16'], bridge: brB });
  const { id } = (await admin.call('peering.create', { requesterVpcId: 'vpc-a', accepterVpcId: 'vpc-b' })) as { id: string };
  await admin.call('peering.accept', { id });
  await until('programmed', async () => ((await admin.call('peering.get', { id })) as { dataplane: { state: string } }).dataplane.state === 'programmed');

  const ours = async (bridge: string): Promise<number> =>
    (await sb.ofctl('dump-flows', bridge, 'cookie=0x5ee0000000000000/0xffff000000000000')).split('\n').filter((l) => l.includes('cookie=')).length;
  const m = await until('flow gauges', async () => {
    const got = await metrics();
    return (value(got, 'vpc_peerd_bridge_flows', { bridge: brA }) ?? 0) > 1 ? got : undefined;
  });
  t.equal(value(m, 'vpc_peerd_bridge_flows', { bridge: brA }), await ours(brA), 'flows on bridge a, as OVS has them');
  t.equal(value(m, 'vpc_peerd_bridge_flows', { bridge: brB }), await ours(brB), 'flows on bridge b');
  t.equal(value(m, 'vpc_peerd_ovs_state', { state: 'enabled' }), 1);
  t.ok((value(m, 'vpc_peerd_reconcile_duration_seconds') ?? 0) >= 1, 'reconcile durations observed');
  t.ok((value(m, 'vpc_peerd_reconcile_cycles_total') ?? 0) >= 1);

  const before = value(m, 'vpc_peerd_drift_repaired_flows_total') ?? 0;
  await sb.ofctl('del-flows', brA, 'cookie=0x5ee0000000000000/0xffff000000000000');
  const repaired = await until('drift repaired', async () => {
    const got = await metrics();
    return (value(got, 'vpc_peerd_drift_repaired_flows_total') ?? 0) > before ? got : undefined;
  });
  t.ok((value(repaired, 'vpc_peerd_drift_repaired_flows_total') ?? 0) > before, 'drift repair counted');
  t.equal(value(repaired, 'vpc_peerd_bridge_flows', { bridge: brA }), await ours(brA), 'the gauge follows the repair');
});

t.test('STATUS= names the bridges once READY', async (t) => {
  const sb = await startOvs(t, { name: 'notify' });
  await sb.addBridge('a');
  const dir = mkdtempSync(join(tmpdir(), 'vpc-peerd-notify-ovs-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const notify = await listenNotify(t, dir);
  await startDaemon(t, { dir, config: { ovs: { enabled: true, rundir: sb.rundir } }, env: { NOTIFY_SOCKET: notify.path } });
  const ready = await notify.waitFor('READY');
  t.match(ready.fields.STATUS, /^serving; OVS 1 bridge; store ok$/);
});
