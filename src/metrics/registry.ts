// A small metrics registry: histograms observed as events happen, counters and gauges read from
// their owners at collection time, and one snapshot that feeds both the `metrics` RPC method
// (as JSON) and the Prometheus text exposition format 0.0.4 (renderText). Label sets are bounded
// by their sources (method table, local bridges); nothing here takes a label from a client.

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

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Seconds: 0.5 ms to 10 s, for latencies of an fdatasync, an RPC call or a reconcile cycle. */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

export interface HistogramFamily {
  observe(labels: Labels, value: number): void;
}

export interface Registry {
  /** A histogram fed by observe(); one series per distinct label set. */
  histogram(name: string, help: string, buckets?: readonly number[]): HistogramFamily;
  /** A counter or gauge whose samples are read from `collect` at each collection. */
  collected(name: string, help: string, type: 'counter' | 'gauge', collect: () => readonly { labels: Labels; value: number }[]): void;
  /** Every family, in registration order; series sorted by their labels. */
  collect(): Family[];
}

export function createRegistry(): Registry {
  const families: (() => Family)[] = [];
  const names = new Set<string>();

  const register = (name: string, make: () => Family): void => {
    if (!NAME.test(name)) throw new Error(`metrics: invalid metric name ${JSON.stringify(name)}`);
    if (names.has(name)) throw new Error(`metrics: ${name} is registered twice`);
    names.add(name);
    families.push(make);
  };

  return {
    histogram(name, help, buckets = LATENCY_BUCKETS) {
      const bounds = [...buckets];
      if (bounds.some((b, i) => !Number.isFinite(b) || (i > 0 && b <= (bounds[i - 1] as number)))) {
        throw new Error(`metrics: ${name}: buckets must be finite and ascending`);
      }
      const series = new Map<string, { labels: Labels; counts: number[]; count: number; sum: number }>();
      register(name, () => ({
        name,
        help,
        type: 'histogram',
        samples: sortByLabels([...series.values()]).map((s) => {
          let cumulative = 0;
          const out = bounds.map((le, i) => ({ le, count: (cumulative += s.counts[i] as number) }));
          return { labels: s.labels, histogram: { count: s.count, sum: s.sum, buckets: out } };
        }),
      }));
      return {
        observe(labels, value) {
          checkLabels(name, labels);
          const key = labelKey(labels);
          let s = series.get(key);
          if (!s) series.set(key, (s = { labels: { ...labels }, counts: bounds.map(() => 0), count: 0, sum: 0 }));
          const i = bounds.findIndex((b) => value <= b);
          if (i >= 0) s.counts[i] = (s.counts[i] as number) + 1;
          s.count += 1;
          s.sum += value;
        },
      };
    },
    collected(name, help, type, collect) {
      register(name, () => {
        const samples = collect();
        for (const s of samples) checkLabels(name, s.labels);
        return { name, help, type, samples: sortByLabels(samples) };
      });
    },
    collect: () => families.map((make) => make()),
  };
}

/** The Prometheus text format (version 0.0.4) of `families`. */
export function renderText(families: readonly Family[]): string {
  const lines: string[] = [];
  for (const f of families) {
    lines.push(`# HELP ${f.name} ${f.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`);
    lines.push(`# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) {
      if ('value' in s) {
        lines.push(`${f.name}${labelText(s.labels)} ${numberText(s.value)}`);
        continue;
      }
      for (const b of s.histogram.buckets) lines.push(`${f.name}_bucket${labelText({ ...s.labels, le: numberText(b.le) })} ${b.count}`);
      lines.push(`${f.name}_bucket${labelText({ ...s.labels, le: '+Inf' })} ${s.histogram.count}`);
      lines.push(`${f.name}_sum${labelText(s.labels)} ${numberText(s.histogram.sum)}`);
      lines.push(`${f.name}_count${labelText(s.labels)} ${s.histogram.count}`);
    }
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

function labelText(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return '';
  const escape = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
  return `{${entries.map(([k, v]) => `${k}="${escape(v)}"`).join(',')}}`;
}

function numberText(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  return String(n);
}

function checkLabels(name: string, labels: Labels): void {
  for (const k of Object.keys(labels)) {
    if (!LABEL.test(k) || k === 'le' || k.startsWith('__')) throw new Error(`metrics: ${name}: invalid label name ${JSON.stringify(k)}`);
  }
}

function labelKey(labels: Labels): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function sortByLabels<T extends { labels: Labels }>(items: readonly T[]): T[] {
  return [...items].sort((a, b) => {
    const ka = labelKey(a.labels);
    const kb = labelKey(b.labels);
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
}
