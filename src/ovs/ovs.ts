// The daemon's view of Open vSwitch: flows through ovs-ofctl processes (the runner) and the
// bridges' OpenFlow channels, ports and the topology through one kept OVSDB connection
// (ovsdb/client.ts) with a monitor of the rows they read. Names are checked here (a bad name is a
// bug of the caller: it throws at once); what OVS answers is parsed by the pure parsers; OVS
// faults come back as OvsError.
import { type FSWatcher, watch } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log/logger.js';
import { compareFlows, type Flow } from './flow.js';
import { dumpLines, parseDumpFlows } from './dump-parser.js';
import type { Backoff } from './link.js';
import { createOfChannel, type OfChannel, type OfChannelEvents } from './openflow/channel.js';
import { createOvsdbClient } from './ovsdb/client.js';
import { deletePortsTxn, type PatchSide, patchPortsTxn } from './ovsdb/transactions.js';
import { createRunner, DEFAULT_TIMEOUT_MS, type OvsBinary, type RunOptions, type Runner } from './runner.js';
import { type Topology, topologyFromRows } from './topology-parser.js';

export { OvsError, type OvsErrorKind } from './runner.js';
export type { BridgeInfo, PortInfo, Topology } from './topology-parser.js';

export interface PatchPair {
  readonly bridge: string;
  readonly port: string;
  readonly peerBridge: string;
  readonly peerPort: string;
  /**
   * OpenFlow port numbers to ask for (`ofport_request`). With them the flows that use the ports,
   * among them the drop of whatever else arrives on them, can be installed before the ports
   * exist: a patch pair on bridges whose platform flow is NORMAL otherwise joins the two VPCs
   * until those flows are in.
   */
  readonly ofport?: number;
  readonly peerOfport?: number;
}

export interface PortRef {
  readonly bridge: string;
  readonly port: string;
}

export interface Ovs {
  /**
   * Every bridge with its ports, from one ovsdb snapshot at least as new as the call (the
   * monitor's rows after one round trip). The same object while those rows do not change.
   */
  topology(): Promise<Topology>;
  /**
   * Calls `listener` synchronously, with no argument and no I/O, after the OVSDB monitor applied
   * a change of a Bridge, Port or Interface row (a bridge or port added, deleted or changed, an
   * ofport assigned), or a reconnect's initial reply: a topology() that follows returns a new
   * object. Changes made by addPatchPairs and deletePorts are announced too. It hears the
   * connection the other calls keep (opened by the first of them) and opens none. Returns the
   * function that removes the listener (idempotent).
   */
  watchTopology(listener: () => void): () => void;
  /**
   * The flows whose cookie matches `cookie/mask`, canonical, sorted (table, priority desc, match).
   * A dump that prints exactly what the previous one of the bridge printed returns the same
   * (frozen) array: callers may compare by identity to know nothing changed.
   */
  dumpFlows(bridge: string, cookie: bigint, mask: bigint): Promise<readonly Flow[]>;
  /**
   * The flows whose cookie matches `cookie/mask` as ovs-ofctl prints them (`--no-stats`), one a
   * line, trimmed, in its order: for operators (peering.flows). Not cached, not parsed.
   */
  dumpFlowLines(bridge: string, cookie: bigint, mask: bigint): Promise<string[]>;
  /**
   * Applies bundle lines (`add ...`, `modify_strict ...`, `delete_strict ...`) atomically: all
   * or none. A line OVS would silently broaden ("normalization changed") fails it as a whole.
   */
  applyBundle(bridge: string, lines: readonly string[]): Promise<void>;
  /**
   * Creates (or repairs) patch pairs, both sides, in one ovsdb transaction; waits for vswitchd,
   * so a topology() that follows shows their ofports. OvsError 'failed' for a port of that name
   * on another bridge, 'no-such-bridge' for a missing bridge.
   */
  addPatchPairs(pairs: readonly PatchPair[]): Promise<void>;
  /** Deletes ports (absent ones are fine) in one ovsdb transaction; waits for vswitchd. */
  deletePorts(ports: readonly PortRef[]): Promise<void>;
  /**
   * The bridge's OpenFlow channel over its management socket (`<rundir>/<bridge>.mgmt`): one
   * persistent OpenFlow 1.4 connection that reconnects by itself until closed (channel.ts), and
   * at once when the socket is made again in the rundir (vswitchd started: inotify, not the backoff).
   */
  openFlow(bridge: string, events: OfChannelEvents): OfChannel;
  /**
   * The bridges whose management socket (`BRIDGE.mgmt`) is in the rundir: a hint, read without a
   * process, for work that may start before the topology is read (a dead vswitchd leaves them).
   */
  bridgeHints(): Promise<string[]>;
  /** Whether ovsdb-server and ovs-vswitchd both answer; never throws. */
  probe(): Promise<'up' | 'down'>;
  /**
   * The pid of a running ovs-vswitchd from its pidfile, or null: a change means a restart. Reads
   * /proc/PID, so it needs vswitchd's /proc entry visible (no ProtectProc=invisible as non-root).
   */
  vswitchdPid(): Promise<number | null>;
  /** Closes the OVSDB connection (the OpenFlow channels are their owners' to close). Idempotent. */
  close(): void;
}

export interface OvsOptions {
  readonly rundir: string;
  readonly logger: Logger;
  readonly timeoutMs?: number;
  /** Starts the tools; default createRunner({rundir, timeoutMs}). Tests pass a fake one. */
  readonly runner?: Runner;
  /** The OpenFlow channels' reconnect backoff (channel.ts's default: 50 ms doubling to 1 s). */
  readonly channelBackoff?: Backoff;
  /** ovsdb-server's socket; default `<rundir>/db.sock`. */
  readonly dbSocket?: string;
}

/**
 * SPEC's bridge pattern, minus a leading `-`: the tools would read such a name as an option, and
 * ovs-vsctl reads `--` as the separator between commands.
 */
const NAME = /^[A-Za-z0-9_][A-Za-z0-9_-]{0,14}$/;
const BUNDLE_LINE = /^(add|modify_strict|delete_strict) [^\r\n]+$/;
/** Every bit of a cookie: `cookie=C/-1` (EXACT_COOKIE_MASK) selects one cookie exactly. */
export const EXACT_COOKIE_MASK = (1n << 64n) - 1n;
/** The highest OpenFlow port number a port can have (0xff00 and up are reserved). */
const OFPORT_MAX = 0xfeff;
const PROBE_TIMEOUT_MS = 2_000;
/**
 * Fields whose value, in the spellings given, never decides whether OVS must normalise a match
 * (see flowShape). An address with a zero-length prefix is not among them: it matches nothing, so
 * it needs no protocol, where the same field with a real block does.
 */
const SHAPE_FREE: ReadonlyMap<string, RegExp> = new Map(
  Object.entries({
    cookie: /^0x[0-9a-f]{1,16}(\/(0x[0-9a-f]{1,16}|-1))?$/i,
    table: /^\d{1,3}$/,
    priority: /^\d{1,5}$/,
    in_port: /^\d{1,5}$/,
    ...Object.fromEntries(['nw_src', 'nw_dst', 'arp_spa', 'arp_tpa'].map((f) => [f, /^\d{1,3}(\.\d{1,3}){3}(\/([1-9]|[12]\d|3[0-2]))?$/])),
    ...Object.fromEntries(['ipv6_src', 'ipv6_dst', 'nd_target'].map((f) => [f, /^[0-9a-f:]{2,39}(\/([1-9]|[1-9]\d|1[01]\d|12[0-8]))?$/i])),
  }),
);
/** A bound on the shapes remembered; the daemon's own templates make about a dozen. */
const MAX_CHECKED_SHAPES = 1024;

export function createOvs(opts: OvsOptions): Ovs {
  /** Line shapes (flowShape) that parse-flows has accepted without a warning. */
  const checkedShapes = new Set<string>();
  /** The last dump of each bridge (by filter): its text and what it parsed to. Bridges gone from a topology read are dropped. */
  const lastDumps = new Map<string, Map<string, { readonly text: string; readonly flows: readonly Flow[] }>>();
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const runner = opts.runner ?? createRunner({ rundir: opts.rundir, timeoutMs });
  const log = opts.logger.child({ component: 'ovs' });
  /** The open channels by bridge, kicked when the bridge's socket appears in the rundir. */
  const channels = new Map<string, Set<OfChannel>>();
  let watcher: FSWatcher | null = null;
  /**
   * Watches the rundir once a channel is open: vswitchd makes `BRIDGE.mgmt` as it starts, and the
   * bridge's channel connects then, not at the end of a reconnect backoff of up to a second.
   * Without the folder (or inotify) the backoff alone reconnects.
   */
  const watchRundir = (): void => {
    if (watcher) return;
    try {
      watcher = watch(opts.rundir, { persistent: false }, (_event, name) => {
        if (typeof name !== 'string' || !name.endsWith('.mgmt')) return;
        for (const ch of channels.get(name.slice(0, -5)) ?? []) ch.kick();
      });
      watcher.on('error', (err) => {
        log.debug('rundir watch ended', { err: err.message });
        watcher?.close();
        watcher = null;
      });
    } catch (err) {
      log.debug('rundir not watched', { err: (err as Error).message });
      watcher = null;
    }
  };
  const db = createOvsdbClient({ path: opts.dbSocket ?? join(opts.rundir, 'db.sock'), logger: opts.logger, requestTimeoutMs: timeoutMs });
  /** The topology of the monitor's rows at a generation: rebuilt only when they changed. */
  let built: { readonly generation: number; readonly topology: Topology } | null = null;

  const run = async (bin: OvsBinary, args: readonly string[], runOpts?: RunOptions): Promise<string> => {
    const r = await runner.run(bin, args, runOpts);
    log.debug('ovs command', { command: `${bin} ${args[0] ?? ''}`, durationMs: Math.round(r.durationMs) });
    return r.stdout;
  };

  const dump = (bridge: string, filter: string): Promise<string> => {
    checkName(bridge, 'bridge');
    return run('ovs-ofctl', ['dump-flows', bridge, filter, '--no-stats', '--no-names']);
  };

  return {
    async topology() {
      const { rows, generation } = await db.sync();
      if (built?.generation !== generation) built = { generation, topology: topologyFromRows(rows) };
      const { topology } = built;
      for (const bridge of lastDumps.keys()) if (!topology.bridges.has(bridge)) lastDumps.delete(bridge);
      return topology;
    },

    watchTopology(listener) {
      return db.watch(listener);
    },

    async dumpFlows(bridge, cookie, mask) {
      const filter = cookieFilter(cookie, mask);
      const text = await dump(bridge, filter);
      // A steady table prints the same text every time (measured: the order is stable while
      // nothing changes): parsing 14,000 flows again was a fifth of a steady pass's CPU.
      let ofBridge = lastDumps.get(bridge);
      if (ofBridge === undefined) lastDumps.set(bridge, (ofBridge = new Map<string, { readonly text: string; readonly flows: readonly Flow[] }>()));
      const last = ofBridge.get(filter);
      if (last?.text === text) return last.flows;
      // OVS prints in hash order; a stable order makes diffs and logs reproducible.
      const flows = Object.freeze(parseDumpFlows(text).sort(compareFlows));
      ofBridge.set(filter, { text, flows });
      return flows;
    },

    async dumpFlowLines(bridge, cookie, mask) {
      return dumpLines(await dump(bridge, cookieFilter(cookie, mask))).map((line) => line.trim());
    },

    async applyBundle(bridge, lines) {
      checkName(bridge, 'bridge');
      for (const line of lines) {
        if (!BUNDLE_LINE.test(line)) throw new Error(`not a bundle line: ${JSON.stringify(line)}`);
      }
      if (lines.length === 0) return;
      // A bundle applies a line whose match OVS had to normalise (a field without its protocol:
      // the flow matches more than written) and only says so on stderr. parse-flows shows the
      // same warning offline, so such a bundle is refused before anything is installed. What
      // decides it is which fields a line has and its protocol values, not its addresses, port
      // numbers or cookie: parse-flows sees one line of each shape, once per process.
      const fresh = new Map<string, string>();
      for (const line of lines) {
        if (line.startsWith('delete_strict ')) continue;
        const flow = line.slice(line.indexOf(' ') + 1);
        const shape = flowShape(flow);
        if (!checkedShapes.has(shape)) fresh.set(shape, flow);
      }
      if (fresh.size > 0) {
        await run('ovs-ofctl', ['parse-flows', '-'], { stdin: [...fresh.values()].join('\n') + '\n' });
        if (checkedShapes.size + fresh.size > MAX_CHECKED_SHAPES) checkedShapes.clear();
        for (const shape of fresh.keys()) checkedShapes.add(shape);
      }
      // One line is one flow_mod, atomic by itself: without --bundle it takes fewer round trips
      // to vswitchd (measured: 26 ms against 45 ms with 100 bridges). `--no-names`: our lines
      // hold numbers only, and without it ovs-ofctl first fetches the table features (110 KB
      // for 255 tables) to read table names: a bundle of 7 flows took 26 ms with, 9 ms without.
      const bundle = lines.length > 1 ? ['--bundle'] : [];
      await run('ovs-ofctl', ['--no-names', ...bundle, 'add-flows', bridge, '-'], { stdin: lines.join('\n') + '\n' });
    },

    async addPatchPairs(pairs) {
      const sides: PatchSide[] = [];
      for (const p of pairs) {
        sides.push(
          { bridge: p.bridge, port: p.port, peer: p.peerPort, ...(p.ofport === undefined ? {} : { ofport: p.ofport }) },
          { bridge: p.peerBridge, port: p.peerPort, peer: p.port, ...(p.peerOfport === undefined ? {} : { ofport: p.peerOfport }) },
        );
      }
      for (const { bridge, port, peer, ofport } of sides) {
        checkName(bridge, 'bridge');
        checkName(port, 'port');
        checkName(peer, 'port');
        if (ofport !== undefined && !(Number.isInteger(ofport) && ofport >= 1 && ofport <= OFPORT_MAX)) {
          throw new Error(`invalid ofport ${ofport} for ${port}: 1-${OFPORT_MAX}`);
        }
      }
      if (sides.length > 0) await db.commit((rows) => patchPortsTxn(rows, sides));
    },

    async deletePorts(ports) {
      for (const { bridge, port } of ports) {
        checkName(bridge, 'bridge');
        checkName(port, 'port');
      }
      if (ports.length > 0) await db.commit((rows) => deletePortsTxn(rows, ports));
    },

    openFlow(bridge, events) {
      checkName(bridge, 'bridge');
      const ch = createOfChannel(
        { path: join(opts.rundir, `${bridge}.mgmt`), logger: opts.logger, requestTimeoutMs: timeoutMs, ...(opts.channelBackoff ? { backoff: opts.channelBackoff } : {}) },
        events,
      );
      const mine = channels.get(bridge) ?? new Set<OfChannel>();
      channels.set(bridge, mine.add(ch));
      watchRundir();
      return {
        get connected() {
          return ch.connected;
        },
        get unreachable() {
          return ch.unreachable;
        },
        request: (msg) => ch.request(msg),
        flowStats: (cookie, mask, inOrder) => ch.flowStats(cookie, mask, inOrder),
        monitor: (m, inOrder) => ch.monitor(m, inOrder),
        bundle: (mods, inOrder) => ch.bundle(mods, inOrder),
        kick: () => ch.kick(),
        close: () => {
          mine.delete(ch);
          if (mine.size === 0) channels.delete(bridge);
          ch.close();
        },
      };
    },

    async bridgeHints() {
      let names: string[];
      try {
        names = await readdir(opts.rundir);
      } catch {
        return [];
      }
      return names.flatMap((n) => (n.endsWith('.mgmt') && NAME.test(n.slice(0, -5)) ? [n.slice(0, -5)] : [])).sort();
    },

    async probe() {
      const answers = (p: Promise<unknown>): Promise<boolean> =>
        p.then(
          () => true,
          () => false,
        );
      const [db, vswitchd] = await Promise.all([
        answers(run('ovs-vsctl', ['list-br'], { timeoutMs: PROBE_TIMEOUT_MS })),
        answers(run('ovs-appctl', ['-t', 'ovs-vswitchd', 'version'], { timeoutMs: PROBE_TIMEOUT_MS })),
      ]);
      return db && vswitchd ? 'up' : 'down';
    },

    async vswitchdPid() {
      let text: string;
      try {
        text = await readFile(join(opts.rundir, 'ovs-vswitchd.pid'), 'utf8');
      } catch {
        return null;
      }
      if (!/^\d+\s*$/.test(text)) return null;
      const pid = Number(text.trim());
      return (await isRunning(pid)) ? pid : null;
    },

    close() {
      db.close();
      watcher?.close();
      watcher = null;
    },
  };
}

/**
 * A flow as `add-flows` reads it with the values that cannot change OVS's verdict on it masked:
 * addresses with a non-zero prefix and port numbers (a match prerequisite depends on which fields
 * are present and on the protocol fields, eth_type/ip_proto/icmp_type, which stay), the cookie,
 * table, priority and output port. `ip,nw_src=10.0.0.0/24,…,actions=output:7` and the same with other blocks are one
 * shape. A value that does not parse is not a silent change: add-flows refuses it.
 */
export function flowShape(flow: string): string {
  const at = flow.indexOf('actions=');
  const head = at < 0 ? flow : flow.slice(0, at);
  const actions = at < 0 ? '' : flow.slice(at).replace(/\boutput:\d+/g, 'output:*');
  const fields = head.split(',').map((token) => {
    const eq = token.indexOf('=');
    const free = eq > 0 ? SHAPE_FREE.get(token.slice(0, eq)) : undefined;
    return free?.test(token.slice(eq + 1)) ? `${token.slice(0, eq)}=*` : token;
  });
  return fields.join(',') + actions;
}

/** The dump-flows argument that selects the cookies `c` with `(c & mask) === (cookie & mask)`. */
function cookieFilter(cookie: bigint, mask: bigint): string {
  checkUint64(cookie, 'cookie');
  checkUint64(mask, 'mask');
  return `cookie=0x${cookie.toString(16)}/0x${mask.toString(16)}`;
}

function checkName(name: string, what: string): void {
  if (!NAME.test(name)) throw new Error(`invalid ${what} name ${JSON.stringify(name)}: must match ${NAME.source}`);
}

function checkUint64(v: bigint, what: string): void {
  if (v < 0n || v > EXACT_COOKIE_MASK) throw new Error(`${what} 0x${v.toString(16)} is not a 64-bit value`);
}

/**
 * A pidfile outlives a killed vswitchd, and so, until its parent reaps it, does the process as
 * a zombie: only a process that exists and is not a zombie counts.
 */
async function isRunning(pid: number): Promise<boolean> {
  let stat: string;
  try {
    stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false;
  }
  // `pid (comm) S ...`: the state follows the last parenthesis (comm may hold any character).
  return stat.charAt(stat.lastIndexOf(')') + 2) !== 'Z';
}
