// Anti-entropy at 100k records (issue 10, "Benchmarks"): two real daemon processes
// (dist/src/main.js) linked over real WebSocket on loopback, through a TCP forwarder the bench
// cuts and heals and watches (every WebSocket frame it passes is decoded: direction, gossip frame
// type, bytes, time). Both start on the same store files, written with the store's own snapshot
// and journal format code (journal-format.ts), so they hold identical records and versions.
//
// 1. Identical replicas: per anti-entropy round, the bytes both sides sent (status.gossip
//    counters, and on the wire) and the ms from the opening digest to its answer.
// 2. The link is cut, 1,000 records are written on one host by RPC (timed: one local write with
//    100k records), the link healed: the time from the link coming back to the last merge commit
//    on the other host, what crossed the link by frame type, and a check that both hosts then
//    list identical records.
// 3. In this process, on another copy of the files: what one received push costs the daemon's
//    replica (StoreReplica.applyRemote: merge, repair, durable merge commit) and the merge and
//    repair alone, with 100k records; and one local commit.
// The floor printed beside the figures: the full (ref, version) list, sent once.
// Run alone: `node dist/bench/anti-entropy.bench.js [vpcs] [peerings]` after `npm run build`.
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { encodeHlc, type Hlc } from '../src/domain/hlc.js';
import { mergeAndRepair, repairState } from '../src/domain/merge.js';
import { replicaOfUnversioned, type VpcSlot } from '../src/domain/replica.js';
import type { Peering, PeeringPolicy, State, Vpc } from '../src/domain/types.js';
import { StoreReplica } from '../src/gossip/store-replica.js';
import { silentLogger } from '../src/log/logger.js';
import type { RpcClient } from '../src/rpc/client.js';
import { encodeHeader, snapshotPieces } from '../src/store/journal-format.js';
import { openStore } from '../src/store/open-store.js';
import { until } from '../test/helpers/poll.js';
import { startForwarder } from '../test/helpers/tcp-forwarder.js';
import { type BenchDaemon, startBenchDaemon } from './daemon.js';
import { gossipPortOf } from '../test/helpers/daemon.js';

const AT = '2025-01-01T00:00:00.000Z';
const FAR = '2099-01-01T00:00:00.000Z';
const JOURNAL_ID = '00000000000000ae';
/** The records written on one side while the link is cut: new VPCs, new peerings between them, renames. */
const NEW_VPCS = 600;
const NEW_PEERINGS = 200;
const RENAMES = 200;
const ROUND_MS = 200;
const IDLE_SECONDS = 10;
const CONVERGE_WITHIN_MS = 180_000;
/** The daemon's defaults (config/schema.ts), for the in-process merges. */
const POLICY: PeeringPolicy = { pendingTtlSeconds: 7 * 86_400, terminalRetentionSeconds: 86_400, maxActivePerVpc: 125 };

/** A /28 per VPC index: no two VPCs overlap, so every peering of the state keeps to SPEC §3. */
function cidrOf(i: number): string {
  return `10.${(i >> 12) & 255}.${(i >> 4) & 255}.${(i & 15) << 4}/28`;
}

function vpc(i: number): Vpc {
  return { id: `vpc-${i}`, tenantId: `tenant-${(i >> 1) % 50}`, name: `service ${i}`, bridge: `br-${i}`, cidrs: [cidrOf(i)], createdAt: AT, updatedAt: AT };
}

/** Peering k joins VPCs 2k and 2k+1 (one tenant; one peering per VPC at most); every other one active. */
function peering(k: number): Peering {
  return {
    id: `pcx-${k.toString(16).padStart(17, '0')}`, tenantId: `tenant-${k % 50}`,
    requesterVpcId: `vpc-${2 * k}`, accepterVpcId: `vpc-${2 * k + 1}`, name: `link ${k}`,
    status: k % 2 === 0 ? 'active' : 'pending-acceptance', requestedBy: 'orchestrator@hv-a',
    createdAt: AT, updatedAt: AT, expiresAt: FAR,
  };
}

function buildState(vpcs: number, peerings: number): State {
  if (2 * peerings > vpcs) throw new Error('each peering needs two VPCs of its own');
  return {
    vpcs: Object.fromEntries(Array.from({ length: vpcs }, (_, i) => [`vpc-${i}`, vpc(i)])),
    peerings: Object.fromEntries(Array.from({ length: peerings }, (_, k) => [peering(k).id, peering(k)])),
  };
}

/** A snapshot of `state` (every record versioned by hv-a) and the empty journal it names, in `dir`. */
async function writeStoreFiles(dir: string, state: State): Promise<void> {
  await mkdir(dir, { recursive: true });
  const replica = replicaOfUnversioned(state, 'hv-a');
  // A state the repair would change makes every merge rewrite peerings: not what is measured here.
  const repairs = repairState(replica, POLICY).repairs.length;
  if (repairs > 0) throw new Error(`the generated state breaks SPEC §3 (${repairs} peerings to repair)`);
  const source = { seq: 1, journal: { id: JOURNAL_ID, previous: null }, vpcs: Object.values(state.vpcs), peerings: Object.values(state.peerings), replica };
  await writeFile(join(dir, 'state.json'), [...snapshotPieces(source)].join(''));
  await writeFile(join(dir, 'state.json.journal'), encodeHeader(1, JOURNAL_ID));
}

/** What the full (ref, version) list of `state` costs as JSON: the floor of any comparison. */
function fullListBytes(state: State): number {
  const version = encodeHlc({ wallMs: Date.parse(AT), logical: 0, node: 'hv-a' });
  const list = [
    ...Object.keys(state.vpcs).map((id) => [`vpc/${id}`, version]),
    ...Object.keys(state.peerings).map((id) => [`peering/${id}`, version]),
  ];
  return Buffer.byteLength(JSON.stringify(list));
}

/** One gossip frame seen on the wire: who sent it (`up`: the dialler A), its type, its WebSocket bytes. */
interface WireFrame {
  readonly direction: 'up' | 'down';
  readonly type: string;
  readonly bytes: number;
  readonly at: number;
  /** For a push: how many slots it carried. */
  readonly slots?: number;
}

/**
 * Decodes the WebSocket frames of one direction of the stream (RFC 6455: 2-byte header, 16- or
 * 64-bit length, the client's 4-byte mask), naming binary ones by their gossip type (the JSON
 * after the 32-byte MAC) and control frames `ping`/`pong`; the handshake's text frames `text`.
 */
class WsDecoder {
  private buf = Buffer.alloc(0);
  private upgraded = false;
  constructor(private readonly direction: 'up' | 'down', private readonly out: WireFrame[]) {}

  push(chunk: Buffer, at: number): void {
    this.buf = Buffer.concat([this.buf, chunk]);
    if (!this.upgraded) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      this.out.push({ direction: this.direction, type: 'http', bytes: end + 4, at });
      this.buf = this.buf.subarray(end + 4);
      this.upgraded = true;
    }
    for (;;) {
      if (this.buf.length < 2) return;
      const opcode = this.buf[0]! & 0x0f;
      const masked = (this.buf[1]! & 0x80) !== 0;
      let len = this.buf[1]! & 0x7f;
      let off = 2;
      if (len === 126) {
        if (this.buf.length < 4) return;
        len = this.buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (this.buf.length < 10) return;
        len = Number(this.buf.readBigUInt64BE(2));
        off = 10;
      }
      const maskAt = off;
      if (masked) off += 4;
      if (this.buf.length < off + len) return;
      let type = opcode === 0x9 ? 'ping' : opcode === 0xa ? 'pong' : opcode === 0x1 ? 'text' : opcode === 0x8 ? 'close' : 'binary';
      let slots: number | undefined;
      if (opcode === 0x2) {
        const payload = Buffer.from(this.buf.subarray(off, off + len));
        if (masked) for (let i = 0; i < payload.length; i++) payload[i]! ^= this.buf[maskAt + (i % 4)]!;
        // The handshake's messages are JSON without a MAC in front.
        type = /"type":"([^"]+)"/.exec(payload.toString('latin1', 32, 64))?.[1] ?? 'handshake';
        if (type === 'push') {
          const body = (JSON.parse(payload.toString('utf8', 32)) as { body: { vpcs: unknown[]; peerings: unknown[] } }).body;
          slots = body.vpcs.length + body.peerings.length;
        }
      }
      this.out.push({ direction: this.direction, type, bytes: off + len, at, ...(slots === undefined ? {} : { slots }) });
      this.buf = this.buf.subarray(off + len);
    }
  }
}

interface GossipTotals { framesIn: number; framesOut: number; bytesIn: number; bytesOut: number; merges: number }
interface Status {
  store: { records: number; lastWriteAt: string | null; seq: number };
  gossip: { totals: GossipTotals & { connected: number }; peers: { since?: string; lastSyncAt?: string; connected: boolean }[] };
}
const status = async (c: RpcClient): Promise<Status> => (await c.call('status', {})) as Status;

function percentile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

function stats(xs: number[]): { n: number; p50: number; p99: number; max: number; mean: number } {
  const s = [...xs].sort((a, b) => a - b);
  const r = (x: number) => Number(x.toFixed(2));
  return { n: s.length, p50: r(percentile(s, 0.5)), p99: r(percentile(s, 0.99)), max: r(s.at(-1) ?? NaN), mean: r(s.reduce((a, b) => a + b, 0) / s.length) };
}

/** By frame type: count and WebSocket bytes, each direction. */
type TypeCount = { up: number; down: number; upBytes: number; downBytes: number; upSlots: number; downSlots: number };

function byType(frames: readonly WireFrame[]): Record<string, TypeCount> {
  const out: Record<string, TypeCount> = {};
  for (const f of frames) {
    const e = (out[f.type] ??= { up: 0, down: 0, upBytes: 0, downBytes: 0, upSlots: 0, downSlots: 0 });
    if (f.direction === 'up') {
      e.up++;
      e.upBytes += f.bytes;
      e.upSlots += f.slots ?? 0;
    } else {
      e.down++;
      e.downBytes += f.bytes;
      e.downSlots += f.slots ?? 0;
    }
  }
  return out;
}

export interface AntiEntropyFigures {
  readonly vpcs: number;
  readonly peerings: number;
  readonly startMs: { a: number; b: number };
  readonly fullListBytes: number;
  readonly idle: {
    readonly rounds: number;
    /** Frame bytes (MAC + JSON, status counters) both sides sent per round. */
    readonly frameBytesPerRound: number;
    /** WebSocket bytes per round on the wire (gossip frames only; heartbeats apart). */
    readonly wireBytesPerRound: number;
    readonly heartbeatBytesPerSecond: number;
    /** ms from the opening digest leaving the dialler to the answer coming back (through the forwarder). */
    readonly roundMs: ReturnType<typeof stats>;
  };
  /** One vpc.create / vpc.update / peering.create by RPC on a daemon holding 100k records (ms, client side). */
  readonly rpcWriteMs: ReturnType<typeof stats>;
  readonly converge: {
    readonly differing: number;
    /** heal() to the link being up again (the dialler's reconnect backoff). */
    readonly reconnectMs: number;
    /** The link up to the last merge commit durable on the host that lacked the records; null when no in-sync round came within CONVERGE_WITHIN_MS. */
    readonly convergeMs: number | null;
    readonly frames: Record<string, TypeCount>;
    /** Anti-entropy bytes (ae.digest, ae.entries, ae.want) and push bytes, both directions. */
    readonly digestBytes: number;
    readonly pushBytes: number;
    readonly merges: number;
    readonly identical: boolean;
    /** Every gossip frame from the link up to the in-sync round: ms after the link came up, direction, type, bytes. */
    readonly timeline: readonly string[];
  };
  readonly inProcess: {
    readonly loadMs: number;
    readonly mergeAndRepairMs: ReturnType<typeof stats>;
    readonly applyRemote1Ms: ReturnType<typeof stats>;
    readonly applyRemote100Ms: ReturnType<typeof stats>;
    readonly localCommitMs: ReturnType<typeof stats>;
  };
}

/** Slots of `n` new VPCs written by another host (hv-c), with fresh versions. */
function remoteVpcs(first: number, n: number, version: Hlc): VpcSlot[] {
  return Array.from({ length: n }, (_, i) => {
    const v = { ...vpc(first + i), updatedAt: new Date(version.wallMs).toISOString() };
    return { record: v, version, incarnation: version };
  });
}

async function inProcessFigures(dir: string, vpcs: number): Promise<AntiEntropyFigures['inProcess']> {
  const t0 = performance.now();
  const { store } = await openStore({ nodeId: 'hv-x', path: join(dir, 'state.json'), logger: silentLogger() });
  const loadMs = Number((performance.now() - t0).toFixed(1));
  const replica = new StoreReplica({ store, policy: () => POLICY, logger: silentLogger(), onLocalCommit: () => undefined });
  try {
    let next = vpcs + 10_000;
    let logical = 0;
    const version = (): Hlc => ({ wallMs: Date.now(), logical: logical++, node: 'hv-c' });
    const pure: number[] = [];
    for (let i = 0; i < 20; i++) {
      const batch = { vpcs: remoteVpcs(next++, 1, version()), peerings: [] };
      const t = performance.now();
      mergeAndRepair(store.stagedReplica, batch, POLICY);
      pure.push(performance.now() - t);
    }
    const timePush = async (size: number, times: number): Promise<number[]> => {
      const out: number[] = [];
      for (let i = 0; i < times; i++) {
        const batch = { vpcs: remoteVpcs(next, size, version()), peerings: [] };
        next += size;
        const t = performance.now();
        await replica.applyRemote(batch, 'hv-c');
        out.push(performance.now() - t);
      }
      return out;
    };
    const one = await timePush(1, 20);
    const hundred = await timePush(100, 10);
    const local: number[] = [];
    for (let i = 0; i < 50; i++) {
      const t = performance.now();
      await store.commit([{ op: 'vpc.put', vpc: vpc(next++) }]);
      local.push(performance.now() - t);
    }
    return { loadMs, mergeAndRepairMs: stats(pure), applyRemote1Ms: stats(one), applyRemote100Ms: stats(hundred), localCommitMs: stats(local) };
  } finally {
    replica.close();
    await store.close();
  }
}

/** The whole run in a temp folder (removed afterwards). */
export async function runAntiEntropyBench(vpcs = 80_000, peerings = 20_000): Promise<AntiEntropyFigures> {
  const root = await mkdtemp(join(tmpdir(), 'vpc-peerd-ae-'));
  const daemons: BenchDaemon[] = [];
  const forwarders: { close(): Promise<void> }[] = [];
  try {
    const state = buildState(vpcs, peerings);
    const [dirA, dirB, dirX] = ['a', 'b', 'x'].map((d) => join(root, d)) as [string, string, string];
    await writeStoreFiles(dirA, state);
    for (const d of [dirB, dirX]) {
      await mkdir(d, { recursive: true });
      for (const f of ['state.json', 'state.json.journal']) await copyFile(join(dirA, f), join(d, f));
    }
    const secretFile = join(root, 'gossip.secret');
    await writeFile(secretFile, randomBytes(48).toString('hex'), { mode: 0o600 });

    const wire: WireFrame[] = [];
    const decoders = { up: new WsDecoder('up', wire), down: new WsDecoder('down', wire) };
    let connections = 0;
    // Aimed at b once b listens (on a port it picks: one chosen here could be taken before b binds it).
    const toB = await startForwarder(null, '127.0.0.1', (direction, bytes, at) => {
      // A new TCP connection (after a heal) starts with its HTTP upgrade again.
      if (direction === 'up' && bytes.subarray(0, 4).toString('latin1') === 'GET ') {
        connections++;
        decoders.up = new WsDecoder('up', wire);
        decoders.down = new WsDecoder('down', wire);
      }
      decoders[direction].push(bytes, at);
    });
    forwarders.push(toB);
    const common = { ovs: { enabled: false }, log: { level: 'warn' } };
    const gossip = { secretFile, antiEntropyIntervalMs: ROUND_MS };
    let t = performance.now();
    const b = await startBenchDaemon(dirB, { ...common, nodeId: 'hv-b', gossip: { ...gossip, listen: '127.0.0.1:0' } }, 60_000);
    const startB = performance.now() - t;
    daemons.push(b);
    toB.setTarget((await gossipPortOf(b.client)).port);
    t = performance.now();
    const a = await startBenchDaemon(dirA, { ...common, nodeId: 'hv-a', gossip: { ...gossip, peers: [`ws://127.0.0.1:${toB.port}`] } }, 60_000);
    const startA = performance.now() - t;
    daemons.push(a);

    const synced = await until(async () => (await status(a.client)).gossip.peers[0]?.lastSyncAt !== undefined, 60_000, 50);
    if (!synced.ok) throw new Error('the two daemons never found themselves in sync');

    // 1. Identical: the periodic rounds alone (host reports were exchanged on connect).
    await new Promise((r) => setTimeout(r, 1000));
    const [sa0, sb0] = [await status(a.client), await status(b.client)];
    const from = wire.length;
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
    const [sa1, sb1] = [await status(a.client), await status(b.client)];
    const seconds = (performance.now() - t0) / 1000;
    const idleFrames = wire.slice(from);
    const roundTimes: number[] = [];
    for (let i = 0; i < idleFrames.length; i++) {
      const f = idleFrames[i]!;
      if (f.direction !== 'up' || f.type !== 'ae.digest') continue;
      const answer = idleFrames.slice(i + 1).find((g) => g.direction === 'down' && g.type === 'ae.digest');
      if (answer) roundTimes.push(answer.at - f.at);
    }
    const gossipFrames = idleFrames.filter((f) => f.type !== 'ping' && f.type !== 'pong');
    const rounds = idleFrames.filter((f) => f.direction === 'up' && f.type === 'ae.digest').length;
    const frameBytes = sa1.gossip.totals.bytesOut - sa0.gossip.totals.bytesOut + sb1.gossip.totals.bytesOut - sb0.gossip.totals.bytesOut;
    const idle = {
      rounds,
      frameBytesPerRound: Math.round(frameBytes / rounds),
      wireBytesPerRound: Math.round(gossipFrames.reduce((s, f) => s + f.bytes, 0) / rounds),
      heartbeatBytesPerSecond: Math.round(idleFrames.filter((f) => f.type === 'ping' || f.type === 'pong').reduce((s, f) => s + f.bytes, 0) / seconds),
      roundMs: stats(roundTimes),
    };

    // 2. Cut, write 1,000 records on A, heal.
    toB.cut();
    const down = await until(async () => (await status(a.client)).gossip.totals.connected === 0, 10_000, 20);
    if (!down.ok) throw new Error('the link did not go down');
    const writes: number[] = [];
    const timed = async (method: string, params: Record<string, unknown>): Promise<void> => {
      const w = performance.now();
      await a.client.call(method, params);
      writes.push(performance.now() - w);
    };
    for (let i = 0; i < NEW_VPCS; i++) {
      const n = vpcs + i;
      await timed('vpc.create', { id: `vpc-${n}`, tenantId: 'tenant-x', cidrs: [cidrOf(n)], bridge: `br-${n}` });
    }
    for (let k = 0; k < NEW_PEERINGS; k++) {
      await timed('peering.create', { requesterVpcId: `vpc-${vpcs + 2 * k}`, accepterVpcId: `vpc-${vpcs + 2 * k + 1}` });
    }
    // Renames of VPCs that have no peering (those from 2 × peerings on).
    for (let i = 0; i < RENAMES; i++) await timed('vpc.update', { id: `vpc-${2 * peerings + i}`, name: `renamed ${i}` });
    const sbBefore = await status(b.client);
    const saBefore = await status(a.client);
    const wireFrom = wire.length;
    const connectionsBefore = connections;
    const healedAt = Date.now();
    toB.heal();
    const linked = await until(async () => (await status(a.client)).gossip.totals.connected === 1, 60_000, 10);
    if (!linked.ok) throw new Error('the link did not come back');
    const linkSince = Date.parse((await status(a.client)).gossip.peers[0]!.since!);
    const inSync = await until(async () => {
      const s = await status(a.client);
      return s.gossip.peers[0]?.lastSyncAt !== undefined && Date.parse(s.gossip.peers[0].lastSyncAt) > linkSince;
    }, CONVERGE_WITHIN_MS, 20);
    const sbAfter = await status(b.client);
    const saAfter = await status(a.client);
    const convergeFrames = wire.slice(wireFrom).filter((f) => f.at <= performance.now());
    const frames = byType(convergeFrames);
    // performance.now() of the forwarder's clock at the instant status.gossip gave as the link's `since`.
    const linkAt = linkSince - (Date.now() - performance.now());
    const timeline = convergeFrames
      .filter((f) => f.type !== 'ping' && f.type !== 'pong')
      .map((f) => `${(f.at - linkAt).toFixed(0)} ms ${f.direction === 'up' ? 'A→B' : 'B→A'} ${f.type} ${kb(f.bytes)}${f.slots === undefined ? '' : ` (${f.slots} slots)`}`);
    const sum = (types: string[]) => types.reduce((s, ty) => s + (frames[ty]?.upBytes ?? 0) + (frames[ty]?.downBytes ?? 0), 0);
    const list = async (c: RpcClient) => JSON.stringify([await c.call('vpc.list', {}), await c.call('peering.list', {})]);
    const identical = (await list(a.client)) === (await list(b.client));
    const converge = {
      differing: NEW_VPCS + NEW_PEERINGS + RENAMES,
      reconnectMs: linkSince - healedAt,
      convergeMs: inSync.ok ? Date.parse(sbAfter.store.lastWriteAt!) - linkSince : null,
      frames,
      digestBytes: sum(['ae.digest', 'ae.entries', 'ae.want']),
      pushBytes: sum(['push']),
      timeline,
      merges: sbAfter.gossip.totals.merges - sbBefore.gossip.totals.merges + saAfter.gossip.totals.merges - saBefore.gossip.totals.merges,
      identical,
    };
    if (connections !== connectionsBefore + 1) process.stderr.write(`note: ${connections - connectionsBefore} connections during the heal\n`);
    for (const d of daemons) await d.stop();
    daemons.length = 0;

    // 3. In this process, on the third copy of the files.
    const inProcess = await inProcessFigures(dirX, vpcs);
    return {
      vpcs, peerings, startMs: { a: Math.round(startA), b: Math.round(startB) }, fullListBytes: fullListBytes(state),
      idle, rpcWriteMs: stats(writes), converge, inProcess,
    };
  } finally {
    for (const d of daemons) await d.stop();
    for (const f of forwarders) await f.close();
    await rm(root, { recursive: true, force: true });
  }
}

const kb = (n: number): string => (n >= 10_000 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`);
const ms = (s: ReturnType<typeof stats>): string => `p50 ${s.p50} / p99 ${s.p99} / max ${s.max} ms (n=${s.n})`;

export function printAntiEntropyFigures(f: AntiEntropyFigures): void {
  console.log(JSON.stringify({ bench: 'anti-entropy', ...f }));
  const records = f.vpcs + f.peerings;
  const c = f.converge;
  console.log(`anti-entropy, two daemons, ${records} records each (${f.vpcs} VPCs, ${f.peerings} peerings); round every ${ROUND_MS} ms; start ${f.startMs.b} / ${f.startMs.a} ms`);
  console.log('| measure | value | vs full (ref, version) list once |');
  console.log('|---|---:|---:|');
  console.log(`| full (ref, version) list (the floor) | ${kb(f.fullListBytes)} | 1 |`);
  console.log(`| identical: frame bytes per round (both sides) | ${f.idle.frameBytesPerRound} B | ${(f.idle.frameBytesPerRound / f.fullListBytes).toExponential(1)} |`);
  console.log(`| identical: wire bytes per round (WebSocket) | ${f.idle.wireBytesPerRound} B | |`);
  console.log(`| identical: ms per round (digest out → answer back) | ${ms(f.idle.roundMs)} | |`);
  console.log(`| identical: heartbeats on the wire | ${f.idle.heartbeatBytesPerSecond} B/s | |`);
  console.log(`| one RPC write, 100k records (client side) | ${ms(f.rpcWriteMs)} | |`);
  console.log(`| ${c.differing} differ: reconnect after heal | ${c.reconnectMs} ms | |`);
  console.log(`| ${c.differing} differ: link up → last merge durable | ${c.convergeMs === null ? `NOT CONVERGED in ${CONVERGE_WITHIN_MS} ms` : `${c.convergeMs} ms`} | |`);
  console.log(`| ${c.differing} differ: digest traffic (ae.*) | ${kb(c.digestBytes)} | ${(c.digestBytes / f.fullListBytes).toFixed(3)} |`);
  console.log(`| ${c.differing} differ: push traffic | ${kb(c.pushBytes)} | |`);
  console.log(`| ${c.differing} differ: merge commits | ${c.merges} | |`);
  console.log(`| ${c.differing} differ: identical records afterwards | ${c.identical ? 'yes' : 'NO'} | |`);
  console.log(`| in process: open the store | ${f.inProcess.loadMs} ms | |`);
  console.log(`| in process: mergeAndRepair of 1 slot | ${ms(f.inProcess.mergeAndRepairMs)} | |`);
  console.log(`| in process: applyRemote, push of 1 slot | ${ms(f.inProcess.applyRemote1Ms)} | |`);
  console.log(`| in process: applyRemote, push of 100 slots | ${ms(f.inProcess.applyRemote100Ms)} | |`);
  console.log(`| in process: local commit of 1 record | ${ms(f.inProcess.localCommitMs)} | |`);
  console.log('frames while converging (up: from the host with the new records):');
  console.log(`timeline (ms after the link came up): ${c.timeline.join('; ')}`);
  for (const [type, e] of Object.entries(c.frames)) {
    const slots = (n: number) => (type === 'push' ? `, ${n} slots` : '');
    console.log(`  ${type}: ${e.up} up (${kb(e.upBytes)}${slots(e.upSlots)}), ${e.down} down (${kb(e.downBytes)}${slots(e.downSlots)})`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [vpcs, peerings] = process.argv.slice(2).map(Number);
  printAntiEntropyFigures(await runAntiEntropyBench(vpcs || undefined, peerings || undefined));
}
