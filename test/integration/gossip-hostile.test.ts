// Hostile peers against a real daemon process (issue #10, SPEC §8, docs/GOSSIP.md "Refusals"):
// a test client speaking WebSocket (`ws`) tries a wrong key, state frames without a handshake,
// a replayed frame, an altered frame and a 10 MB frame. Each must close the link, be logged
// once with the client's address and counted in vpc_peerd_gossip_refusals_total, and leave
// the daemon's records as they were, its API answering and its door open to honest members.
// The honest sessions use the daemon's own handshake and frame code (src/gossip/), so the
// attacks differ from a member's traffic by exactly the one thing each one changes. The other
// way round, a daemon dialling an impostor (a listener without the secret) sends it nothing but
// its hello.
// (gossip-transport.test.ts covers the in-process transport; this is the built daemon.)
import { createHmac, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { WebSocket, WebSocketServer } from 'ws';
import type { VpcSlot } from '../../src/domain/replica.js';
import { FrameOpener, FrameSealer, MAC_BYTES } from '../../src/gossip/frame.js';
import { DialerHandshake, ListenerHandshake, NONCE_BYTES, PROTOCOL } from '../../src/gossip/handshake.js';
import type { Frame } from '../../src/gossip/messages.js';
import type { RpcClient } from '../../src/rpc/client.js';
import { type DaemonHandle, startDaemon, startGossipDaemon } from '../helpers/daemon.js';
import { until } from '../helpers/poll.js';
import { parsePrometheusText } from '../helpers/prometheus-text.js';

/** A raw WebSocket client of the daemon's gossip port: its local address, what it received, how it was closed. */
interface Probe {
  readonly ws: WebSocket;
  /** "127.0.0.1:PORT" as the daemon sees this client (the `peer` of its log lines). */
  readonly address: string;
  /** The next message the daemon sent (rejects once the socket closed without one). */
  next(): Promise<Buffer>;
  readonly closed: Promise<{ code: number; reason: string }>;
}

async function probe(t: Test, port: number): Promise<Probe> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false });
  t.teardown(() => ws.terminate());
  const inbox: Buffer[] = [];
  const waiting: { resolve: (b: Buffer) => void; reject: (e: Error) => void }[] = [];
  let ended = false;
  ws.on('message', (data: Buffer) => {
    const w = waiting.shift();
    if (w) w.resolve(data);
    else inbox.push(data);
  });
  ws.on('error', () => undefined);
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.once('close', (code, reason) => {
      ended = true;
      for (const w of waiting.splice(0)) w.reject(new Error(`closed (${code} ${reason.toString()}) before a message`));
      resolve({ code, reason: reason.toString() });
    }),
  );
  const address = await new Promise<string>((resolve, reject) => {
    ws.once('upgrade', (res) => resolve(`127.0.0.1:${res.socket.localPort ?? '?'}`));
    ws.once('close', () => reject(new Error('closed before the upgrade')));
  });
  await new Promise<void>((resolve) => (ws.readyState === WebSocket.OPEN ? resolve() : ws.once('open', () => resolve())));
  return {
    ws,
    address,
    closed,
    next: () => {
      const b = inbox.shift();
      if (b) return Promise.resolve(b);
      if (ended) return Promise.reject(new Error('closed'));
      return new Promise((resolve, reject) => waiting.push({ resolve, reject }));
    },
  };
}

/** A member's session: the real dialer handshake, then sealed and opened frames. */
interface Session extends Probe {
  readonly sealer: FrameSealer;
  readonly opener: FrameOpener;
  /** The next frame the daemon sent, opened (throws on a refusal: the daemon is honest). */
  frame(): Promise<Frame>;
}

async function session(t: Test, port: number, secret: Buffer, node: string): Promise<Session> {
  const p = await probe(t, port);
  const d = new DialerHandshake(secret, node, randomBytes(NONCE_BYTES));
  p.ws.send(d.hello());
  const r = d.onChallenge(await p.next());
  if (!r.ok) throw new Error(`the daemon's challenge was refused: ${r.refusal.code}`);
  p.ws.send(r.value.reply);
  const opener = new FrameOpener(r.value.keys.receive);
  return {
    ...p,
    sealer: new FrameSealer(r.value.keys.send),
    opener,
    frame: async () => {
      const f = opener.open(await p.next());
      if (!f.ok) throw new Error(`a frame of the daemon was refused: ${f.refusal.code}`);
      return f.value;
    },
  };
}

/** The daemon's slot for VPC `id`, asked for as a member would (`ae.want`). */
async function slotOf(s: Session, id: string): Promise<VpcSlot> {
  s.ws.send(s.sealer.seal('ae.want', { refs: [`vpc/${id}`] }));
  let f = await s.frame();
  // A new link is first sent the heartbeats and data-plane reports the daemon holds (host-reports.ts).
  while (f.type === 'hosts') f = await s.frame();
  if (f.type !== 'push' || f.body.vpcs.length !== 1) throw new Error(`expected a push of vpc/${id}, got ${JSON.stringify(f)}`);
  return f.body.vpcs[0]!;
}

/** A new VPC's slot made from one the daemon holds: valid, and it would add a record if merged. */
function newVpcSlot(from: VpcSlot, id: string, cidr: string): VpcSlot {
  if (!('record' in from)) throw new Error('expected a live slot');
  return { ...from, record: { ...from.record, id, cidrs: [cidr], bridge: `br-${id}` } };
}

type Item = Record<string, unknown>;
const list = async (c: RpcClient, method: string): Promise<Item[]> => ((await c.call(method, {})) as { items: Item[] }).items;
const records = async (c: RpcClient): Promise<string> => JSON.stringify([await list(c, 'vpc.list'), await list(c, 'peering.list')]);

interface Gossip {
  totals: { connected: number; refusals: Record<string, number> };
  peers: { url?: string; nodeId?: string; connected: boolean; lastError?: string }[];
}
const gossipOf = async (c: RpcClient): Promise<Gossip> => ((await c.call('status', {})) as { gossip: Gossip }).gossip;

/** vpc_peerd_gossip_refusals_total{reason=code} scraped from the daemon's metrics endpoint (metrics.listen set). */
async function refusalsOf(d: DaemonHandle, code: string): Promise<number> {
  const line = d.logs().split('\n').find((l) => l.includes('"msg":"metrics endpoint listening"')) ?? '';
  const { port } = JSON.parse(line) as { port: number };
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  const f = parsePrometheusText(await res.text()).get('vpc_peerd_gossip_refusals_total');
  return f?.samples.find((s) => s.labels.reason === code)?.value ?? 0;
}

/** The daemon's "gossip link refused" log lines about `peer`. */
function refusalLogsOf(d: DaemonHandle, peer: string): { code: string }[] {
  return d.logs().split('\n').filter((l) => l.includes('"msg":"gossip link refused"')).map((l) => JSON.parse(l) as { peer: string; code: string }).filter((l) => l.peer === peer);
}

t.test('hostile peers are refused by a real daemon; nothing changes; members still link', async (t) => {
  const dir = t.testdir();
  const secretFile = join(dir, 'gossip.secret');
  const secretText = randomBytes(48).toString('hex');
  writeFileSync(secretFile, `${secretText}\n`, { mode: 0o600 });
  // The daemon drops the trailing newline: the secret is the hex text's bytes.
  const secret = Buffer.from(secretText, 'latin1');
  const a = await startGossipDaemon(t, { config: { nodeId: 'hv-a', gossip: { secretFile }, metrics: { listen: '127.0.0.1:0' } } });
  const port = a.gossipPort;
  const ca = await a.admin();
  await ca.call('vpc.create', { id: 'v1', tenantId: 't1', cidrs: ['10.1.0.0/16'], bridge: 'br1' });
  await ca.call('vpc.create', { id: 'v2', tenantId: 't1', cidrs: ['10.2.0.0/16'], bridge: 'br2' });
  await ca.call('peering.create', { requesterVpcId: 'v1', accepterVpcId: 'v2' });
  const held = await records(ca);

  const refusalsCounted = (code: string): Promise<number> => refusalsOf(a, code);
  const refusalLogs = (address: string): { code: string }[] => refusalLogsOf(a, address);

  // A valid slot of a VPC the daemon does not hold: what every attack below tries to smuggle in.
  const member = await session(t, port, secret, 'hv-member-0');
  const template = await slotOf(member, 'v1');
  member.ws.close();
  await member.closed;

  let members = 0;
  /** Runs one attack; the link must be closed with `closeCode`, refused once as `code`, and change nothing. */
  const attack = async (name: string, code: string, closeCode: number, run: () => Promise<Probe>): Promise<void> => {
    await t.test(name, async (t) => {
      const countedBefore = await refusalsCounted(code);
      const p = await run();
      const closed = await p.closed;
      t.equal(closed.code, closeCode, `closed with ${closeCode}`);
      if (closeCode === 4001) t.equal(closed.reason, code, 'the close reason is the refusal code');
      const counted = await until(async () => (await refusalsCounted(code)) === countedBefore + 1, 5000);
      t.ok(counted.ok, `vpc_peerd_gossip_refusals_total{reason="${code}"} went up by one`);
      t.same(refusalLogs(p.address).map((l) => l.code), [code], `refused once in the log, with the peer address ${p.address}`);
      t.equal(a.child.exitCode, null, 'the daemon is running');
      t.equal(await records(ca), held, 'vpc.list and peering.list as before');
      t.ok(((await ca.call('status', {})) as { version?: string }).version !== undefined, 'the API answers');
      const s = await session(t, port, secret, `hv-member-${++members}`);
      t.same((await slotOf(s, 'v1')).version, template.version, 'a member still links and is answered');
      s.ws.close();
      await s.closed;
    });
  };

  await attack('a wrong key: the proof does not verify', 'BAD_PROOF', 4001, async () => {
    const p = await probe(t, port);
    const wrong = randomBytes(48);
    const nonce = randomBytes(NONCE_BYTES);
    p.ws.send(JSON.stringify({ type: 'hello', protocol: PROTOCOL, node: 'hv-intruder', nonce: nonce.toString('base64') }));
    const challenge = JSON.parse((await p.next()).toString()) as { node: string; nonce: string };
    // docs/GOSSIP.md "Handshake": P_d, computed as a member would, under the wrong secret.
    const transcript = [PROTOCOL, 'dialer', 'hv-intruder', challenge.node, nonce.toString('base64'), challenge.nonce].join('\n');
    const proof = createHmac('sha256', wrong).update(transcript).digest('base64');
    // Three tries in one burst: the link is refused at the first, the others are not looked at.
    for (let i = 0; i < 3; i++) p.ws.send(JSON.stringify({ type: 'proof', proof }));
    return p;
  });

  await attack('an unauthenticated client: state frames without a handshake', 'BAD_HANDSHAKE', 4001, async () => {
    const p = await probe(t, port);
    const forged = new FrameSealer(randomBytes(32));
    const push = { vpcs: [newVpcSlot(template, 'v-evil', '10.66.0.0/16')], peerings: [] };
    p.ws.send(forged.seal('push', push));
    p.ws.send(JSON.stringify({ type: 'push', seq: 1, body: push }));
    // A hello right behind: a refused socket must not go on with the handshake.
    p.ws.send(new DialerHandshake(secret, 'hv-intruder', randomBytes(NONCE_BYTES)).hello());
    return p;
  });

  await attack('a replayed frame: the sequence number is not the next', 'BAD_SEQUENCE', 4001, async () => {
    const s = await session(t, port, secret, 'hv-replay');
    const captured = s.sealer.seal('ae.want', { refs: ['vpc/v1'] });
    s.ws.send(captured);
    await s.frame();
    s.ws.send(captured);
    // The member's next frame, already on its way behind the replay: the link is dead, it must not land.
    s.ws.send(s.sealer.seal('push', { vpcs: [newVpcSlot(template, 'v-evil', '10.66.0.0/16')], peerings: [] }));
    return s;
  });

  await attack('a frame replayed on another link: its MAC does not verify', 'BAD_MAC', 4001, async () => {
    const s1 = await session(t, port, secret, 'hv-replay-1');
    const captured = s1.sealer.seal('push', { vpcs: [newVpcSlot(template, 'v-evil', '10.66.0.0/16')], peerings: [] });
    s1.ws.close();
    await s1.closed;
    const s2 = await session(t, port, secret, 'hv-replay-2');
    s2.ws.send(captured);
    return s2;
  });

  await attack('an altered frame: one byte flipped', 'BAD_MAC', 4001, async () => {
    const s = await session(t, port, secret, 'hv-altered');
    const sealed = s.sealer.seal('push', { vpcs: [newVpcSlot(template, 'v-evil', '10.66.0.0/16')], peerings: [] });
    const at = sealed.indexOf('10.66.0.0/16', MAC_BYTES);
    sealed[at + 1] = 0x31; // 10.66 → 11.66: still valid JSON and a valid slot, but not what was MACed
    s.ws.send(sealed);
    return s;
  });

  await attack('a 10 MB frame from an outsider, before any handshake', 'FRAME_TOO_LARGE', 1009, async () => {
    const p = await probe(t, port);
    p.ws.send(Buffer.alloc(10 * 1024 * 1024, 0x7b));
    return p;
  });

  await attack('a 10 MB frame on an authenticated link', 'FRAME_TOO_LARGE', 1009, async () => {
    const s = await session(t, port, secret, 'hv-big');
    const big = JSON.stringify({ type: 'push', seq: 1, body: { vpcs: [], peerings: [], pad: 'x'.repeat(10 * 1024 * 1024) } });
    s.ws.send(Buffer.concat([Buffer.alloc(MAC_BYTES), Buffer.from(big)]));
    return s;
  });

  await t.test('the same slot from a member is merged: the refusals are what kept it out', async (t) => {
    const s = await session(t, port, secret, 'hv-member-last');
    s.ws.send(s.sealer.seal('push', { vpcs: [newVpcSlot(template, 'v-good', '10.67.0.0/16')], peerings: [] }));
    const merged = await until(async () => (await list(ca, 'vpc.list')).some((v) => v.id === 'v-good'), 5000);
    t.ok(merged.ok, `v-good merged in ${merged.ms} ms`);
    t.notOk((await list(ca, 'vpc.list')).some((v) => v.id === 'v-evil'), 'v-evil never arrived');
  });

  await t.test('a real daemon links afterwards and replicates', async (t) => {
    const b = await startDaemon(t, { config: { nodeId: 'hv-b', gossip: { listen: null, peers: [`ws://127.0.0.1:${port}`], secretFile, antiEntropyIntervalMs: 200 } } });
    const cb = await b.admin();
    const same = await until(async () => (await records(cb)) === (await records(ca)), 10_000, 50);
    t.ok(same.ok, `identical records on the new member after ${same.ms} ms`);
    t.equal((await gossipOf(cb)).totals.connected, 1);
  });
});

t.test('an impostor listener (no secret) gets nothing but the hello from a dialling daemon', async (t) => {
  const dir = t.testdir();
  const secretFile = join(dir, 'gossip.secret');
  writeFileSync(secretFile, randomBytes(48).toString('hex'), { mode: 0o600 });
  // The daemon's own listener code under another secret: its challenge proof cannot verify.
  const wrong = randomBytes(48);
  const received: { kind: string; bytes: number }[][] = [];
  let answering = true;
  let open = 0;
  const impostor = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => impostor.once('listening', () => resolve()));
  impostor.on('connection', (ws) => {
    if (!answering) return ws.close(1001);
    const got: { kind: string; bytes: number }[] = [];
    received.push(got);
    open++;
    ws.once('close', () => open--);
    const l = new ListenerHandshake(wrong, 'hv-impostor', randomBytes(NONCE_BYTES));
    ws.on('message', (data: Buffer) => {
      let kind = 'not JSON';
      try {
        kind = String((JSON.parse(data.toString()) as { type?: unknown }).type);
      } catch {
        // a sealed frame: MAC bytes first
      }
      got.push({ kind, bytes: data.length });
      if (got.length === 1) {
        const r = l.onHello(data);
        if (r.ok) ws.send(r.value);
      }
    });
  });
  t.teardown(() => new Promise<void>((resolve) => {
    for (const c of impostor.clients) c.terminate();
    impostor.close(() => resolve());
  }));
  const url = `ws://127.0.0.1:${(impostor.address() as { port: number }).port}`;
  const d = await startDaemon(t, { config: { nodeId: 'hv-d', gossip: { listen: null, peers: [url], secretFile }, metrics: { listen: '127.0.0.1:0' } } });
  const cd = await d.admin();
  await cd.call('vpc.create', { id: 'v-secret', tenantId: 't1', cidrs: ['10.9.0.0/16'], bridge: 'br9' });
  const refused = await until(async () => (await refusalsOf(d, 'BAD_PROOF')) >= 2, 10_000, 20);
  t.ok(refused.ok, 'the impostor is refused on every dial (BAD_PROOF counted)');
  // Stop it answering (later dials are closed at once, before any challenge); once the daemon has
  // closed every dial that was challenged, the counts settle.
  answering = false;
  t.ok((await until(async () => open === 0, 5000)).ok, 'every challenged dial was closed by the daemon');
  const dials = received.length;
  const settled = await until(async () => (await refusalsOf(d, 'BAD_PROOF')) === dials, 5000, 20);
  t.ok(settled.ok, `one refusal counted per dial (${dials} dials)`);
  t.equal(refusalLogsOf(d, url).filter((l) => l.code === 'BAD_PROOF').length, dials, 'logged once per dial, with the peer URL');
  t.same([...new Set(received.flat().map((m) => m.kind))], ['hello'], 'the impostor received hellos only: no proof, no frame');
  t.ok(received.every((got) => got.length === 1), 'one message per dial');
  const status = (await cd.call('status', {})) as { gossip: { peers: { url?: string; connected: boolean }[] } };
  t.match(status.gossip.peers, [{ url, connected: false }], 'reported not connected');
  t.equal(d.child.exitCode, null, 'the daemon is running');
});
