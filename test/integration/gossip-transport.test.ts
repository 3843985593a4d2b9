// Two (or three) in-process gossip transports on loopback, real sockets, every link through a
// forwarder the test can cut, heal or black-hole. The replicas are in memory (MemoryReplica);
// the daemon's wiring to the store comes later.
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { WebSocket, WebSocketServer } from 'ws';
import { HlcClock } from '../../src/domain/hlc.js';
import { liveState } from '../../src/domain/replica.js';
import { StateIndex } from '../../src/domain/state-index.js';
import type { OpContext, PeeringPolicy } from '../../src/domain/types.js';
import { createVpc } from '../../src/domain/vpc-ops.js';
import { GossipEngine } from '../../src/gossip/engine.js';
import { ListenerHandshake, NONCE_BYTES } from '../../src/gossip/handshake.js';
import { MemoryReplica } from '../../src/gossip/memory-replica.js';
import { createTransport, type GossipTransport } from '../../src/gossip/transport.js';
import { createLogger, type Logger, silentLogger } from '../../src/log/logger.js';
import { type Forwarder, startForwarder } from '../helpers/tcp-forwarder.js';

const POLICY: PeeringPolicy = { pendingTtlSeconds: 3600, terminalRetentionSeconds: 3600, maxActivePerVpc: 10 };
const SECRET = randomBytes(32);
/** The actor the operations record (requestedBy, acceptedBy). */
const ACTOR = 'op';

interface Node {
  readonly name: string;
  readonly replica: MemoryReplica;
  readonly engine: GossipEngine;
  readonly transport: GossipTransport;
  port: number | null;
}

async function node(t: Test, name: string, peers: string[], opts: { listen?: boolean; secret?: Buffer; logger?: Logger } = {}): Promise<Node> {
  const replica = new MemoryReplica(new HlcClock(name, Date.now), POLICY);
  const engine = new GossipEngine(replica);
  const transport = createTransport({
    nodeId: name,
    secret: opts.secret ?? SECRET,
    listen: opts.listen === false ? null : { host: '127.0.0.1', port: 0 },
    peers,
    engine,
    logger: opts.logger ?? silentLogger(),
    heartbeatMs: 300,
    antiEntropyIntervalMs: 500,
    backoffMinMs: 50,
    backoffMaxMs: 400,
    handshakeTimeoutMs: 1000,
  });
  t.teardown(() => transport.close());
  const { port } = await transport.start();
  return { name, replica, engine, transport, port };
}

async function forwarderTo(t: Test, n: Node): Promise<Forwarder> {
  if (n.port === null) throw new Error(`${n.name} does not listen: nothing to forward to`);
  const f = await startForwarder(n.port);
  t.teardown(() => f.close());
  return f;
}

async function until(what: string, check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function createVpcOn(n: Node, id: string, cidr: string): void {
  const now = new Date();
  const ctx: OpContext = { actor: ACTOR, now, policy: POLICY, newPeeringId: () => 'pcx-00000000000000001' };
  const m = createVpc(new StateIndex(liveState(n.replica.state)), ctx, { id, tenantId: 't1', cidrs: [cidr], bridge: `br-${id}` }).mutations;
  n.engine.onLocalCommit(n.replica.commitLocal(m, now));
}

const connected = (n: Node): boolean => n.transport.status().some((p) => p.connected);

t.test('a commit crosses a real link; a cut link reconnects and anti-entropy catches up', async (t) => {
  const b = await node(t, 'hv-b', []);
  const fwd = await forwarderTo(t, b);
  const a = await node(t, 'hv-a', [`ws://127.0.0.1:${fwd.port}`], { listen: false });
  await until('the link', () => connected(a) && connected(b));
  t.match(a.transport.status(), [{ url: `ws://127.0.0.1:${fwd.port}`, nodeId: 'hv-b', connected: true }]);
  const started = Date.now();
  createVpcOn(a, 'va', '10.0.0.0/16');
  await until('va on b', () => b.replica.state.vpcs.has('va'));
  t.ok(Date.now() - started < 1000, `pushed in ${Date.now() - started} ms`);
  createVpcOn(b, 'vb', '10.1.0.0/16');
  await until('vb on a', () => a.replica.state.vpcs.has('vb'));

  fwd.cut();
  await until('a sees the link down', () => !connected(a));
  createVpcOn(a, 'vc', '10.2.0.0/16');
  createVpcOn(b, 'vd', '10.3.0.0/16');
  t.notOk(b.replica.state.vpcs.has('vc'), 'nothing crosses a cut link');
  fwd.heal();
  await until('both sides identical after the heal', () => a.replica.digest.rootHash === b.replica.digest.rootHash);
  t.ok(a.replica.state.vpcs.has('vd') && b.replica.state.vpcs.has('vc'));
});

t.test('a black-holed peer is detected by the heartbeat within a few beats', async (t) => {
  const b = await node(t, 'hv-b', []);
  const fwd = await forwarderTo(t, b);
  const a = await node(t, 'hv-a', [`ws://127.0.0.1:${fwd.port}`], { listen: false });
  await until('the link', () => connected(a));
  fwd.blackHole();
  const started = Date.now();
  await until('a gives the link up', () => !connected(a), 3000);
  t.ok(Date.now() - started <= 1000, `detected in ${Date.now() - started} ms at a 300 ms heartbeat`);
  t.ok((a.transport.stats.refusals.DEAD_PEER ?? 0) >= 1);
  fwd.heal();
  await until('the link again', () => connected(a));
});

t.test('a wrong secret, an unauthenticated client and garbage are refused; nothing changes', async (t) => {
  const b = await node(t, 'hv-b', []);
  createVpcOn(b, 'vb', '10.1.0.0/16');
  const root = b.replica.digest.rootHash;
  const fwd = await forwarderTo(t, b);
  const intruder = await node(t, 'hv-x', [`ws://127.0.0.1:${fwd.port}`], { listen: false, secret: randomBytes(32) });
  await until('a refusal on the intruder', () => (intruder.transport.stats.refusals.BAD_PROOF ?? 0) >= 1);
  t.notOk(connected(intruder) || connected(b));
  // A client speaking no protocol: a hello that is not one, then raw bytes.
  for (const message of [Buffer.from('{"type":"hello"}'), randomBytes(2000)]) {
    const ws = new WebSocket(`ws://127.0.0.1:${b.port!}`);
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    ws.once('open', () => ws.send(message));
    t.equal(await closed, 4001, 'closed with the refusal code');
  }
  t.ok((b.transport.stats.refusals.BAD_HANDSHAKE ?? 0) + (b.transport.stats.refusals.FRAME_TOO_LARGE ?? 0) >= 2);
  // A frame over maxPayload: ws closes the socket itself (1009) before any parsing.
  const big = new WebSocket(`ws://127.0.0.1:${b.port!}`);
  const bigClosed = new Promise<number>((resolve) => big.once('close', (code) => resolve(code)));
  big.once('open', () => big.send(Buffer.alloc(10 * 1024 * 1024)));
  t.equal(await bigClosed, 1009, 'a 10 MB frame: message too big');
  t.equal(b.replica.digest.rootHash, root, 'the state did not change');
  const good = await node(t, 'hv-a', [`ws://127.0.0.1:${fwd.port}`], { listen: false });
  await until('a member still links', () => connected(good) && good.replica.state.vpcs.has('vb'));
});

t.test('two hosts that dial each other keep one link, the same on both sides', async (t) => {
  // Each listens on a port it picks (a port chosen beforehand could be taken before it is bound):
  // b dials a from its start, a is given b's address once b listens, so both dial.
  const a = await node(t, 'hv-a', []);
  const b = await node(t, 'hv-b', [`ws://127.0.0.1:${a.port!}`]);
  a.transport.setPeers([`ws://127.0.0.1:${b.port!}`]);
  await until('linked', () => connected(a) && connected(b));
  // Let both dials finish their handshakes and the duplicate be closed.
  await new Promise((r) => setTimeout(r, 300));
  t.equal(a.engine.linkCount, 1);
  t.equal(b.engine.linkCount, 1);
  // Each side's dialled URL is folded into the one link: one peer, connected, no stale error.
  await until('each status shows one connected peer', () => [a, b].every((n) => {
    const peers = n.transport.status();
    return peers.length === 1 && peers[0]!.connected && peers[0]!.lastError === undefined;
  }));
  createVpcOn(b, 'vb', '10.1.0.0/16');
  await until('vb on a', () => a.replica.state.vpcs.has('vb'));
});

t.test('two hosts with one nodeId behind a third: warned, and the one left out backs off', async (t) => {
  const lines: string[] = [];
  const capture = createLogger({ level: 'debug', sink: { write: (l: string) => lines.push(l) } });
  const middle = await node(t, 'hv-m', [], { logger: capture });
  const url = `ws://127.0.0.1:${middle.port}`;
  const first = await node(t, 'hv-x', [url], { listen: false });
  await until('the first hv-x linked', () => connected(first));
  const upsOfSecond: string[] = [];
  const second = await node(t, 'hv-x', [url], { listen: false, logger: createLogger({ level: 'debug', sink: { write: (l: string) => upsOfSecond.push(l) } }) });
  await until('the middle warns of a shared nodeId', () => lines.some((l) => l.includes('two hosts may share this nodeId')));
  // A window long enough for a redial storm to show (it was ~20 a second): a rate, not an event.
  await new Promise((r) => setTimeout(r, 2000));
  const ups = upsOfSecond.filter((l) => l.includes('gossip link up')).length;
  t.ok(ups <= 25, `the second hv-x came up ${ups} times in ~2 s (backing off to 400 ms: ~14; reset by each link dropped at once, it was ~60)`);
  t.equal(lines.filter((l) => l.includes('two hosts may share this nodeId')).length, 1, 'warned once');
  t.ok(connected(first), 'the first hv-x keeps its link');
  t.notOk(connected(second), 'the second is left out');
});

t.test('two gossip.peers URLs that reach one host: one link, and the warning says so (not a shared nodeId)', async (t) => {
  const lines: string[] = [];
  const capture = createLogger({ level: 'debug', sink: { write: (l: string) => lines.push(l) } });
  const b = await node(t, 'hv-b', []);
  // The listener serves every path, so these are one host (a proxy could route paths elsewhere: both are dialled).
  const urls = [`ws://127.0.0.1:${b.port!}`, `ws://127.0.0.1:${b.port!}/gossip`];
  const a = await node(t, 'hv-a', urls, { listen: false, logger: capture });
  await until('the warning', () => lines.some((l) => l.includes('two entries of gossip.peers reach one host')));
  t.equal(a.engine.linkCount, 1, 'one link');
  const warning = JSON.parse(lines.find((l) => l.includes('two entries of gossip.peers reach one host'))!) as { peers: string[]; peerNodeId: string };
  t.same([...warning.peers].sort(), [...urls].sort(), 'it names both entries');
  t.equal(warning.peerNodeId, 'hv-b');
  t.notOk(lines.some((l) => l.includes('two hosts may share this nodeId')), 'no talk of a shared nodeId');
});

/** The JSON log lines of `lines` with message `msg`. */
const logsOf = (lines: string[], msg: string): Record<string, unknown>[] =>
  lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === msg);

t.test('two hosts with different secrets: each side says who refused whose proof', async (t) => {
  const listenerLines: string[] = [];
  const b = await node(t, 'hv-b', [], { logger: createLogger({ level: 'info', sink: { write: (l: string) => listenerLines.push(l) } }) });
  const url = `ws://127.0.0.1:${b.port}`;
  const a = await node(t, 'hv-a', [url], { listen: false, secret: randomBytes(32) });
  // The dialler checks the listener's proof first, so it is the dialler that refuses.
  await until('a refuses b', () => a.transport.status()[0]?.lastError !== undefined && (b.transport.stats.refusals.REFUSED_BY_PEER ?? 0) >= 1);
  t.match(a.transport.status()[0]!.lastError, /^refused peer's proof: BAD_PROOF/, `the dialler refused: ${a.transport.status()[0]!.lastError}`);
  t.notMatch(a.transport.status()[0]!.lastError, /by peer/, 'not blamed on the peer');
  await a.transport.close();
  const dials = a.transport.stats.refusals.BAD_PROOF ?? 0;
  await until('the listener saw every refusal', () => b.transport.stats.refusals.REFUSED_BY_PEER === dials);
  const logged = logsOf(listenerLines, 'gossip link refused by peer');
  t.equal(logged.length, dials, `the listener logged each of the ${dials} refused handshakes once`);
  t.match(logged[0], { level: 'warn', peer: /^127\.0\.0\.1:\d+$/, code: 'BAD_PROOF', reason: /peer refused our proof: BAD_PROOF/ }, 'with the peer address and what was refused');
  t.equal(b.transport.stats.refusals.BAD_PROOF, undefined, 'the listener refused nothing itself');
});

t.test('a listener that refuses the dialler\'s proof: the dialler says the peer refused it', async (t) => {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  t.teardown(() => new Promise<void>((resolve) => {
    for (const c of server.clients) c.terminate();
    server.close(() => resolve());
  }));
  // A member's challenge (the right secret), then a refusal of whatever proof comes back.
  server.on('connection', (ws) => {
    const l = new ListenerHandshake(SECRET, 'hv-strict', randomBytes(NONCE_BYTES));
    ws.once('message', (data: Buffer) => {
      const r = l.onHello(data);
      if (r.ok) ws.send(r.value);
      ws.once('message', () => ws.close(4001, 'BAD_PROOF'));
    });
  });
  const lines: string[] = [];
  const a = await node(t, 'hv-a', [`ws://127.0.0.1:${(server.address() as AddressInfo).port}`], {
    listen: false, logger: createLogger({ level: 'info', sink: { write: (l: string) => lines.push(l) } }),
  });
  await until('refused', () => a.transport.status()[0]?.lastError !== undefined);
  t.match(a.transport.status()[0]!.lastError, /^peer refused our proof: BAD_PROOF/);
  t.ok((a.transport.stats.refusals.REFUSED_BY_PEER ?? 0) >= 1, 'counted as refused by the peer');
  t.equal(a.transport.stats.refusals.BAD_PROOF, undefined, 'not as a refusal of this side');
  t.match(logsOf(lines, 'gossip link refused by peer')[0], { level: 'warn', code: 'BAD_PROOF' });
});
