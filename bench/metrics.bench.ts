// The cost of one metrics collection, in process: the daemon's registry (the process figures
// included) with 1,000 bridges reporting flows and every API method's latency histogram filled,
// rendered as Prometheus text (a scrape) and as the `metrics` method's JSON. Prints one JSON line
// per figure and a human summary. Run it with `node dist/bench/metrics.bench.js` after
// `npm run build` (or through `npm run bench`).
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { createDaemonMetrics } from '../src/metrics/daemon-metrics.js';
import type { OvsStatus } from '../src/reconcile/dataplane.js';
import type { LoopHealth } from '../src/reconcile/loop.js';
import type { StoreStats } from '../src/store/store.js';
import { percentile } from './rpc.bench.js';

const BRIDGES = 1_000;
const METHODS = ['status', 'metrics', 'vpc.create', 'vpc.get', 'vpc.list', 'vpc.delete', 'peering.create', 'peering.accept', 'peering.get', 'peering.list', 'peering.delete', 'auth.login'];
const WARMUP = 30;
const RUNS = 300;

export interface MetricsFigure {
  readonly what: 'text' | 'json';
  readonly sampleLines: number;
  readonly bestMs: number;
  readonly p50Ms: number;
  /** CPU time (user + system) per collection, over all runs. */
  readonly cpuMs: number;
}

export async function runMetricsBench(): Promise<MetricsFigure[]> {
  const bridges = Array.from({ length: BRIDGES }, (_, i) => `br-${i}`);
  // Sources with only the fields the metrics read, so the bench follows the owners' types loosely.
  const metrics = createDaemonMetrics({
    store: () => ({ journalBytes: 1_234, records: 4_210, commits: 99, syncs: 50 }) as unknown as StoreStats,
    ovs: () => ({ state: 'enabled', bridges, driftRepaired: 3, restartsDetected: 1, perBridge: Object.fromEntries(bridges.map((b) => [b, { flows: 7, flowsDoNotConverge: 0 }])) }) as unknown as OvsStatus,
    reconcile: () => ({ cycles: 10, consecutiveFailures: 0 }) as unknown as LoopHealth,
  });
  for (const method of METHODS) for (const ok of [true, false]) for (let i = 0; i < 50; i++) metrics.onRpcCall(method, i, ok);
  for (let i = 0; i < 50; i++) metrics.observeReconcile(i * 2);

  const sampleLines = (await metrics.text()).split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
  const time = async (what: MetricsFigure['what'], collect: () => Promise<unknown>): Promise<MetricsFigure> => {
    for (let i = 0; i < WARMUP; i++) await collect();
    const ms: number[] = [];
    const cpu = process.cpuUsage();
    for (let i = 0; i < RUNS; i++) {
      const start = performance.now();
      await collect();
      ms.push(performance.now() - start);
    }
    const used = process.cpuUsage(cpu);
    ms.sort((a, b) => a - b);
    return { what, sampleLines, bestMs: ms[0] ?? 0, p50Ms: percentile(ms, 50), cpuMs: (used.user + used.system) / 1000 / RUNS };
  };
  return [await time('text', () => metrics.text()), await time('json', async () => JSON.stringify(await metrics.collect()))];
}

export function printMetricsFigures(figures: readonly MetricsFigure[]): void {
  for (const f of figures) console.log(JSON.stringify({ bench: 'metrics', ...f }));
  for (const f of figures) {
    console.log(
      `metrics ${f.what === 'text' ? 'scrape (text)' : 'method (JSON)'}: ${f.sampleLines} sample lines, best ${f.bestMs.toFixed(2)} ms, p50 ${f.p50Ms.toFixed(2)} ms, ${f.cpuMs.toFixed(2)} ms CPU each`,
    );
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  printMetricsFigures(await runMetricsBench());
}
