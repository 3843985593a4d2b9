// Every host's data plane, per peering (SPEC §5 `hosts`, §8; docs/GOSSIP.md "Host reports"). Each
// daemon publishes a report of its own data-plane state for every peering it holds; reports
// spread over the mesh like records (a newer report of a node replaces the older one and is
// forwarded on, an older or equal one stops here), but they are observations, not desired state:
// they live in memory only, are never merged into the store, and a restarted daemon learns them
// again from its peers on connect.
import { peeringIdProblem, reasonProblem, reasonText, timestampProblem } from '../domain/records.js';
import { NODE_ID_PATTERN, type PeeringDataplaneState, PeeringDataplaneStates } from '../domain/types.js';

import { MAX_ENTRIES } from './digest.js';

/** One peering in a report, as a tuple to keep a host of 10,000 peerings in one frame: `[id, state, flows, error?]`. */
export type ReportEntry = readonly [id: string, state: PeeringDataplaneState, flows: number, error?: string];

/** One host's data plane at one instant. `at` (ISO-8601, ms) grows strictly per node and orders its reports. */
export interface HostReport {
  readonly nodeId: string;
  readonly at: string;
  readonly peerings: readonly ReportEntry[];
}

/** `hosts` frame body: reports the sender holds (its own, or ones it forwards). */
export interface HostsBody {
  readonly reports: readonly HostReport[];
}

/** Reports per frame at most (a new link gets every report held, one frame per report). */
export const MAX_REPORTS_PER_FRAME = 64;

/** Flows one peering can have on one host: a bound for the check, far above what §7 installs. */
const MAX_FLOWS = 1_000_000;

/** `peering.get` `hosts[]` (SPEC §5): one host's data plane for one peering, as last reported. */
export interface PeeringHost {
  readonly nodeId: string;
  /** A reported state, or `unknown` when the host's last report does not list the peering (it had not seen it yet). */
  readonly state: PeeringDataplaneState | 'unknown';
  readonly flows: number;
  /** When the host made the report (ISO-8601). */
  readonly at: string;
  readonly error?: string;
}

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function entryOk(e: unknown): boolean {
  if (!Array.isArray(e) || e.length < 3 || e.length > 4) return false;
  const [id, state, flows, error] = e as unknown[];
  return (
    peeringIdProblem(id) === null &&
    (PeeringDataplaneStates as readonly unknown[]).includes(state) &&
    Number.isSafeInteger(flows) && (flows as number) >= 0 && (flows as number) <= MAX_FLOWS &&
    (e.length === 3 || reasonProblem(error) === null)
  );
}

function reportOk(r: unknown): r is HostReport {
  return (
    isObject(r) &&
    typeof r.nodeId === 'string' && NODE_ID_PATTERN.test(r.nodeId) &&
    timestampProblem(r.at) === null &&
    Array.isArray(r.peerings) && r.peerings.length <= MAX_ENTRIES && r.peerings.every(entryOk)
  );
}

/** The `hosts` body check (the gossip decoder's boundary): the body, or undefined when any part has the wrong shape. */
export function parseHostsBody(x: unknown): HostsBody | undefined {
  if (!isObject(x) || !Array.isArray(x.reports) || x.reports.length > MAX_REPORTS_PER_FRAME) return undefined;
  return x.reports.every(reportOk) ? (x as unknown as HostsBody) : undefined;
}

/** The reports one host holds: the newest of each other node (its own is built by publish()). */
export class HostReports {
  private readonly held = new Map<string, HostReport>();
  private own: HostReport | null = null;
  /** The last own state published, without `at`, to publish only what changed. */
  private ownKey = '';

  constructor(
    readonly nodeId: string,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * This host's report from its data plane now (`entries`, one per peering held): a new report
   * when it differs from the last one published, else null (nothing to send).
   */
  publish(entries: readonly ReportEntry[]): HostReport | null {
    const key = JSON.stringify(entries);
    if (this.own !== null && key === this.ownKey) return null;
    const last = this.own === null ? 0 : Date.parse(this.own.at);
    this.own = { nodeId: this.nodeId, at: new Date(Math.max(this.now(), last + 1)).toISOString(), peerings: entries };
    this.ownKey = key;
    return this.own;
  }

  /** Received reports: keeps and returns those newer than what is held (to forward); this node's own are ignored. */
  offer(reports: readonly HostReport[]): HostReport[] {
    const fresh: HostReport[] = [];
    for (const r of reports) {
      if (r.nodeId === this.nodeId) continue;
      const held = this.held.get(r.nodeId);
      if (held !== undefined && Date.parse(held.at) >= Date.parse(r.at)) continue;
      this.held.set(r.nodeId, r);
      fresh.push(r);
    }
    return fresh;
  }

  /** Every report held, this host's own first (what a new link is sent). */
  all(): HostReport[] {
    return [...(this.own ? [this.own] : []), ...[...this.held.values()].sort((a, b) => a.nodeId.localeCompare(b.nodeId))];
  }

  /** Other nodes' reports, by node id. */
  others(): HostReport[] {
    return [...this.held.values()].sort((a, b) => a.nodeId.localeCompare(b.nodeId));
  }
}

/** A peering's data plane on one host as the data plane shows it (reconcile/dataplane.ts PeeringDataplane). */
export interface DataplaneView {
  readonly state: PeeringDataplaneState;
  readonly flows: number;
  readonly lastAttemptAt: string | null;
  readonly error?: string;
}

/**
 * `hosts` of one peering (SPEC §5): this host's live view first (`at`: its last pass, or `now`
 * when none ran, as in no-op mode), then each other node's last report (`unknown` where that
 * report does not list the peering).
 */
export function peeringHosts(id: string, self: { readonly nodeId: string; readonly view: DataplaneView; readonly now: Date }, reports: readonly HostReport[]): PeeringHost[] {
  const { view } = self;
  const own: PeeringHost = {
    nodeId: self.nodeId,
    state: view.state,
    flows: view.flows,
    at: view.lastAttemptAt ?? self.now.toISOString(),
    ...(view.error === undefined ? {} : { error: view.error }),
  };
  const others = reports.map((r): PeeringHost => {
    const e = r.peerings.find((x) => x[0] === id);
    if (e === undefined) return { nodeId: r.nodeId, state: 'unknown', flows: 0, at: r.at };
    return { nodeId: r.nodeId, state: e[1], flows: e[2], at: r.at, ...(e[3] === undefined ? {} : { error: e[3] }) };
  });
  return [own, ...others];
}

/** One report entry from a peering's data-plane view (its error text, if any, cut to the reason bound of records.ts). */
export function reportEntry(id: string, dp: DataplaneView): ReportEntry {
  return dp.error === undefined ? [id, dp.state, dp.flows] : [id, dp.state, dp.flows, reasonText(dp.error)];
}
