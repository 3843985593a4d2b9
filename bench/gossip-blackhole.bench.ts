// What a black-holed gossip peer (accepts TCP, never answers) costs the API of the real daemon
// process: `status` and `vpc.get` latency on a daemon whose gossip.peers are an honest daemon and
// the silent one, against a control whose only peer is the honest daemon. The calls are paced
// (one of each every PACE_MS for ROUNDS rounds, ~6 s) so that the window spans the 5 s handshake
// deadline at which the silent peer is given up and redialled. Prints one JSON line per figure and
// a human summary with the ratios. Run it with `node dist/bench/gossip-blackhole.bench.js` after
// `npm run build` (or through `npm run bench`). test/integration/gossip-blackhole.test.ts checks
// the same setup works; speed is only measured here.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { startBlackHole } from '../test/helpers/black-hole.js';
import { type BenchDaemon, startBenchDaemon } from './daemon.js';
import { percentile } from './rpc.bench.js';
import { gossipPortOf } from '../test/helpers/daemon.js';

const ROUNDS = 300;
const PACE_MS = 20;
const LINK_WITHIN_MS = 10_000;

export interface BlackholeFigure {
  readonly method: 'status' | 'vpc.get';
  readonly run: 'control' | 'black-holed peer';
  readonly calls: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

export interface BlackholeResult {
  readonly figures: readonly BlackholeFigure[];
  /** Connections the silent peer accepted during the black-holed run (its dials). */
  readonly silentDials: number;
  /** The silent peer's status at the end of that run. */
  readonly silentPeer: unknown;
}

interface Peer {
  readonly url?: string;
  readonly connected: boolean;
}
const peersOf = async (d: BenchDaemon): Promise<Peer[]> => ((await d.client.call('status', {})) as { gossip: { peers: Peer[] } }).gossip.peers;

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/**
 * Starts a daemon dialling `peers` (its stop and folder removal go first into `cleanup`), waits
 * for its link to `honest`, and times the paced calls. `cidr` is its VPC's: the control's VPC
 * reaches the later run through the honest peer, so each run's must differ.
 */
async function measureRun(
  run: BlackholeFigure['run'],
  nodeId: string,
  cidr: string,
  secretFile: string,
  peers: string[],
  honest: string,
  cleanup: (() => Promise<void>)[],
): Promise<{ figures: BlackholeFigure[]; daemon: BenchDaemon }> {
  const dir = await mkdtemp(join(tmpdir(), 'vpc-peerd-bench-'));
  cleanup.unshift(() => rm(dir, { recursive: true, force: true }));
  const daemon = await startBenchDaemon(dir, { nodeId, ovs: { enabled: false }, gossip: { listen: null, peers, secretFile } }, 30_000);
  cleanup.unshift(() => daemon.stop());
  const deadline = Date.now() + LINK_WITHIN_MS;
  while (!(await peersOf(daemon)).some((p) => p.url === honest && p.connected)) {
    if (Date.now() > deadline) throw new Error(`${nodeId} did not link to the honest peer in ${LINK_WITHIN_MS} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
  await daemon.client.call('vpc.create', { id: `v-${nodeId}`, tenantId: 'bench', cidrs: [cidr], bridge: `br-${run === 'control' ? 'c' : 'h'}` });
  const times: Record<BlackholeFigure['method'], number[]> = { status: [], 'vpc.get': [] };
  const timed = async (method: BlackholeFigure['method'], params: Record<string, unknown>): Promise<void> => {
    const t0 = performance.now();
    await daemon.client.call(method, params);
    times[method].push(performance.now() - t0);
  };
  const start = performance.now();
  for (let i = 0; i < ROUNDS; i++) {
    await timed('status', {});
    await timed('vpc.get', { id: `v-${nodeId}` });
    const wait = start + (i + 1) * PACE_MS - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  const figures = (Object.keys(times) as BlackholeFigure['method'][]).map((method): BlackholeFigure => {
    const ms = times[method].sort((a, b) => a - b);
    return { method, run, calls: ms.length, p50Ms: round(percentile(ms, 50)), p99Ms: round(percentile(ms, 99)), maxMs: round(ms[ms.length - 1] ?? 0) };
  });
  return { figures, daemon };
}

export async function runBlackholeBench(): Promise<BlackholeResult> {
  const root = await mkdtemp(join(tmpdir(), 'vpc-peerd-bench-blackhole-'));
  const secretFile = join(root, 'gossip.secret');
  await writeFile(secretFile, randomBytes(48).toString('hex'), { mode: 0o600 });
  const hole = await startBlackHole();
  const bDir = await mkdtemp(join(tmpdir(), 'vpc-peerd-bench-'));
  // Port 0: b binds a free port itself (one chosen here could be taken before b binds it).
  const b = await startBenchDaemon(bDir, { nodeId: 'bench-b', ovs: { enabled: false }, gossip: { listen: '127.0.0.1:0', secretFile } }, 30_000);
  const cleanup: (() => Promise<void>)[] = [() => hole.close(), () => b.stop(), () => rm(bDir, { recursive: true, force: true }), () => rm(root, { recursive: true, force: true })];
  try {
    const honest = `ws://127.0.0.1:${(await gossipPortOf(b.client)).port}`;
    const figures: BlackholeFigure[] = [];
    const control = await measureRun('control', 'bench-control', '10.1.0.0/16', secretFile, [honest], honest, cleanup);
    figures.push(...control.figures);
    await control.daemon.stop();
    const silent = `ws://127.0.0.1:${hole.port}`;
    const before = hole.accepted();
    const holed = await measureRun('black-holed peer', 'bench-holed', '10.2.0.0/16', secretFile, [silent, honest], honest, cleanup);
    figures.push(...holed.figures);
    const silentPeer = (await peersOf(holed.daemon)).find((p) => p.url === silent);
    return { figures, silentDials: hole.accepted() - before, silentPeer };
  } finally {
    for (const c of cleanup) await c();
  }
}

export function printBlackholeFigures(result: BlackholeResult): void {
  for (const f of result.figures) console.log(JSON.stringify({ bench: 'gossip-blackhole', ...f }));
  console.log(JSON.stringify({ bench: 'gossip-blackhole', silentDials: result.silentDials, silentPeer: result.silentPeer }));
  for (const method of ['status', 'vpc.get'] as const) {
    const c = result.figures.find((f) => f.method === method && f.run === 'control');
    const h = result.figures.find((f) => f.method === method && f.run === 'black-holed peer');
    if (!c || !h) continue;
    console.log(
      `gossip-blackhole ${method.padEnd(8)} control p50 ${c.p50Ms.toFixed(3)} ms p99 ${c.p99Ms.toFixed(3)} ms | ` +
        `with a black-holed peer p50 ${h.p50Ms.toFixed(3)} ms p99 ${h.p99Ms.toFixed(3)} ms | ` +
        `ratio p50 ${(h.p50Ms / c.p50Ms).toFixed(2)} p99 ${(h.p99Ms / c.p99Ms).toFixed(2)} | max ${c.maxMs.toFixed(1)} vs ${h.maxMs.toFixed(1)} ms  ` +
        `(${h.calls} calls each, one every ${PACE_MS} ms; ${result.silentDials} dials of the silent peer)`,
    );
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  printBlackholeFigures(await runBlackholeBench());
}
