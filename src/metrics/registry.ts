// The metrics registry: a thin façade over prom-client. Histograms are observed as events happen,
// counters and gauges are read from their owners at each collection (a prom-client `collect`
// hook), and one prom-client registry feeds both the `metrics` RPC method (as JSON, collect()) and
// the Prometheus text exposition format 0.0.4 (text(), rendered by prom-client). Label sets are
// declared with each family and bounded by their sources (method table, local bridges); nothing
// here takes a label from a client.
import { collectDefaultMetrics, Counter, Gauge, Histogram, prometheusContentType, Registry as PromRegistry } from 'prom-client';

export type MetricType = 'counter' | 'gauge' | 'histogram';
export type Labels = Readonly<Record<string, string>>;

export interface HistogramValue {
  readonly count: number;
  readonly sum: number;
  /** Cumulative counts per upper bound, ascending; the +Inf bucket is `count`. */
  readonly buckets: readonly { readonly le: number; readonly count: number }[];
}

export type Sample = { readonly labels: Labels; readonly value: number } | { readonly labels: Labels; readonly histogram: HistogramValue };

export interface Family {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  readonly samples: readonly Sample[];
}

/** The Content-Type of text(): the Prometheus text format 0.0.4. */
export const METRICS_CONTENT_TYPE: string = prometheusContentType;

/** Seconds: 0.5 ms to 10 s, for latencies of an fdatasync, an RPC call or a reconcile cycle. */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

export interface HistogramFamily {
  /** `labels` must use exactly the family's declared label names. */
  observe(labels: Labels, value: number): void;
}

export interface Registry {
  /** A histogram fed by observe(); one series per distinct label set (a family without labels has its one series from the start). */
  histogram(name: string, help: string, opts?: { readonly labelNames?: readonly string[]; readonly buckets?: readonly number[] }): HistogramFamily;
  /**
   * A counter or gauge whose samples are read from `collect` at each collection; a sample's labels
   * must be among `labelNames`. No sample from `collect` means no series (not a 0).
   */
  collected(
    name: string,
    help: string,
    type: 'counter' | 'gauge',
    collect: () => readonly { labels: Labels; value: number }[],
    labelNames?: readonly string[],
  ): void;
  /**
   * Every family, in registration order (the process figures last), series sorted by their
   * labels. A NaN or infinite value (a figure with no defined value yet) has no sample here:
   * JSON cannot carry it.
   */
  collect(): Promise<Family[]>;
  /** The same families in the Prometheus text format 0.0.4 (METRICS_CONTENT_TYPE). */
  text(): Promise<string>;
}

/**
 * A registry of its own (never prom-client's global one). With `processMetrics`, it also exposes
 * the process's standard figures (prom-client's default metrics: CPU, memory, heap, event-loop
 * lag, handles, GC) under their standard unprefixed names.
 */
export function createRegistry(opts: { readonly processMetrics?: boolean } = {}): Registry {
  const own = new PromRegistry();
  const all = (): PromRegistry => (opts.processMetrics ? PromRegistry.merge([own, processRegistry()]) : own);
  const registers = [own];

  const checkFree = (name: string): void => {
    // Within `own` prom-client refuses a second registration itself; a clash with the process
    // figures would only show at the first scrape.
    if (opts.processMetrics && processRegistry().getSingleMetric(name)) throw new Error(`metrics: ${name} is a process metric`);
  };

  return {
    histogram(name, help, { labelNames = [], buckets = LATENCY_BUCKETS } = {}) {
      // prom-client takes unsorted buckets and then counts wrongly.
      if (buckets.some((b, i) => !Number.isFinite(b) || (i > 0 && b <= (buckets[i - 1] as number)))) {
        throw new Error(`metrics: ${name}: buckets must be finite and ascending`);
      }
      checkFree(name);
      const histogram = new Histogram({ name, help, labelNames, buckets: [...buckets], registers });
      return { observe: (labels, value) => histogram.observe(labels, value) };
    },
    collected(name, help, type, collect, labelNames = []) {
      checkFree(name);
      // Each collection starts from nothing, so a series its source no longer reports (a bridge
      // gone) disappears. reset() gives a family without labels a 0 series: removed when the
      // source has no value (a part not started), as there is nothing to report.
      const refill = (metric: Counter | Gauge, put: (s: { labels: Labels; value: number }) => void): void => {
        metric.reset();
        const samples = sortByLabels(collect());
        if (samples.length === 0 && labelNames.length === 0) metric.remove({});
        for (const s of samples) put(s);
      };
      const config = { name, help, labelNames, registers };
      if (type === 'counter') {
        new Counter({
          ...config,
          collect() {
            refill(this, (s) => this.inc(s.labels, s.value));
          },
        });
      } else {
        new Gauge({
          ...config,
          collect() {
            refill(this, (s) => this.set(s.labels, s.value));
          },
        });
      }
    },
    collect: async () => (await all().getMetricsAsJSON()).map((m) => toFamily(m as unknown as PromFamily)),
    text: () => all().metrics(),
  };
}

// The process figures are collected once per process: they describe the process however many
// registries it holds, and collecting starts observers (GC, event-loop delay) that live as long
// as it does.
let processFigures: PromRegistry | null = null;
function processRegistry(): PromRegistry {
  if (!processFigures) {
    processFigures = new PromRegistry();
    collectDefaultMetrics({ register: processFigures });
  }
  return processFigures;
}

/**
 * What getMetricsAsJSON() returns at run time: its typings declare `type` as a numeric enum, but
 * the values are the strings of the text format, and a histogram's samples carry metricName.
 */
interface PromFamily {
  readonly name: string;
  readonly help: string;
  readonly type: string;
  readonly values: readonly { readonly value: number; readonly labels: Readonly<Record<string, string | number>>; readonly metricName?: string }[];
}

function toFamily(m: PromFamily): Family {
  if (m.type !== 'counter' && m.type !== 'gauge' && m.type !== 'histogram') throw new Error(`metrics: ${m.name}: unsupported type ${m.type}`);
  const type: MetricType = m.type;
  if (type !== 'histogram') {
    const samples = m.values.filter((v) => Number.isFinite(v.value)).map((v) => ({ labels: labelStrings(v.labels), value: v.value }));
    return { name: m.name, help: m.help, type, samples: sortByLabels(samples) };
  }
  const series = new Map<string, { labels: Labels; count: number; sum: number; buckets: { le: number; count: number }[] }>();
  for (const v of m.values) {
    const { le, ...rest } = v.labels;
    const labels = labelStrings(rest);
    const key = labelKey(labels);
    let s = series.get(key);
    if (!s) series.set(key, (s = { labels, count: 0, sum: 0, buckets: [] }));
    if (v.metricName === `${m.name}_sum`) s.sum = v.value;
    else if (v.metricName === `${m.name}_count`) s.count = v.value;
    else if (le !== '+Inf') s.buckets.push({ le: Number(le), count: v.value });
  }
  const samples = [...series.values()].map(({ labels, ...histogram }) => ({ labels, histogram }));
  return { name: m.name, help: m.help, type, samples: sortByLabels(samples) };
}

function labelStrings(labels: Readonly<Record<string, string | number>>): Labels {
  return Object.fromEntries(Object.entries(labels).map(([k, v]) => [k, String(v)]));
}

function labelKey(labels: Labels): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function sortByLabels<T extends { labels: Labels }>(items: readonly T[]): T[] {
  // Each key computed once: a scrape sorts every series of every collected family.
  return items
    .map((item) => ({ item, key: labelKey(item.labels) }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map(({ item }) => item);
}
