// The live state with the secondary indexes the rules need (peerings by VPC, VPC by bridge), kept
// up to date incrementally: a write costs O(mutations), not O(records). The store owns the one
// live instance; domain operations only read it through StateView.
import { type Mutation, type Peering, type PeeringStatus, PeeringStatuses, type State, type Vpc } from './types.js';

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
}

export class StateIndex implements StateView {
  private readonly vpcMap = new Map<string, Vpc>();
  private readonly peeringMap = new Map<string, Peering>();
  private readonly bridgeMap = new Map<string, Vpc>();
  private readonly byVpc = new Map<string, Map<string, Peering>>();
  private readonly statusCounts = new Map<PeeringStatus, number>();

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

  vpcs(): IterableIterator<Vpc> {
    return this.vpcMap.values();
  }

  peerings(): IterableIterator<Peering> {
    return this.peeringMap.values();
  }

  /** Applies mutations in order, in place. */
  apply(mutations: readonly Mutation[]): void {
    for (const m of mutations) {
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
