// A strict parser of the Prometheus text exposition format 0.0.4, written from the format's
// description rather than taken from the code under test: it throws on anything a scraper could
// misread (a sample before its TYPE, a family split in two, a bad escape, a histogram whose
// buckets are not cumulative or lack +Inf, a duplicate series). What the format allows it takes:
// empty lines (ignored), and values as Go's ParseFloat reads them (NaN and Inf in any case).

export interface ParsedSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface ParsedFamily {
  readonly name: string;
  readonly help: string | null;
  readonly type: string;
  readonly samples: ParsedSample[];
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

export function parsePrometheusText(text: string): Map<string, ParsedFamily> {
  if (text !== '' && !text.endsWith('\n')) throw new Error('the text must end with a newline');
  const families = new Map<string, ParsedFamily>();
  const seen = new Set<string>();
  let current: string | null = null;
  const lines = text.split('\n').slice(0, -1);
  lines.forEach((line, i) => {
    const where = `line ${i + 1} (${JSON.stringify(line)})`;
    if (line.startsWith('#')) {
      const m = new RegExp(`^# (HELP|TYPE) (${NAME}) (.*)$`).exec(line);
      if (!m) {
        if (/^# (HELP|TYPE)/.test(line)) throw new Error(`${where}: malformed ${line.split(' ')[1]}`);
        return; // a plain comment
      }
      const [, kind, name, rest] = m as unknown as [string, string, string, string];
      let family = families.get(name);
      if (family && current !== name) throw new Error(`${where}: ${name} appears in two places`);
      if (!family) {
        family = { name, help: null, type: 'untyped', samples: [] };
        families.set(name, family);
      }
      current = name;
      if (kind === 'HELP') {
        if (family.help !== null) throw new Error(`${where}: second HELP`);
        (family as { help: string | null }).help = unescape(rest, where, false);
      } else {
        if (!TYPES.has(rest)) throw new Error(`${where}: unknown type ${rest}`);
        if (family.samples.length > 0 || family.type !== 'untyped') throw new Error(`${where}: TYPE after samples or twice`);
        (family as { type: string }).type = rest;
      }
      return;
    }
    if (line.trim() === '') return;
    const sample = parseSample(line, where);
    const family = familyOf(sample.name, families);
    if (!family || family.name !== current) throw new Error(`${where}: sample outside its family's block (TYPE first)`);
    const key = `${sample.name}${JSON.stringify(Object.entries(sample.labels).sort())}`;
    if (seen.has(key)) throw new Error(`${where}: duplicate series`);
    seen.add(key);
    family.samples.push(sample);
  });
  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f);
  return families;
}

function familyOf(sampleName: string, families: Map<string, ParsedFamily>): ParsedFamily | undefined {
  const direct = families.get(sampleName);
  if (direct) return direct;
  const m = /^(.*)_(bucket|sum|count)$/.exec(sampleName);
  const base = m ? families.get(m[1] as string) : undefined;
  return base && (base.type === 'histogram' || base.type === 'summary') ? base : undefined;
}

function parseSample(line: string, where: string): ParsedSample {
  const m = new RegExp(`^(${NAME})`).exec(line);
  if (!m) throw new Error(`${where}: no metric name`);
  const name = m[1] as string;
  let pos = name.length;
  const labels: Record<string, string> = {};
  if (line[pos] === '{') {
    pos += 1;
    while (line[pos] !== '}') {
      const lm = /^([a-zA-Z_][a-zA-Z0-9_]*)="/.exec(line.slice(pos));
      if (!lm) throw new Error(`${where}: bad label at ${pos}`);
      const label = lm[1] as string;
      if (label in labels) throw new Error(`${where}: label ${label} twice`);
      pos += lm[0].length;
      let raw = '';
      while (line[pos] !== '"') {
        if (pos >= line.length) throw new Error(`${where}: unterminated label value`);
        if (line[pos] === '\\') {
          raw += line.slice(pos, pos + 2);
          pos += 2;
        } else raw += line[pos++];
      }
      labels[label] = unescape(raw, where, true);
      pos += 1;
      if (line[pos] === ',') pos += 1;
      else if (line[pos] !== '}') throw new Error(`${where}: expected , or } at ${pos}`);
    }
    pos += 1;
  }
  const rest = line.slice(pos);
  const vm = /^ (\S+)(?: (-?\d+))?$/.exec(rest);
  if (!vm) throw new Error(`${where}: expected " value [timestamp]"`);
  return { name, labels, value: parseValue(vm[1] as string, where) };
}

function parseValue(text: string, where: string): number {
  if (/^[+]?inf(inity)?$/i.test(text)) return Infinity;
  if (/^-inf(inity)?$/i.test(text)) return -Infinity;
  if (/^nan$/i.test(text)) return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`${where}: bad value ${text}`);
  return Number(text);
}

function unescape(text: string, where: string, quoted: boolean): string {
  return text.replace(/\\(.?)/g, (_all, c: string) => {
    if (c === '\\') return '\\';
    if (c === 'n') return '\n';
    if (c === '"' && quoted) return '"';
    throw new Error(`${where}: bad escape \\${c}`);
  });
}

function checkHistogram(f: ParsedFamily): void {
  const series = new Map<string, { buckets: { le: number; value: number }[]; sum?: number; count?: number }>();
  for (const s of f.samples) {
    const { le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort());
    const entry = series.get(key) ?? { buckets: [] };
    series.set(key, entry);
    if (s.name === `${f.name}_bucket`) {
      if (le === undefined) throw new Error(`${f.name}: a bucket without le`);
      entry.buckets.push({ le: parseValue(le, f.name), value: s.value });
    } else if (s.name === `${f.name}_sum`) entry.sum = s.value;
    else if (s.name === `${f.name}_count`) entry.count = s.value;
    else throw new Error(`${f.name}: unexpected sample ${s.name}`);
  }
  for (const [key, e] of series) {
    const last = e.buckets.at(-1);
    if (!last || last.le !== Infinity) throw new Error(`${f.name}${key}: no +Inf bucket last`);
    for (let i = 1; i < e.buckets.length; i++) {
      const [a, b] = [e.buckets[i - 1], e.buckets[i]] as [{ le: number; value: number }, { le: number; value: number }];
      if (!(b.le > a.le) || b.value < a.value) throw new Error(`${f.name}${key}: buckets not ascending and cumulative`);
    }
    if (e.sum === undefined || e.count === undefined) throw new Error(`${f.name}${key}: _sum or _count missing`);
    if (e.count !== last.value) throw new Error(`${f.name}${key}: _count differs from the +Inf bucket`);
  }
}
