// The live state with the secondary indexes the rules need (peerings by VPC, VPC by bridge), kept
// up to date incrementally: a write costs O(mutations), not O(records). The store owns the one
// live instance; domain operations only read it through StateView.
import { type Mutation, type Peering, type PeeringStatus, PeeringStatuses, type State, type Vpc } from './types.js';

/** The ids of the records put or deleted since a version (either list may repeat an id). */
export interface StateChanges {
  readonly vpcIds: readonly string[];
  readonly peeringIds: readonly string[];
}

/** How many record changes a StateIndex remembers at least, for changesSince: a reader further behind reads everything again. */
export const CHANGE_LOG_LENGTH = 4096;

/** Read-only access to the state, as domain operations see it. */
export interface StateView {
  getVpc(id: string): Vpc | undefined;
  getPeering(id: string): Peering | undefined;
  vpcByBridge(bridge: string): Vpc | undefined;
  /** Every peering (any status) in which the VPC is requester or accepter. */
  peeringsOfVpc(vpcId: string): readonly Peering[];
  vpcs(): IterableIterator<Vpc>;
  peerings(): IterableIterator<Peering>;
  readonly vpcCount: number;
  readonly peeringCount: number;
  /** How many peerings are in each status (kept incrementally: `status` reads it often). */
  peeringCountsByStatus(): Record<PeeringStatus, number>;
  /** Raised by one for every mutation applied; only compared with changesSince's argument. */
  readonly version: number;
  /**
   * The records changed after `version` (a value this view's `version` had), or null when that is
   * no longer known (too far behind: CHANGE_LOG_LENGTH) or `version` is not one of this view's.
   * What lets a reader of the state (the desired flows) redo only what changed.
   */
  changesSince(version: number): StateChanges | null;
}

export class StateIndex implements StateView {
  private readonly vpcMap = new Map<string, Vpc>();
  private readonly peeringMap = new Map<string, Peering>();
  private readonly bridgeMap = new Map<string, Vpc>();
  private readonly byVpc = new Map<string, Map<string, Peering>>();
  private readonly statusCounts = new Map<PeeringStatus, number>();
  private applied = 0;
  /** The id changed by each mutation from `logFrom + 1` to `applied`, with whether it is a VPC's. */
  private log: { readonly vpc: boolean; readonly id: string }[] = [];
  private logFrom = 0;

  constructor(state?: State) {
    if (state) this.apply(StateIndex.mutationsOf(state));
  }

  /** The mutations that build `state` from nothing (used for snapshots and tests). */
  static mutationsOf(state: State): Mutation[] {
    return [
      ...Object.values(state.vpcs).map((vpc): Mutation => ({ op: 'vpc.put', vpc })),
      ...Object.values(state.peerings).map((peering): Mutation => ({ op: 'peering.put', peering })),
    ];
  }

  get vpcCount(): number {
    return this.vpcMap.size;
  }

  get peeringCount(): number {
    return this.peeringMap.size;
  }

  getVpc(id: string): Vpc | undefined {
    return this.vpcMap.get(id);
  }

  getPeering(id: string): Peering | undefined {
    return this.peeringMap.get(id);
  }

  vpcByBridge(bridge: string): Vpc | undefined {
    return this.bridgeMap.get(bridge);
  }

  peeringsOfVpc(vpcId: string): readonly Peering[] {
    const m = this.byVpc.get(vpcId);
    return m ? [...m.values()] : [];
  }

  peeringCountsByStatus(): Record<PeeringStatus, number> {
    const out = {} as Record<PeeringStatus, number>;
    for (const s of PeeringStatuses) out[s] = this.statusCounts.get(s) ?? 0;
    return out;
  }

  get version(): number {
    return this.applied;
  }

  changesSince(version: number): StateChanges | null {
    if (!Number.isInteger(version) || version < this.logFrom || version > this.applied) return null;
    const vpcIds: string[] = [];
    const peeringIds: string[] = [];
    for (let i = version - this.logFrom; i < this.log.length; i++) {
      const c = this.log[i] as { vpc: boolean; id: string };
      (c.vpc ? vpcIds : peeringIds).push(c.id);
    }
    return { vpcIds, peeringIds };
  }

  vpcs(): IterableIterator<Vpc> {
    return this.vpcMap.values();
  }

  peerings(): IterableIterator<Peering> {
    return this.peeringMap.values();
  }

  /** Applies mutations in order, in place. */
  apply(mutations: readonly Mutation[]): void {
    for (const m of mutations) {
      this.note(m);
      switch (m.op) {
        case 'vpc.put':
          this.deleteVpc(m.vpc.id);
          this.vpcMap.set(m.vpc.id, m.vpc);
          this.bridgeMap.set(m.vpc.bridge, m.vpc);
          break;
        case 'vpc.del':
          this.deleteVpc(m.id);
          break;
        case 'peering.put':
          this.deletePeering(m.peering.id);
          this.peeringMap.set(m.peering.id, m.peering);
          this.count(m.peering.status, 1);
          this.link(m.peering.requesterVpcId, m.peering);
          this.link(m.peering.accepterVpcId, m.peering);
          break;
        case 'peering.del':
          this.deletePeering(m.id);
          break;
      }
    }
  }

  /** A plain, serialisable copy (for snapshots). */
  toState(): State {
    return {
      vpcs: Object.fromEntries(this.vpcMap),
      peerings: Object.fromEntries(this.peeringMap),
    };
  }

  private note(m: Mutation): void {
    this.applied += 1;
    const vpc = m.op === 'vpc.put' || m.op === 'vpc.del';
    this.log.push({ vpc, id: m.op === 'vpc.put' ? m.vpc.id : m.op === 'peering.put' ? m.peering.id : m.id });
    // Trimmed by halves, so that a mutation costs O(1) amortised.
    if (this.log.length >= 2 * CHANGE_LOG_LENGTH) {
      this.log = this.log.slice(CHANGE_LOG_LENGTH);
      this.logFrom += CHANGE_LOG_LENGTH;
    }
  }

  private deleteVpc(id: string): void {
    const old = this.vpcMap.get(id);
    if (!old) return;
    this.vpcMap.delete(id);
    if (this.bridgeMap.get(old.bridge) === old) this.bridgeMap.delete(old.bridge);
  }

  private deletePeering(id: string): void {
    const old = this.peeringMap.get(id);
    if (!old) return;
    this.peeringMap.delete(id);
    this.count(old.status, -1);
    this.unlink(old.requesterVpcId, id);
    this.unlink(old.accepterVpcId, id);
  }

  private count(status: PeeringStatus, delta: number): void {
    this.statusCounts.set(status, (this.statusCounts.get(status) ?? 0) + delta);
  }

  private link(vpcId: string, p: Peering): void {
    let m = this.byVpc.get(vpcId);
    if (!m) this.byVpc.set(vpcId, (m = new Map<string, Peering>()));
    m.set(p.id, p);
  }

  private unlink(vpcId: string, peeringId: string): void {
    const m = this.byVpc.get(vpcId);
    if (!m) return;
    m.delete(peeringId);
    if (m.size === 0) this.byVpc.delete(vpcId);
  }
}
