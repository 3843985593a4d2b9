// Mutual TLS under the HMAC handshake (SPEC §8, gossip.tls), with real daemon processes and
// certificates from a CA made by openssl for this test: two daemons of one CA replicate over
// wss://; a daemon whose certificate another CA signed, holding the right HMAC key, never gets a
// link (refused in TLS, said in its status and in the log of the host it dialled), and nothing
// moves either way; a plain ws:// dialler is refused too.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import type { RpcClient } from '../../src/rpc/client.js';
import { startGossipDaemon } from '../helpers/daemon.js';
import { createTestCa } from '../helpers/pki.js';
import { until } from '../helpers/poll.js';
import WebSocket from 'ws';

type Peer = { url?: string; connected: boolean; lastError?: string };
const peersOf = async (c: RpcClient): Promise<Peer[]> => ((await c.call('status', {})) as { gossip: { peers: Peer[] } }).gossip.peers;
const vpcIds = async (c: RpcClient): Promise<string[]> => ((await c.call('vpc.list', {})) as { items: { id: string }[] }).items.map((v) => v.id).sort();

t.test('gossip over mutual TLS: one CA links, another CA and plain ws are refused', async (t) => {
  const dir = t.testdir();
  const secretFile = join(dir, 'gossip.secret');
  writeFileSync(secretFile, randomBytes(48).toString('hex'), { mode: 0o600 });
  const ca = await createTestCa(dir, 'cloud-ca');
  const rogue = await createTestCa(dir, 'rogue-ca');
  const gossip = (peers: number[], tls: unknown) => ({ peers: peers.map((p) => `wss://127.0.0.1:${p}`), secretFile, antiEntropyIntervalMs: 200, tls });
  // Each daemon listens on a port it picks (startGossipDaemon), so only one dialled before it can
  // be told where: b and c dial a; mutual TLS checks both ends' certificates on that one link.
  const a = await startGossipDaemon(t, { config: { nodeId: 'hv-a', gossip: gossip([], await ca.issue('hv-a')) } });
  const portA = a.gossipPort;
  const b = await startGossipDaemon(t, { config: { nodeId: 'hv-b', gossip: gossip([portA], await ca.issue('hv-b')) } });
  const [ca1, cb] = [await a.admin(), await b.admin()];
  await ca1.call('vpc.create', { id: 'v1', tenantId: 't1', cidrs: ['10.1.0.0/16'], bridge: 'br1' });
  const seen = await until(async () => (await vpcIds(cb)).includes('v1'), 10_000);
  t.ok(seen.ok, `replicated over wss:// in ${seen.ms} ms`);
  t.ok((await peersOf(cb)).every((p) => p.connected), 'the link is up');

  // The right HMAC key and a certificate of another CA (trusting the cloud's CA, so only its own certificate is wrong).
  const rogueFiles = { ...(await rogue.issue('hv-c')), caFile: ca.caFile };
  const c = await startGossipDaemon(t, { config: { nodeId: 'hv-c', gossip: gossip([portA], rogueFiles) } });
  const cc = await c.admin();
  await cc.call('vpc.create', { id: 'v9', tenantId: 't1', cidrs: ['10.9.0.0/16'], bridge: 'br9' });
  const refused = await until(async () => (await peersOf(cc)).some((p) => p.lastError !== undefined), 10_000, 50);
  t.ok(refused.ok, `the rogue daemon's dial failed (${refused.ms} ms)`);
  const [peer] = await peersOf(cc);
  t.equal(peer?.connected, false, 'never connected');
  t.match(peer?.lastError, /may not trust this daemon's certificate/, `its status says why: ${peer?.lastError}`);
  const logged = await until(async () => /"msg":"gossip link refused".*"peer":"[^"]*127\.0\.0\.1".*"code":"TLS"/.test(a.logs()), 5000);
  t.ok(logged.ok, 'the host it dialled logged the TLS refusal with the address');

  // Plain WebSocket at a TLS listener: no TLS handshake, no link.
  const plain = new WebSocket(`ws://127.0.0.1:${portA}`);
  const outcome = await new Promise<string>((resolve) => {
    plain.on('open', () => resolve('open'));
    plain.on('error', (e) => resolve(`error: ${e.message}`));
    plain.on('close', () => resolve('closed'));
  });
  plain.terminate();
  t.not(outcome, 'open', `a plain ws:// client gets no link (${outcome})`);

  // A further anti-entropy round between a and b ends in sync after all this.
  const syncedAt = async (): Promise<string | undefined> => ((await peersOf(cb))[0] as { lastSyncAt?: string } | undefined)?.lastSyncAt;
  const before = await syncedAt();
  t.ok((await until(async () => (await syncedAt()) !== before, 5000, 50)).ok, 'a and b still in sync');
  t.same(await vpcIds(ca1), ['v1'], 'nothing of the rogue host reached the cluster');
  t.same(await vpcIds(cc), ['v9'], 'nothing of the cluster reached the rogue host');
  t.same(await vpcIds(cb), ['v1']);
});
