// Host liveness across real daemons (SPEC §5 `hosts`, docs/GOSSIP.md "Host reports"): two daemons
// gossiping through forwarders the test cuts and heals, with short intervals (anti-entropy every
// 200 ms, so a heartbeat every 1 s and a host stale after 3 s silent). A quiet host's `heardAt`
// moves on while its `at` stays; cut off, the other host's entry goes stale within 3 s; healed,
// it is fresh again.
import t from 'tap';
import { HEARTBEAT_ROUNDS, STALE_BEATS } from '../../src/gossip/host-reports.js';
import type { RpcClient } from '../../src/rpc/client.js';
import { startGossipDaemon } from '../helpers/daemon.js';
import { gossipPair } from '../helpers/gossip-pair.js';
import { until } from '../helpers/poll.js';

const ANTI_ENTROPY_MS = 200;
const STALE_MS = STALE_BEATS * HEARTBEAT_ROUNDS * ANTI_ENTROPY_MS;

interface Host {
  nodeId: string;
  state: string;
  at: string;
  heardAt: string | null;
  stale?: boolean;
  lastState?: string;
}

const hostOn = async (c: RpcClient, id: string, nodeId: string): Promise<Host | undefined> =>
  ((await c.call('peering.get', { id })) as { hosts: Host[] }).hosts.find((h) => h.nodeId === nodeId);

t.test('a cut-off host goes stale within 3 heartbeats, and is fresh again once the link heals', async (t) => {
  const dir = t.testdir();
  const { secretFile, toA, toB } = await gossipPair(t, dir);
  const gossip = (peer: number) => ({ peers: [`ws://127.0.0.1:${peer}`], secretFile, antiEntropyIntervalMs: ANTI_ENTROPY_MS });
  const a = await startGossipDaemon(t, { config: { nodeId: 'hv-a', gossip: gossip(toB.port) } });
  toA.setTarget(a.gossipPort);
  const b = await startGossipDaemon(t, { config: { nodeId: 'hv-b', gossip: gossip(toA.port) } });
  toB.setTarget(b.gossipPort);
  const [ca, cb] = [await a.admin(), await b.admin()];
  await ca.call('vpc.create', { id: 'v1', tenantId: 't1', cidrs: ['10.1.0.0/16'], bridge: 'br1' });
  await ca.call('vpc.create', { id: 'v2', tenantId: 't1', cidrs: ['10.2.0.0/16'], bridge: 'br2' });
  const { id } = (await ca.call('peering.create', { requesterVpcId: 'v1', accepterVpcId: 'v2' })) as { id: string };

  const replicated = await until(async () => ((await cb.call('peering.list', {})) as { items: unknown[] }).items.length === 1, 10_000, 20);
  t.ok(replicated.ok, `the peering reached hv-b in ${replicated.ms} ms`);
  const fresh = (h: Host | undefined): boolean => h !== undefined && h.state === 'disabled' && h.heardAt !== null && h.stale === undefined;
  const heard = await until(async () => fresh(await hostOn(cb, id, 'hv-a')), 10_000, 20);
  t.ok(heard.ok, `hv-b hears hv-a's report and heartbeat in ${heard.ms} ms`);
  const first = (await hostOn(cb, id, 'hv-a'))!;
  const own = (await hostOn(cb, id, 'hv-b'))!;
  t.equal(Date.parse(own.heardAt!) >= Date.parse(first.heardAt!), true, 'this host\'s own entry is heard from now');

  const beat = await until(async () => {
    const h = await hostOn(cb, id, 'hv-a');
    return h !== undefined && Date.parse(h.heardAt!) > Date.parse(first.heardAt!);
  }, 3 * HEARTBEAT_ROUNDS * ANTI_ENTROPY_MS, 20);
  t.ok(beat.ok, `a quiet host's heardAt moves on (${beat.ms} ms later)...`);
  t.equal((await hostOn(cb, id, 'hv-a'))!.at, first.at, '...while its at, the last change of its data plane, stays');

  toA.cut();
  toB.cut();
  const cutAt = Date.now();
  const stale = await until(async () => (await hostOn(cb, id, 'hv-a'))?.stale === true, STALE_MS + 2000, 20);
  t.ok(stale.ok, `cut off: hv-a is stale on hv-b after ${stale.ms} ms`);
  t.ok(stale.ms <= STALE_MS + 1000, `within ${STALE_MS} ms of the cut (a poll under load aside)`);
  const seen = (await hostOn(cb, id, 'hv-a'))!;
  t.match(seen, { state: 'unknown', lastState: 'disabled', at: first.at }, 'unknown, with its last state and report time');
  t.ok(Date.now() - Date.parse(seen.heardAt!) > STALE_MS && Date.parse(seen.heardAt!) <= cutAt, 'heardAt: before the cut, longer ago than the stale time');
  t.equal((await hostOn(ca, id, 'hv-b'))?.stale, true, 'and alike the other way');

  toA.heal();
  toB.heal();
  const back = await until(async () => fresh(await hostOn(cb, id, 'hv-a')) && fresh(await hostOn(ca, id, 'hv-b')), 40_000, 20);
  t.ok(back.ok, `healed: both fresh again ${back.ms} ms after the heal (the redial backoff included)`);
});
