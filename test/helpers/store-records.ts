// Record factories for the store tests and the kill -9 child: sound records with real shapes.
// Also the text of a snapshot file, for tests that lay out files by hand.
import { replicaOfUnversioned } from '../../src/domain/replica.js';
import type { Mutation, Peering, State, Vpc } from '../../src/domain/types.js';
import { type CommitStamp, type JournalLink, snapshotPieces } from '../../src/store/journal-format.js';

const AT = '2025-01-01T00:00:00.000Z';

export function vpc(id: string, bridge = `br-${id}`.slice(0, 15)): Vpc {
  return { id, tenantId: 't1', cidrs: ['10.0.0.0/16'], bridge, createdAt: AT, updatedAt: AT };
}

/** A `pcx-` id (17 hex digits) made from a number, so tests can name peerings by counting. */
export function peeringId(n: number): string {
  return `pcx-${n.toString(16).padStart(17, '0')}`;
}

export function peering(n: number, requesterVpcId = 'a', accepterVpcId = 'b'): Peering {
  return {
    id: peeringId(n), tenantId: 't1', requesterVpcId, accepterVpcId, status: 'pending-acceptance',
    requestedBy: 'alice', createdAt: AT, updatedAt: AT, expiresAt: '2025-01-08T00:00:00.000Z',
  };
}

export function putPeering(n: number): Mutation {
  return { op: 'peering.put', peering: peering(n) };
}

export function putVpc(id: string): Mutation {
  return { op: 'vpc.put', vpc: vpc(id) };
}

/** The stamp of the journal lines the tests lay out by hand: a local commit of hv-01. */
export const STAMP: CommitStamp = { origin: 'local', version: { wallMs: Date.parse(AT), logical: 0, node: 'hv-01' }, at: AT };

/** The journal id the hand-made files of the tests carry (snapshots name it, headers hold it). */
export const JOURNAL_ID = '00000000000000aa';

/** A whole snapshot file holding `state` up to `seq`, naming journal JOURNAL_ID unless told. */
export function snapshotText(seq: number, state: State, perPiece?: number, journal: JournalLink = { id: JOURNAL_ID, previous: null }): string {
  const source = { seq, journal, vpcs: Object.values(state.vpcs), peerings: Object.values(state.peerings), replica: replicaOfUnversioned(state, 'hv-01') };
  return [...snapshotPieces(source, perPiece)].join('');
}
