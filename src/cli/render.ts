// Human output of vpc-peerctl: aligned tables for lists, `key: value` lines for one record, a
// systemctl-like summary for status, per-bridge changes for reconcile. Results arrive as unknown
// JSON, so every renderer reads defensively and falls back to pretty JSON for a shape it does
// not know. Colour is decided by the caller (a terminal, no NO_COLOR) and passed in.
import { type Call, TERMINAL_STATUSES, type View } from './commands.js';

type Json = Record<string, unknown>;

/** How to decorate text: colours on a terminal, identity otherwise. */
export interface Style {
  readonly ok: (s: string) => string;
  readonly warn: (s: string) => string;
  readonly bad: (s: string) => string;
  readonly bold: (s: string) => string;
}

const plain = (s: string): string => s;
export const PLAIN: Style = { ok: plain, warn: plain, bad: plain, bold: plain };
const sgr = (code: string) => (s: string): string => `\x1b[${code}m${s}\x1b[0m`;
export const COLOUR: Style = { ok: sgr('32'), warn: sgr('33'), bad: sgr('31'), bold: sgr('1') };

export interface RenderContext {
  readonly style: Style;
  /** For "3m ago"; a parameter so that output is reproducible in tests. */
  readonly now: Date;
}

const DEFAULT_CONTEXT: RenderContext = { style: PLAIN, now: new Date(0) };

/** Text for stdout (ends with a newline) of the result of `call`. */
export function render(call: Pick<Call, 'view' | 'params' | 'quiet'>, result: unknown, ctx: RenderContext = DEFAULT_CONTEXT): string {
  const view: View = call.view;
  if (call.quiet === true) return renderIds(result);
  switch (view) {
    case 'vpc':
      return isRecord(result) ? renderRecord(result, VPC_ORDER) : renderJson(result);
    case 'peering':
      return isRecord(result) ? renderPeering(result, ctx.now) : renderJson(result);
    case 'vpc-list':
      return renderList(result, VPC_COLUMNS);
    case 'peering-list':
      return renderList(result, PEERING_COLUMNS);
    case 'peering-flows':
      return isRecord(result) ? renderFlows(result) : renderJson(result);
    case 'vpc-deleted':
      return isRecord(result) ? `vpc ${text(result.id)} deleted\n` : renderJson(result);
    case 'reconcile':
      return isRecord(result) ? renderReconcile(result, call.params.dryRun === true) : renderJson(result);
    case 'status':
      return isRecord(result) ? renderStatus(result, ctx) : renderJson(result);
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
  { title: 'NAME', cell: (r) => text(r.name) },
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

function renderIds(result: unknown): string {
  const items = isRecord(result) && Array.isArray(result.items) ? result.items.filter(isRecord) : [];
  return items.map((i) => `${text(i.id)}\n`).join('');
}

function renderList(result: unknown, columns: readonly Column[]): string {
  if (!isRecord(result) || !Array.isArray(result.items)) return renderJson(result);
  const rows = result.items.filter(isRecord).map((item) => columns.map((c) => c.cell(item)));
  return table(columns.map((c) => c.title), rows);
}

/** Columns padded to their widest cell, two spaces apart; the last column is not padded. */
function table(headers: readonly string[], rows: readonly (readonly string[])[], indent = ''): string {
  const all = [headers, ...rows];
  const widths = headers.map((_, i) => Math.max(...all.map((row) => (row[i] ?? '').length)));
  const line = (row: readonly string[]): string =>
    indent + row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  return all.map(line).join('\n') + '\n';
}

/** `key: value` lines, known keys first in `order`, then any others; nested scalars as `a.b`. */
function renderRecord(record: Json, order: readonly string[]): string {
  const keys = [...order.filter((k) => k in record), ...Object.keys(record).filter((k) => !order.includes(k))];
  const pairs: [string, string][] = [];
  for (const key of keys) {
    const value = record[key];
    if (value === undefined) continue;
    if (isRecord(value)) {
      for (const [sub, v] of Object.entries(value)) if (v !== undefined && !isTable(v)) pairs.push([`${key}.${sub}`, text(v)]);
    } else if (!isTable(value)) pairs.push([key, text(value)]);
  }
  return fields(pairs);
}

/** An array of objects: shown as a table of its own, not squeezed into one `key: value` line. */
function isTable(v: unknown): v is Json[] {
  return Array.isArray(v) && v.length > 0 && v.every(isRecord);
}

/**
 * One line over the hosts' data planes (SPEC §5 `hosts`), what an operator reads first:
 * `programmed on 4/5 hosts; hv-03: error`. For a peering in a terminal `status` (deleted,
 * rejected, expired, failed) the goal is no flows, so `inactive` is what is done there:
 * `flows removed on 3/3 hosts`. Hosts where the peering is `not-local` do not count (nothing to
 * do there); every other host not done is named with its state (its error is in the hosts
 * table, printed once), a stale one with how long it has been silent (`heardAt` against `now`)
 * and its last state. Every host in no-op mode is said as such.
 */
export function hostsSummary(hosts: readonly Json[], status: unknown, now: Date): string {
  const plural = (n: number): string => `${n} host${n === 1 ? '' : 's'}`;
  const terminal = typeof status === 'string' && TERMINAL_STATUSES.includes(status);
  const done = terminal ? 'inactive' : 'programmed';
  // A host in no-op mode or not carrying the peering's bridges has nothing to program: it is
  // neither done nor a problem, so it is counted apart (and a stale host is still named).
  const local = hosts.filter((h) => h.state === 'not-local').length;
  const disabled = hosts.filter((h) => h.state === 'disabled').length;
  const relevant = hosts.filter((h) => h.state !== 'not-local' && h.state !== 'disabled');
  const doneOn = relevant.filter((h) => h.state === done).length;
  const apart = [...(local > 0 ? [`not local to ${local}`] : []), ...(disabled > 0 ? [`OVS disabled on ${disabled}`] : [])];
  let line: string;
  if (relevant.length > 0) {
    line = `${terminal ? 'flows removed' : 'programmed'} on ${doneOn}/${plural(relevant.length)}`;
    if (apart.length > 0) line += ` (${apart.join(', ')} more)`;
  } else if (disabled === hosts.length && hosts.length > 0) line = `no data plane on any of ${plural(hosts.length)} (OVS disabled: no-op mode)`;
  else if (local === hosts.length) line = `not local to any of ${plural(hosts.length)}`;
  else line = `nothing to program on any of ${plural(hosts.length)}: ${apart.join(', ')}`;
  const others = relevant.filter((h) => h.state !== done).map((h) => `${text(h.nodeId)}: ${h.stale === true ? silence(h, now) : text(h.state)}`);
  return others.length > 0 ? `${line}; ${others.join('; ')}` : line;
}

/** A stale host: `not heard from for 45s (last programmed)`, or `never heard from`. */
function silence(h: Json, now: Date): string {
  const heard = typeof h.heardAt === 'string' ? Date.parse(h.heardAt) : NaN;
  const last = typeof h.lastState === 'string' ? ` (last ${h.lastState})` : '';
  return Number.isNaN(heard) ? `never heard from${last}` : `not heard from for ${duration(Math.max(0, (now.getTime() - heard) / 1000))}${last}`;
}

/** `heardAt` as `3s ago` (`-` when absent or never). */
function ago(v: unknown, now: Date): string {
  const at = typeof v === 'string' ? Date.parse(v) : NaN;
  return Number.isNaN(at) ? '-' : `${duration(Math.max(0, (now.getTime() - at) / 1000))} ago`;
}

/**
 * A peering's fields, then its data plane per bridge on this host, then per host (gossip; `now`
 * for how long ago each was heard from). Each host's error is printed once: this host's in
 * `dataplane.error` (its first `hosts` row is the same live view, SPEC §5), every other host's in
 * the hosts table.
 */
function renderPeering(p: Json, now: Date): string {
  let out = renderRecord(p, PEERING_ORDER);
  const dataplane = isRecord(p.dataplane) ? p.dataplane : {};
  if (isTable(dataplane.bridges)) {
    out += '\n' + table(
      ['BRIDGE', 'PATCH PORT', 'PEER PATCH PORT', 'COOKIE', 'FLOWS'],
      dataplane.bridges.map((b) => [text(b.bridge), text(b.patchPort), text(b.peerPatchPort), text(b.cookie), text(b.flows)]),
    );
  }
  if (isTable(p.hosts)) {
    out += '\n' + hostsSummary(p.hosts, p.status, now) + '\n' + table(
      ['HOST', 'STATE', 'FLOWS', 'REPORTED', 'HEARD', 'ERROR'],
      p.hosts.map((h, i) => [
        text(h.nodeId), h.stale === true ? `unknown (last ${text(h.lastState)})` : text(h.state), text(h.flows), text(h.at), ago(h.heardAt, now),
        i === 0 && typeof h.error === 'string' && h.error === dataplane.error ? 'see dataplane.error above' : text(h.error),
      ]),
    );
  }
  return out;
}

/** `peering flows`: each bridge's flows, one a line, under the bridge's name. */
function renderFlows(r: Json): string {
  const bridges = Array.isArray(r.bridges) ? r.bridges.filter(isRecord) : [];
  if (bridges.length === 0) return `no flows of ${text(r.id)} on this host\n`;
  return bridges
    .map((b) => {
      const flows = Array.isArray(b.flows) ? b.flows.map(text) : [];
      return `${text(b.bridge)}: ${count(flows.length, 'flow')}\n${flows.map((f) => `  ${f}\n`).join('')}`;
    })
    .join('');
}

function fields(pairs: readonly (readonly [string, string])[]): string {
  const width = Math.max(0, ...pairs.map(([k]) => k.length)) + 1;
  return pairs.map(([k, v]) => `${(k + ':').padEnd(width)} ${v}`).join('\n') + '\n';
}

/** reconcile.run: the changes per bridge (dry run or --verbose), then the totals. Errors go to stderr (run.ts). */
function renderReconcile(r: Json, dryRun: boolean): string {
  if (r.ovs === 'disabled') return 'OVS is disabled on this host (no-op mode): nothing to reconcile\n';
  const errors = Array.isArray(r.errors) ? r.errors : [];
  const bridges = Array.isArray(r.bridges) ? r.bridges : [];
  let out = dryRun ? 'dry run: nothing was changed\n' : '';
  if (r.ovs === 'unavailable') out += 'OVS is unavailable on this host: nothing could be checked\n';
  for (const c of Array.isArray(r.changes) ? r.changes.filter(isRecord) : []) out += renderChanges(c, dryRun);
  const pairs: [string, string][] = [
    ['bridges', bridges.length === 0 ? 'none' : text(bridges)],
    [dryRun ? 'to add' : 'added', text(r.added)],
    [dryRun ? 'to remove' : 'removed', text(r.removed)],
    ['unchanged', text(r.unchanged)],
    ['duration', typeof r.durationMs === 'number' ? `${Math.round(r.durationMs)} ms` : text(r.durationMs)],
    ['errors', String(errors.length)],
  ];
  return out + fields(pairs);
}

/**
 * One bridge's changes, diff-style: `+`/`-` then what. Each flow text is what the daemon gives,
 * pasteable into `ovs-ofctl add-flow BRIDGE '<flow>'` or `ovs-ofctl --strict del-flows BRIDGE '<flow>'`.
 */
function renderChanges(c: Json, dryRun: boolean): string {
  const list = (v: unknown): string[] => (Array.isArray(v) ? v.map(text) : []);
  const [addFlows, removeFlows, addPorts, removePorts] = [list(c.addFlows), list(c.removeFlows), list(c.addPorts), list(c.removePorts)];
  const verb = dryRun ? ['to add', 'to remove'] : ['added', 'removed'];
  const parts = [
    addFlows.length > 0 && `${count(addFlows.length, 'flow')} ${verb[0]}`,
    removeFlows.length > 0 && `${count(removeFlows.length, 'flow')} ${verb[1]}`,
    addPorts.length > 0 && `${count(addPorts.length, 'port')} ${verb[0]}`,
    removePorts.length > 0 && `${count(removePorts.length, 'port')} ${verb[1]}`,
  ].filter(Boolean);
  const lines = [
    ...addPorts.map((p) => `  + port ${p}`),
    ...removePorts.map((p) => `  - port ${p}`),
    ...addFlows.map((f) => `  + flow ${f}`),
    ...removeFlows.map((f) => `  - flow ${f}`),
  ];
  return `${text(c.bridge)}: ${parts.length === 0 ? 'in sync' : parts.join(', ')}\n${lines.map((l) => l + '\n').join('')}`;
}

/**
 * `status` for people: a first line that says at a glance whether all is well (like
 * `systemctl status`), then one short section per part. Internal counters (journal seq,
 * generations, syncs) stay in `--json`.
 */
export function renderStatus(s: Json, ctx: RenderContext): string {
  const { style } = ctx;
  const store = isRecord(s.store) ? s.store : {};
  const ovs = isRecord(s.ovs) ? s.ovs : {};
  const gossip = isRecord(s.gossip) ? s.gossip : {};
  const counts = isRecord(s.counts) ? s.counts : {};
  const peerings = isRecord(counts.peerings) ? counts.peerings : {};
  const bridges = Array.isArray(ovs.bridges) ? ovs.bridges.map(text) : [];
  const peers = Array.isArray(gossip.peers) ? gossip.peers.filter(isRecord) : [];
  const connected = peers.filter((p) => p.connected === true).length;

  // The store's states (src/store/store.ts StoreState): any but ok refuses every write.
  const storeState = text(store.state);
  const storeFailed = storeState !== 'ok';
  const ovsDown = ovs.state === 'unavailable';
  const gossipOn = gossip.enabled === true;
  const perBridge = isRecord(ovs.perBridge) ? ovs.perBridge : {};
  const inError = Object.values(perBridge).filter((b) => isRecord(b) && b.error).length;
  const [word, tone] =
    storeFailed ? ['failing', style.bad]
    : ovsDown || inError > 0 || (gossipOn && connected < peers.length) ? ['degraded', style.warn]
    : ['serving', style.ok];
  const ovsHead =
    ovs.state === 'enabled' ? `OVS ${count(bridges.length, 'bridge')}${inError > 0 ? style.warn(`, ${inError} in error`) : ''}`
    : ovs.state === 'disabled' ? 'OVS disabled (no-op mode)'
    : ovsDown ? style.warn('OVS unavailable')
    : `OVS ${text(ovs.state)}`;
  const active = typeof peerings.active === 'number' ? peerings.active : 0;
  const head = [
    `${tone('●')} ${tone(word)}`,
    ovsHead,
    `${count(active, 'peering')} active`,
    storeFailed ? style.bad(`store ${storeState}, writes refused`) : `store ${count(num(store.records), 'record')}`,
    gossipOn ? `gossip ${connected}/${peers.length} peers` : 'gossip off',
  ].join(' · ');

  const sections: [string, string[]][] = [];
  const uptime = typeof s.uptimeSeconds === 'number' ? `, up ${duration(s.uptimeSeconds)}` : '';
  sections.push(['Daemon', [`vpc-peerd ${text(s.version)} on ${text(s.nodeId)}${uptime}${s.startedAt ? ` (since ${text(s.startedAt)})` : ''}`]]);

  sections.push(['Store', storeLines(store, ctx)]);

  const ovsLines: string[] = [];
  const reason = ovs.reason ? ` (${text(ovs.reason)})` : '';
  ovsLines.push(`${ovsDown ? style.warn('unavailable') : text(ovs.state)}${reason}${bridges.length > 0 ? `: bridges ${bridges.join(', ')}` : ''}`);
  if (ovs.state !== 'disabled') {
    // The duration is the last pass's, which may have failed; lastReconcileAt moves only on complete passes.
    const took = typeof ovs.lastReconcileDurationMs === 'number' ? ` in ${Math.round(ovs.lastReconcileDurationMs)} ms` : '';
    const drift = `drift repaired ${count(num(ovs.driftRepaired), 'time')}`;
    if (typeof ovs.lastAttemptAt === 'string' && ovs.lastAttemptAt !== ovs.lastReconcileAt) {
      ovsLines.push(`last pass ${when(ovs.lastAttemptAt, ctx.now)}${took}; last complete reconcile ${when(ovs.lastReconcileAt, ctx.now)}; ${drift}`);
    } else ovsLines.push(`last reconcile ${when(ovs.lastReconcileAt, ctx.now)}${took}; ${drift}`);
    const behind = num(ovs.desiredGeneration) - num(ovs.appliedGeneration);
    if (behind > 0) ovsLines.push(style.warn(`catching up: ${count(behind, 'change')} not yet on OVS`));
    if (num(ovs.portsRepaired) > 0) ovsLines.push(`patch ports repaired: ${num(ovs.portsRepaired)} (deleted or changed by someone else, made again)`);
    if (num(ovs.restartsDetected) > 0) ovsLines.push(`ovs-vswitchd restarts seen: ${num(ovs.restartsDetected)} (flows re-installed each time)`);
    // The bridges whose flows are programmed and watched over their OpenFlow channel; the others take ovs-ofctl.
    if (bridges.length > 0) {
      const synced = num(ovs.channelsSynced);
      const line = `OpenFlow channels: ${synced}/${bridges.length} bridges connected`;
      ovsLines.push(synced < bridges.length ? style.warn(line) : line);
    }
    if (num(ovs.channelDisagreements) > 0) {
      ovsLines.push(style.warn(`the periodic dump-flows disagreed with the OpenFlow channel ${count(num(ovs.channelDisagreements), 'time')} (repaired; see the log)`));
    }
    // A whole-pass failure (OVS down) gives every bridge the same error: shown once, not per bridge.
    const byError = new Map<string, string[]>();
    for (const [bridge, b] of Object.entries(perBridge)) {
      if (isRecord(b) && b.error) byError.set(text(b.error), [...(byError.get(text(b.error)) ?? []), bridge]);
    }
    for (const [error, names] of byError) {
      const who = names.length === 1 ? names[0] : names.length === Object.keys(perBridge).length ? `all ${names.length} bridges` : names.join(', ');
      ovsLines.push(style.bad(`${who ?? '-'}: ${error}`));
    }
    // The last error is often one of the bridge errors above, word for word.
    const lastError = text(ovs.lastError);
    if (ovs.lastError && !ovsLines.some((l) => l.includes(lastError))) ovsLines.push(style.bad(`last error: ${lastError}`));
  }
  sections.push(['OVS', ovsLines]);

  const gossipLines = gossipOn
    ? [`${connected} of ${count(peers.length, 'peer')} connected`, ...peers.map((p) => {
      const line = `${text(p.nodeId ?? p.id ?? p.url)}: ${p.connected === true ? 'connected' : style.warn('not connected')}, last sync ${when(p.lastSyncAt, ctx.now)}`;
      // Why a peer is down is the first thing an operator needs (BAD_PROOF, TLS, ECONNREFUSED...).
      return p.connected !== true && p.lastError ? `${line}; ${style.bad(`last error: ${text(p.lastError)}`)}` : line;
    })]
    : ['off'];
  sections.push(['Gossip', gossipLines]);

  const byStatus = Object.entries(peerings).filter(([, n]) => n !== 0).map(([k, n]) => `${text(n)} ${k}`);
  sections.push(['Records', [`${count(num(counts.vpcs), 'VPC')}; peerings: ${byStatus.length === 0 ? 'none' : byStatus.join(', ')}`]]);

  // Sections another part of the daemon adds later: their scalar fields, never raw JSON.
  const known = new Set(['version', 'nodeId', 'startedAt', 'uptimeSeconds', 'store', 'ovs', 'gossip', 'counts']);
  for (const [key, value] of Object.entries(s)) {
    if (known.has(key)) continue;
    const line = isRecord(value) ? scalars(value) : text(value);
    if (line !== '') sections.push([key, [line]]);
  }

  const width = Math.max(...sections.map(([label]) => label.length)) + 2;
  const body = sections.flatMap(([label, lines]) => lines.map((l, i) => `${(i === 0 ? label : '').padEnd(width)}${l}`));
  return `${head}\n\n${body.join('\n')}\n`;
}

/**
 * The store section: state and size; while writes are refused, since when and why (lastError);
 * self-recoveries; what the last start repaired (recovery.warnings, docs/STORE.md).
 */
function storeLines(store: Json, ctx: RenderContext): string[] {
  const { style } = ctx;
  const state = text(store.state);
  const failed = state !== 'ok';
  const lines = [`${text(store.path)}: ${failed ? style.bad(`${state}, every write is refused`) : state}, ${count(num(store.records), 'record')}`];
  if (failed && (store.lastError || store.degradedSince)) {
    lines.push(style.bad(`${store.degradedSince ? `since ${when(store.degradedSince, ctx.now)}: ` : ''}${text(store.lastError)}`));
  }
  if (num(store.recoveries) > 0) lines.push(`recovered by itself from failed writes: ${count(num(store.recoveries), 'time')} since start`);
  const recovery = isRecord(store.recovery) ? store.recovery : {};
  for (const w of Array.isArray(recovery.warnings) ? recovery.warnings : []) lines.push(style.warn(`at start: ${text(w)}`));
  lines.push(`last write ${when(store.lastWriteAt, ctx.now)}`);
  return lines;
}

/** `k v, k v` of an object's scalar members. */
function scalars(obj: Json): string {
  return Object.entries(obj)
    .filter(([, v]) => v !== null && (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean'))
    .map(([k, v]) => `${k} ${text(v)}`)
    .join(', ');
}

/** An ISO time with how long ago it was, or "never". */
function when(v: unknown, now: Date): string {
  if (typeof v !== 'string' || v === '') return 'never';
  const at = Date.parse(v);
  if (Number.isNaN(at)) return v;
  const ago = Math.max(0, (now.getTime() - at) / 1000);
  return `${v} (${duration(ago)} ago)`;
}

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

/** `1 bridge`, `4,210 records`. */
function count(n: number, noun: string): string {
  return `${n.toLocaleString('en-US')} ${noun}${n === 1 ? '' : 's'}`;
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

export function isRecord(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
