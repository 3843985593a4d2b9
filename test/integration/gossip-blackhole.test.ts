// A black-holed gossip peer and a real daemon (issue #10, SPEC §8): one of its gossip.peers
// accepts TCP and never answers, another is an honest daemon behind a forwarder. The daemon
// keeps answering its API, gives the silent peer up at the handshake deadline and redials it,
// replicates with the honest one, and finds the honest one dead by heartbeat when its link is
// black-holed after linking. Only what works is asserted here; what the silent peer costs the
// API in latency is measured by bench/gossip-blackhole.bench.ts.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import type { RpcClient } from '../../src/rpc/client.js';
import { startBlackHole } from '../helpers/black-hole.js';
import { startDaemon, startGossipDaemon } from '../helpers/daemon.js';
import { until } from '../helpers/poll.js';
import { startForwarder } from '../helpers/tcp-forwarder.js';

interface PeerStatus {
  url?: string;
  connected: boolean;
  lastError?: string;
}
const peersOf = async (c: RpcClient): Promise<PeerStatus[]> => ((await c.call('status', {})) as { gossip: { peers: PeerStatus[] } }).gossip.peers;
const peer = async (c: RpcClient, url: string): Promise<PeerStatus | undefined> => (await peersOf(c)).find((p) => p.url === url);

t.test('a peer that accepts TCP and never answers: the API keeps answering, the peer is given up and redialled', async (t) => {
  const dir = t.testdir();
  const secretFile = join(dir, 'gossip.secret');
  writeFileSync(secretFile, randomBytes(48).toString('hex'), { mode: 0o600 });
  const hole = await startBlackHole();
  t.teardown(() => hole.close());
  const b = await startGossipDaemon(t, { config: { nodeId: 'hv-b', gossip: { secretFile } } });
  const toB = await startForwarder(b.gossipPort);
  t.teardown(() => toB.close());
  const holeUrl = `ws://127.0.0.1:${hole.port}`;
  const bUrl = `ws://127.0.0.1:${toB.port}`;

  const startedAt = Date.now();
  const a = await startDaemon(t, { config: { nodeId: 'hv-a', gossip: { listen: null, peers: [holeUrl, bUrl], secretFile, antiEntropyIntervalMs: 200 } } });
  const [ca, cb] = [await a.admin(), await b.admin()];

  const linked = await until(async () => (await peer(ca, bUrl))?.connected === true, 10_000);
  t.ok(linked.ok, `linked to the honest peer in ${linked.ms} ms, the silent one notwithstanding`);
  await ca.call('vpc.create', { id: 'v1', tenantId: 't1', cidrs: ['10.1.0.0/16'], bridge: 'br1' });
  const replicated = await until(async () => ((await cb.call('vpc.list', {})) as { items: unknown[] }).items.length === 1, 5000);
  t.ok(replicated.ok, `a change reaches the honest peer in ${replicated.ms} ms`);

  // While the dial to the silent peer hangs: every call answers (each within the client's timeout).
  for (let i = 0; i < 300; i++) await ca.call(i % 2 ? 'status' : 'vpc.get', i % 2 ? {} : { id: 'v1' });
  t.pass('300 API calls answered while the silent peer was being dialled');

  // The handshake deadline is 5 s: the silent peer is given up (an error in status), and dialled again.
  const givenUp = await until(async () => {
    const p = await peer(ca, holeUrl);
    return p !== undefined && !p.connected && p.lastError !== undefined;
  }, 9000 - (Date.now() - startedAt), 50);
  t.ok(givenUp.ok, `the silent peer is reported not connected, with its error, ${Date.now() - startedAt} ms after the daemon started`);
  t.notOk((await peer(ca, holeUrl))?.connected, 'never connected');
  t.match((await peer(ca, holeUrl))?.lastError, /^the handshake did not finish within 5000 ms/, 'its error says what happened');
  const redialled = await until(async () => hole.accepted() >= 2, 5000, 50);
  t.ok(redialled.ok, `redialled (${hole.accepted()} connections accepted by the silent peer)`);
  t.ok((await peer(ca, bUrl))?.connected, 'the honest peer stays linked');

  // The honest peer goes silent after linking: the heartbeat (1 s) finds it within two beats.
  toB.blackHole();
  const holed = Date.now();
  const dead = await until(async () => (await peer(ca, bUrl))?.connected === false, 4000, 20);
  t.ok(dead.ok, `the black-holed link is reported not connected after ${Date.now() - holed} ms (heartbeat 1 s)`);
  // Either side's heartbeat may fire first (the forwarder passes a close on), so one of them counts it.
  const deadPeers = async (c: RpcClient): Promise<number> => ((await c.call('status', {})) as { gossip: { totals: { refusals: { DEAD_PEER?: number } } } }).gossip.totals.refusals.DEAD_PEER ?? 0;
  t.ok((await deadPeers(ca)) + (await deadPeers(cb)) >= 1, 'counted as DEAD_PEER by the side whose heartbeat found it');
  await ca.call('vpc.create', { id: 'v2', tenantId: 't1', cidrs: ['10.2.0.0/16'], bridge: 'br2' });
  toB.heal();
  const back = await until(async () => ((await cb.call('vpc.list', {})) as { items: unknown[] }).items.length === 2, 15_000, 50);
  t.ok(back.ok, `healed: relinked and caught up in ${back.ms} ms`);
});
