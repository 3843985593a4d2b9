// API throughput and latency of the real daemon process over its Unix socket: `status` and
// `peering.get` with 1 and with 64 requests in flight, then durable `peering.create` with 10,000
// records already stored. Prints one JSON line per figure and a human summary. Run it with
// `node dist/bench/rpc.bench.js` after `npm run build` (or through `npm run bench`).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { startBenchDaemon } from './daemon.js';

/** Each measurement stops after this many requests or seconds, whichever comes first. */
const MAX_REQUESTS = 100_000;
const MAX_SECONDS = 3;
const PRELOAD_VPCS = 10_000;

export interface RpcFigure {
  readonly method: string;
  readonly inFlight: number;
  readonly requests: number;
  readonly perSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Records in the store while measuring. */
  readonly records: number;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

/**
 * Runs `call(i)` with `inFlight` callers until `limit` calls or MAX_SECONDS, timing each call.
 * Every caller uses its own slice of `i`, so calls that must differ (creates) never collide.
 */
export async function measure(
  method: string,
  inFlight: number,
  limit: number,
  records: number,
  call: (i: number) => Promise<unknown>,
): Promise<RpcFigure> {
  const latencies: number[] = [];
  const deadline = performance.now() + MAX_SECONDS * 1000;
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < limit && performance.now() < deadline) {
        const i = next++;
        const t0 = performance.now();
        await call(i);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    method,
    inFlight,
    requests: latencies.length,
    perSec: Math.round(latencies.length / seconds),
    p50Ms: round(percentile(latencies, 50)),
    p99Ms: round(percentile(latencies, 99)),
    records,
  };
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/** A VPC whose /24 overlaps no other's, so any two of them may peer. */
function vpcParams(i: number): Record<string, unknown> {
  return { id: `vpc-${i}`, tenantId: 'bench', cidrs: [`10.${i >> 8}.${i & 255}.0/24`], bridge: `br-${i}` };
}

export async function runRpcBench(): Promise<RpcFigure[]> {
  const dir = await mkdtemp(join(tmpdir(), 'vpc-peerd-bench-'));
  const daemon = await startBenchDaemon(dir, { ovs: { enabled: false }, peering: { maxActivePerVpc: 125 } }, 30_000);
  const c = daemon.client;
  const figures: RpcFigure[] = [];
  try {
    await c.call('vpc.create', vpcParams(0));
    await c.call('vpc.create', vpcParams(1));
    const p = (await c.call('peering.create', { requesterVpcId: 'vpc-0', accepterVpcId: 'vpc-1' })) as { id: string };
    for (const inFlight of [1, 64]) {
      figures.push(await measure('status', inFlight, MAX_REQUESTS, 3, () => c.call('status', {})));
      figures.push(await measure('peering.get', inFlight, MAX_REQUESTS, 3, () => c.call('peering.get', { id: p.id })));
    }

    // 10,000 records: VPCs 2..10001, created 64 at a time (not measured).
    await measure('preload vpc.create', 64, PRELOAD_VPCS, 3, (i) => c.call('vpc.create', vpcParams(i + 2)));
    const records = PRELOAD_VPCS + 3;
    // Disjoint pairs of preloaded VPCs: (2k+2, 2k+3). Sequential first, then 64 in flight.
    let pair = 0;
    const create = (): Promise<unknown> => {
      const k = pair++;
      return c.call('peering.create', { requesterVpcId: `vpc-${2 * k + 2}`, accepterVpcId: `vpc-${2 * k + 3}` });
    };
    figures.push(await measure('peering.create (durable)', 1, 1000, records, create));
    figures.push(await measure('peering.create (durable)', 64, PRELOAD_VPCS / 2 - 1000, records, create));
  } finally {
    await daemon.stop();
    await rm(dir, { recursive: true, force: true });
  }
  return figures;
}

export function printRpcFigures(figures: readonly RpcFigure[]): void {
  for (const f of figures) console.log(JSON.stringify({ bench: 'rpc', ...f }));
  for (const f of figures) {
    console.log(
      `rpc  ${f.method.padEnd(25)} in-flight=${String(f.inFlight).padEnd(3)} ${String(f.perSec).padStart(7)} req/s  ` +
        `p50 ${f.p50Ms.toFixed(3)} ms  p99 ${f.p99Ms.toFixed(3)} ms  (${f.requests} requests, ${f.records} records)`,
    );
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  printRpcFigures(await runRpcBench());
}
