// Human output of vpc-peerctl: aligned tables for lists, `key: value` lines for one record, a
// short summary for status and reconcile. Results arrive as unknown JSON, so every renderer reads
// defensively and falls back to pretty JSON for a shape it does not know.
import type { View } from './commands.js';

type Json = Record<string, unknown>;

/** Text for stdout (ends with a newline). */
export function render(view: View, result: unknown, opts: { dryRun?: boolean } = {}): string {
  switch (view) {
    case 'vpc':
    case 'peering':
      return isRecord(result) ? renderRecord(result, view === 'vpc' ? VPC_ORDER : PEERING_ORDER) : renderJson(result);
    case 'vpc-list':
      return renderList(result, VPC_COLUMNS);
    case 'peering-list':
      return renderList(result, PEERING_COLUMNS);
    case 'vpc-deleted':
      return isRecord(result) ? `vpc ${text(result.id)} deleted\n` : renderJson(result);
    case 'reconcile':
      return isRecord(result) ? renderReconcile(result, opts.dryRun ?? false) : renderJson(result);
    case 'status':
      return isRecord(result) ? renderStatus(result) : renderJson(result);
    case 'raw':
      return renderJson(result);
  }
}

export function renderJson(value: unknown): string {
  return JSON.stringify(value, null, 2) + '\n';
}

interface Column {
  readonly title: string;
  readonly cell: (row: Json) => string;
}

const VPC_COLUMNS: readonly Column[] = [
  { title: 'ID', cell: (r) => text(r.id) },
  { title: 'TENANT', cell: (r) => text(r.tenantId) },
  { title: 'BRIDGE', cell: (r) => text(r.bridge) },
  { title: 'CIDRS', cell: (r) => text(r.cidrs) },
  { title: 'NAME', cell: (r) => text(r.name) },
];

const PEERING_COLUMNS: readonly Column[] = [
  { title: 'ID', cell: (r) => text(r.id) },
  { title: 'STATUS', cell: (r) => text(r.status) },
  { title: 'REQUESTER', cell: (r) => text(r.requesterVpcId) },
  { title: 'ACCEPTER', cell: (r) => text(r.accepterVpcId) },
  { title: 'TENANT', cell: (r) => text(r.tenantId) },
  // A pending request's deadline matters; for the others, why they ended.
  { title: 'EXPIRES/REASON', cell: (r) => text(r.status === 'pending-acceptance' ? r.expiresAt : r.statusReason) },
];

const VPC_ORDER = ['id', 'tenantId', 'name', 'bridge', 'cidrs', 'createdAt', 'updatedAt'];
const PEERING_ORDER = [
  'id', 'status', 'statusReason', 'tenantId', 'requesterVpcId', 'accepterVpcId', 'name',
  'requestedBy', 'acceptedBy', 'createdAt', 'updatedAt', 'expiresAt', 'dataplane',
];

function renderList(result: unknown, columns: readonly Column[]): string {
  if (!isRecord(result) || !Array.isArray(result.items)) return renderJson(result);
  const rows = result.items.filter(isRecord).map((item) => columns.map((c) => c.cell(item)));
  return table(columns.map((c) => c.title), rows);
}

/** Columns padded to their widest cell, two spaces apart; the last column is not padded. */
function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [headers, ...rows];
  const widths = headers.map((_, i) => Math.max(...all.map((row) => (row[i] ?? '').length)));
  const line = (row: readonly string[]): string =>
    row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  return all.map(line).join('\n') + '\n';
}

/** `key: value` lines, known keys first in `order`, then any others; nested objects as `a.b`. */
function renderRecord(record: Json, order: readonly string[]): string {
  const keys = [...order.filter((k) => k in record), ...Object.keys(record).filter((k) => !order.includes(k))];
  const pairs: [string, string][] = [];
  for (const key of keys) {
    const value = record[key];
    if (value === undefined) continue;
    if (isRecord(value)) {
      for (const [sub, v] of Object.entries(value)) if (v !== undefined) pairs.push([`${key}.${sub}`, text(v)]);
    } else pairs.push([key, text(value)]);
  }
  return fields(pairs);
}

function fields(pairs: readonly (readonly [string, string])[]): string {
  const width = Math.max(0, ...pairs.map(([k]) => k.length)) + 1;
  return pairs.map(([k, v]) => `${(k + ':').padEnd(width)} ${v}`).join('\n') + '\n';
}

function renderReconcile(r: Json, dryRun: boolean): string {
  const errors = Array.isArray(r.errors) ? r.errors : [];
  const bridges = Array.isArray(r.bridges) ? r.bridges : [];
  const pairs: [string, string][] = [
    ['bridges', bridges.length === 0 ? 'none' : text(bridges)],
    [dryRun ? 'to add' : 'added', text(r.added)],
    [dryRun ? 'to remove' : 'removed', text(r.removed)],
    ['unchanged', text(r.unchanged)],
    ['duration', typeof r.durationMs === 'number' ? `${Math.round(r.durationMs)} ms` : text(r.durationMs)],
    ['errors', String(errors.length)],
  ];
  const details = errors.map((e) => (isRecord(e) ? `  ${text(e.bridge)}: ${text(e.error)}` : `  ${text(e)}`));
  return (dryRun ? 'dry run: nothing was changed\n' : '') + fields(pairs) + details.map((d) => d + '\n').join('');
}

/** The status fields an operator looks at first, in this order; anything else the daemon adds follows. */
function renderStatus(s: Json): string {
  const pairs: [string, string][] = [];
  const rest = { ...s };
  const take = (key: string): unknown => {
    const value = rest[key];
    delete rest[key];
    return value;
  };
  const add = (label: string, value: unknown): void => {
    if (value !== undefined) pairs.push([label, isRecord(value) ? summary(value) : text(value)]);
  };
  add('version', take('version'));
  add('node', take('nodeId'));
  const uptime = take('uptimeSeconds') ?? take('uptime');
  add('uptime', typeof uptime === 'number' ? duration(uptime) : uptime);
  add('store', take('store'));
  const ovs = take('ovs');
  if (isRecord(ovs)) {
    // The state leads: it is what an operator checks first.
    const { state, reason, ...details } = ovs;
    add('ovs', [text(state), reason ? `(${text(reason)})` : '', summary(details)].filter(Boolean).join(' '));
  } else add('ovs', ovs);
  add('gossip', take('gossip'));
  const counts = take('counts');
  if (isRecord(counts)) {
    // Zero counts are noise in a summary (`peerings: active=3`, not six statuses).
    for (const [k, v] of Object.entries(counts)) add(k, isRecord(v) ? summary(withoutZeros(v)) || '0' : v);
  }
  else add('counts', counts);
  for (const [k, v] of Object.entries(rest)) add(k, v);
  return fields(pairs);
}

/** `k=v` pairs of an object's members (one level of nesting as `a.b`), nulls left out for brevity. */
function summary(obj: Json, prefix = ''): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(obj)) {
    if (v === null || v === undefined) continue;
    if (isRecord(v) && prefix === '') parts.push(summary(v, `${k}.`));
    else parts.push(`${prefix}${k}=${Array.isArray(v) && v.some(isRecord) ? String(v.length) : text(v)}`);
  }
  return parts.filter(Boolean).join(' ');
}

function withoutZeros(obj: Json): Json {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== 0));
}

/** One cell or value: '-' for absent, arrays comma-joined, objects as JSON. */
function text(v: unknown): string {
  if (v === undefined || v === null || v === '') return '-';
  if (Array.isArray(v)) return v.length === 0 ? '-' : v.map(text).join(',');
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

function duration(seconds: number): string {
  const s = Math.floor(seconds);
  const parts: [number, string][] = [
    [Math.floor(s / 86400), 'd'],
    [Math.floor((s % 86400) / 3600), 'h'],
    [Math.floor((s % 3600) / 60), 'm'],
    [s % 60, 's'],
  ];
  const first = parts.findIndex(([n]) => n > 0);
  return first === -1 ? '0s' : parts.slice(first).map(([n, u]) => `${n}${u}`).join(' ');
}

function isRecord(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
