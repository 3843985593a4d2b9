// Durable write throughput of the store against lowdb's stock JSONFile adapter, on a store that
// already holds 10,000 records (2,000 VPCs, 8,000 peerings). Each write is one `peering.put` of a
// new peering, as `peering.create` makes it; it is measured one at a time (each awaited) and with
// 64 in flight. JSONFile rewrites the whole file per write and never fsyncs, so its figures are an
// upper bound for it, not a like-for-like durability. Prints one JSON line per figure, then a
// human summary. Run it with `node dist/bench/store.bench.js` after `npm run build`.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { Low } from 'lowdb';
import { JSONFile } from 'lowdb/node';
import type { Mutation, Peering, State, Vpc } from '../src/domain/types.js';
import { silentLogger } from '../src/log/logger.js';
import { openStore } from '../src/store/open-store.js';

const VPCS = 2000;
const PEERINGS = 8000;
const IN_FLIGHT = 64;
/** Each measurement stops at this many writes or this many seconds, whichever comes first. */
const MAX_WRITES = 20_000;
const MAX_SECONDS = 3;
const AT = '2025-01-01T00:00:00.000Z';

export interface Figure {
  readonly impl: 'journal' | 'lowdb-jsonfile';
  readonly mode: 'sequential' | `${number}-in-flight`;
  readonly writes: number;
  readonly seconds: number;
  readonly writesPerSec: number;
  /** Latency of one write, from call to acknowledgement (compaction stalls show in the max). */
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** fdatasync calls (ours only): writes / syncs is the mean group-commit batch. */
  readonly syncs?: number;
}

export interface StoreBenchResult {
  readonly preloadedRecords: number;
  /** Time to open the preloaded store (snapshot + journal replay). */
  readonly reopenMs: number;
  readonly figures: readonly Figure[];
  /** Ours divided by JSONFile's writes/s, per mode. */
  readonly ratio: { readonly sequential: number; readonly inFlight: number };
}

function vpc(i: number): Vpc {
  const octet = i % 256;
  return {
    id: `vpc-${i}`, tenantId: `tenant-${i % 50}`, name: `service ${i}`, bridge: `br-${i}`,
    cidrs: [`10.${octet}.0.0/16`, `fd00:${(i + 1).toString(16)}::/48`], createdAt: AT, updatedAt: AT,
  };
}

function peering(n: number): Peering {
  const requester = n % VPCS;
  return {
    id: `pcx-${n.toString(16).padStart(17, '0')}`, tenantId: `tenant-${requester % 50}`,
    requesterVpcId: `vpc-${requester}`, accepterVpcId: `vpc-${(requester + 50) % VPCS}`,
    name: `link ${n}`, status: n % 3 === 0 ? 'active' : 'pending-acceptance',
    requestedBy: 'orchestrator@hv-01', createdAt: AT, updatedAt: AT, expiresAt: '2025-01-08T00:00:00.000Z',
  };
}

function preloadState(): State {
  const vpcs = Array.from({ length: VPCS }, (_, i) => vpc(i));
  const peerings = Array.from({ length: PEERINGS }, (_, n) => peering(n));
  return {
    vpcs: Object.fromEntries(vpcs.map((v) => [v.id, v])),
    peerings: Object.fromEntries(peerings.map((p) => [p.id, p])),
  };
}

/** Calls `write(n)` with fresh numbers, `concurrency` at a time, until a limit is hit. */
async function measure(concurrency: number, first: number, write: (n: number) => Promise<void>) {
  let next = first;
  const latencies: number[] = [];
  const started = performance.now();
  const deadline = started + MAX_SECONDS * 1000;
  const worker = async (): Promise<void> => {
    while (latencies.length < MAX_WRITES && performance.now() < deadline) {
      const t0 = performance.now();
      await write(next++);
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (q: number) => round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN, 2);
  return {
    writes: latencies.length, seconds: round(seconds, 3), writesPerSec: Math.round(latencies.length / seconds),
    p50Ms: at(0.5), p99Ms: at(0.99), maxMs: at(1), next,
  };
}

function round(x: number, digits: number): number {
  return Number(x.toFixed(digits));
}

async function benchJournal(dir: string, state: State): Promise<{ reopenMs: number; figures: Figure[] }> {
  const path = join(dir, 'journal', 'state.json');
  const logger = silentLogger();
  const loading = await openStore({ nodeId: 'hv-01', path, logger });
  const all = [
    ...Object.values(state.vpcs).map((v): Mutation => ({ op: 'vpc.put', vpc: v })),
    ...Object.values(state.peerings).map((p): Mutation => ({ op: 'peering.put', peering: p })),
  ];
  const chunks = Array.from({ length: Math.ceil(all.length / 100) }, (_, i) => all.slice(i * 100, i * 100 + 100));
  await Promise.all(chunks.map((c) => loading.store.commit(c)));
  await loading.store.close();

  const opened = performance.now();
  const { store } = await openStore({ nodeId: 'hv-01', path, logger });
  const reopenMs = round(performance.now() - opened, 1);
  const put = (n: number) => store.commit([{ op: 'peering.put', peering: peering(n) }]);

  const figures: Figure[] = [];
  let syncs = store.stats().syncs;
  const seq = await measure(1, PEERINGS, put);
  figures.push({ impl: 'journal', mode: 'sequential', ...pick(seq), syncs: store.stats().syncs - syncs });
  syncs = store.stats().syncs;
  const par = await measure(IN_FLIGHT, seq.next, put);
  figures.push({ impl: 'journal', mode: `${IN_FLIGHT}-in-flight`, ...pick(par), syncs: store.stats().syncs - syncs });
  await store.close();
  return { reopenMs, figures };
}

async function benchJsonFile(dir: string, state: State): Promise<Figure[]> {
  const db = new Low<{ vpcs: Record<string, Vpc>; peerings: Record<string, Peering> }>(
    new JSONFile(join(dir, 'lowdb.json')),
    { vpcs: { ...state.vpcs }, peerings: { ...state.peerings } },
  );
  await db.write();
  const put = (n: number) => {
    const p = peering(n);
    db.data.peerings[p.id] = p;
    return db.write();
  };
  const seq = await measure(1, PEERINGS, put);
  const par = await measure(IN_FLIGHT, seq.next, put);
  return [
    { impl: 'lowdb-jsonfile', mode: 'sequential', ...pick(seq) },
    { impl: 'lowdb-jsonfile', mode: `${IN_FLIGHT}-in-flight`, ...pick(par) },
  ];
}

function pick({ next: _next, ...figure }: Awaited<ReturnType<typeof measure>>) {
  return figure;
}

/** Runs the whole comparison in a temp folder (removed afterwards) and returns the figures. */
export async function runStoreBench(): Promise<StoreBenchResult> {
  const dir = await mkdtemp(join(tmpdir(), 'vpc-peerd-bench-'));
  try {
    const state = preloadState();
    const ours = await benchJournal(dir, state);
    const theirs = await benchJsonFile(dir, state);
    const rate = (figures: Figure[], sequential: boolean) =>
      figures.find((f) => (f.mode === 'sequential') === sequential)?.writesPerSec ?? NaN;
    return {
      preloadedRecords: VPCS + PEERINGS,
      reopenMs: ours.reopenMs,
      figures: [...ours.figures, ...theirs],
      ratio: {
        sequential: round(rate(ours.figures, true) / rate(theirs, true), 1),
        inFlight: round(rate(ours.figures, false) / rate(theirs, false), 1),
      },
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function printStoreResult(result: StoreBenchResult): void {
  for (const f of result.figures) console.log(JSON.stringify({ bench: 'store', records: result.preloadedRecords, ...f }));
  console.log(JSON.stringify({ bench: 'store', reopenMs: result.reopenMs, ratio: result.ratio }));
  const line = (impl: Figure['impl']) => result.figures.filter((f) => f.impl === impl)
    .map((f) => `${f.writesPerSec}/s ${f.mode}`).join(', ');
  console.log(`store, ${result.preloadedRecords} records: journal ${line('journal')}; ` +
    `lowdb JSONFile (no fsync) ${line('lowdb-jsonfile')}; ratio ${result.ratio.sequential}x sequential, ` +
    `${result.ratio.inFlight}x ${IN_FLIGHT} in flight; reopen ${result.reopenMs} ms`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  printStoreResult(await runStoreBench());
}
