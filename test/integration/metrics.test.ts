// The process figures operators expect (CPU, memory, heap, event-loop lag, handles, GC) from a real
// daemon process: over its HTTP endpoint as strictly parsed Prometheus text, with the standard
// unprefixed names, beside the daemon's own series, and in the `metrics` RPC method.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { startDaemon } from '../helpers/daemon.js';
import { type ParsedFamily, parsePrometheusText } from '../helpers/prometheus-text.js';

const PROCESS_FAMILIES = {
  process_cpu_seconds_total: 'counter',
  process_resident_memory_bytes: 'gauge',
  nodejs_eventloop_lag_seconds: 'gauge',
  nodejs_heap_size_used_bytes: 'gauge',
  nodejs_active_handles: 'gauge',
  nodejs_gc_duration_seconds: 'histogram',
} as const;

const sum = (f: ParsedFamily | undefined, sampleName = f?.name): number =>
  (f?.samples ?? []).filter((s) => s.name === sampleName).reduce((n, s) => n + s.value, 0);

t.test('the process figures over HTTP, from the daemon process itself', async (t) => {
  const d = await startDaemon(t, { config: { metrics: { listen: '127.0.0.1:0' } } });
  const admin = await d.admin();
  const line = d.logs().split('\n').find((l) => l.includes('"msg":"metrics endpoint listening"')) ?? '';
  const { port } = JSON.parse(line) as { port: number };
  const get = (): Promise<Response> => fetch(`http://127.0.0.1:${port}/metrics`);
  const scrape = async (): Promise<Map<string, ParsedFamily>> => {
    const res = await get();
    if (res.status !== 200) throw new Error(`GET /metrics: ${res.status}`);
    return parsePrometheusText(await res.text());
  };

  const res = await get();
  t.equal(res.status, 200);
  t.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  const first = parsePrometheusText(await res.text());
  for (const [name, type] of Object.entries(PROCESS_FAMILIES)) t.equal(first.get(name)?.type, type, `${name} is a ${type}`);
  t.ok(first.has('vpc_peerd_store_records'), "the daemon's own series are still there");
  t.notOk([...first.keys()].some((name) => name.startsWith('vpc_peerd_process') || name.startsWith('vpc_peerd_nodejs')), 'no prefix on the process figures');

  t.ok(sum(first.get('process_cpu_seconds_total')) > 0, 'CPU time spent');
  const rss = sum(first.get('process_resident_memory_bytes'));
  const pid = d.child.pid as number;
  const rssNow = Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) * 1024;
  t.ok(rss > rssNow / 2 && rss < rssNow * 2, `RSS ${rss} is the daemon's (${rssNow} in /proc/${pid}/status)`);
  t.ok(sum(first.get('nodejs_heap_size_used_bytes')) > 1_000_000, 'heap in use');
  t.ok(sum(first.get('nodejs_active_handles')) >= 2, 'the API socket and the endpoint are open handles');

  // prom-client measures the lag in the collection it starts: the second scrape has a figure.
  const lag = sum((await scrape()).get('nodejs_eventloop_lag_seconds'));
  t.ok(lag > 0 && lag < 5, `event-loop lag ${lag} s`);

  // A collection happens when the heap needs it: make the daemon allocate until one is observed.
  const deadline = Date.now() + 20_000;
  let gcs = 0;
  while (gcs === 0) {
    if (Date.now() > deadline) throw new Error('no garbage collection observed in 20 s');
    await Promise.all(Array.from({ length: 20 }, () => admin.call('rpc.discover', {})));
    const gc = (await scrape()).get('nodejs_gc_duration_seconds');
    gcs = sum(gc, 'nodejs_gc_duration_seconds_count');
  }
  t.ok(gcs > 0, `${gcs} garbage collections timed`);

  const viaRpc = (await admin.call('metrics', {})) as { families: { name: string; samples: { value?: number; histogram?: { count: number } }[] }[] };
  for (const name of Object.keys(PROCESS_FAMILIES)) t.ok(viaRpc.families.find((f) => f.name === name)?.samples.length, `${name} in the metrics method`);
  t.notOk(
    viaRpc.families.some((f) => f.samples.some((s) => s.histogram === undefined && typeof s.value !== 'number')),
    'every value sample of the JSON is a number',
  );
});
