// The store's public contract. Only src/store/ imports lowdb; every writer in the daemon (the RPC
// methods, the sweep, and next gossip) goes through Store.write, which computes the change
// against the staged state, commits it in the same tick, persists it durably and publishes it.
import type { ReplicaState, SlotBatch } from '../domain/replica.js';
import type { StateView } from '../domain/state-index.js';
import type { Mutation } from '../domain/types.js';

/**
 * `ok`: commits are taken. `degraded`: a journal write or sync failed (disk full, I/O error);
 * commits are refused with 503 and reads serve the last durable state while the store retries.
 * `recovering`: a retry is rewriting the files. `closed`: shut down.
 */
export type StoreState = 'ok' | 'degraded' | 'recovering' | 'closed';

/**
 * The store refuses to open on files that need an operator (SPEC §10: damage in the middle of the
 * journal, a journal that is not the one its snapshot names, a foreign file): starting again will
 * not help, so vpc-peerd exits with EX_DATAERR (65), which its unit does not restart.
 */
export class StoreRefusedError extends Error {
  override readonly name = 'StoreRefusedError';
}

export interface StoreStats {
  readonly path: string;
  readonly state: StoreState;
  /** Why the store is degraded (the last failure or failed retry), null when ok. */
  readonly lastError: string | null;
  /** When the store last became degraded (ISO-8601), null when ok. */
  readonly degradedSince: string | null;
  /** Times the store recovered by itself from a failed write since start. */
  readonly recoveries: number;
  /** What loading found at the last start (docs/STORE.md, "Recovery at start"). */
  readonly recovery: RecoveryReport;
  /** VPCs plus peerings. */
  readonly records: number;
  /** When the last commit became durable (ISO-8601), null if none since start. */
  readonly lastWriteAt: string | null;
  readonly journalBytes: number;
  /** The seq of the last durable commit. */
  readonly seq: number;
  /** Commits made durable since start. */
  readonly commits: number;
  /** fdatasync calls on the journal since start: fewer than commits when they were grouped. */
  readonly syncs: number;
  /** Snapshots written (journal compactions) since start. */
  readonly compactions: number;
}

/**
 * Who made a commit: `'local'` for this host's writers (the RPC methods, the sweep), or the node
 * id of the daemon whose change was received (gossip), so replication can tell a local write from
 * one it received and never echo a change back to where it came from.
 */
export type CommitOrigin = string;

/** The origin of this host's own writes. */
export const LOCAL_ORIGIN = 'local';

/**
 * What one commit carries: this host's domain mutations (stamped with one fresh version of this
 * node's clock), or received slots that won the merge, stored under the versions they carry
 * (gossip; SPEC §8). Listeners hear of both as mutations (replica.ts slotMutations for slots).
 */
export type Change = readonly Mutation[] | { readonly slots: SlotBatch };

/** A durable commit as its listeners hear of it. */
export interface CommitInfo {
  /** Ascending, one per commit: a replication cursor. */
  readonly seq: number;
  readonly origin: CommitOrigin;
}

/** Called after each commit is durable, with the mutations it carried, its seq and origin. */
export type CommitListener = (mutations: readonly Mutation[], commit: CommitInfo) => void;

/** Options of a write; `origin` defaults to 'local' (a merge names the node it received from). */
export interface WriteOptions {
  readonly origin?: CommitOrigin;
}

/**
 * What a writer computes from the staged view: the mutations to commit and the value to give
 * back. `error`, when set, is thrown once the mutations are durable (an operation that refuses
 * but still changes state, such as an accept that finds a new conflict and turns the peering
 * `failed`). The domain's OpResult has this shape.
 */
export interface Computed<T> {
  readonly mutations: readonly Mutation[];
  /** Received slots to store as they are (a merge), instead of mutations: `mutations` is then empty. */
  readonly slots?: SlotBatch;
  readonly result: T;
  readonly error?: Error | undefined;
}

export interface Store {
  /** The durable state: what reads show. A commit appears here once it is on disk, never before. */
  readonly view: StateView;
  /**
   * The durable state plus the commits accepted and not yet on disk: what a writer computes its
   * mutations against, in the same tick as its commit, so that it sees the writes queued ahead
   * of it. Never shown to readers: a commit that fails is dropped from it.
   */
  readonly stagedView: StateView;
  /**
   * The durable state as replicated (SPEC §8): every record with its version and incarnation,
   * and the tombstones of deletions not yet purged. Changes with `view`; read-only.
   */
  readonly replica: ReplicaState;
  /** The staged state as replicated: `replica` plus the commits not yet durable (what a merge computes against). */
  readonly stagedReplica: ReplicaState;
  /**
   * Applies the change to the staged state at once (synchronously, so a check-then-commit
   * sequence is never interleaved), to the durable view once they are on disk, and then
   * resolves. Concurrent commits share one fdatasync. Rejects with RpcError('UNAVAILABLE') while
   * the store is degraded or recovering (nothing of the commit is kept) or once it is closed.
   * A mutation or slot of the wrong shape (records.ts), or a slot version this node's clock
   * refuses (too far ahead), is a bug in the caller: it rejects with a plain Error and nothing is
   * applied. An empty change resolves once every earlier commit is durable.
   */
  commit(change: Change, opts?: WriteOptions): Promise<void>;
  /**
   * The one write path: runs `compute` on the staged view and commits what it returns in the
   * same tick (so no other write interleaves between the check and the commit), then resolves
   * with its result once durable, or rejects with its error (after the mutations are durable)
   * or with commit's rejection. `compute` throwing rejects and commits nothing.
   */
  write<T>(compute: (view: StateView, replica: ReplicaState) => Computed<T>, opts?: WriteOptions): Promise<T>;
  onCommit(listener: CommitListener): () => void;
  /**
   * Forgets the tombstones deleted before `before` (the sweep, after
   * gossip.tombstoneRetentionSeconds); returns how many. Not a commit: the next snapshot leaves
   * them out, and a start purges again before anything is replicated.
   */
  purgeTombstones(before: Date): number;
  stats(): StoreStats;
  /** Waits for pending syncs, then closes the files. Idempotent. */
  close(): Promise<void>;
}

/** What loading found, for the start-up log. */
export interface RecoveryReport {
  readonly snapshotRecords: number;
  /** Journal records replayed on top of the snapshot. */
  readonly journalEntries: number;
  /** The seq of the last durable commit after recovery. */
  readonly seq: number;
  /** Set when a torn or corrupt tail was cut off. */
  readonly droppedTail: {
    /** Byte offset in the journal where the cut begins, and how many bytes went. */
    readonly offset: number;
    readonly bytes: number;
    readonly reason: string;
    /**
     * Where the dropped bytes were kept, when they held whole lines (corruption rather than a
     * torn last write: they may include acknowledged commits an operator can still recover).
     */
    readonly savedTo: string | null;
    /** Intact records among the cut lines: non-zero only with --recover-journal. */
    readonly intactRecords: number;
  } | null;
  /**
   * What the start repaired or could not account for, as sentences (each also logged at warn):
   * a cut tail, a missing or empty journal beside a snapshot, a journal cut before the
   * snapshot's seq. Empty when the files were sound.
   */
  readonly warnings: readonly string[];
}

/** Store.write over any store's stagedView and commit: one definition for every Store wrapper. */
export async function writeThrough<T>(
  store: Pick<Store, 'stagedView' | 'stagedReplica' | 'commit'>,
  compute: (view: StateView, replica: ReplicaState) => Computed<T>,
  opts?: WriteOptions,
): Promise<T> {
  const out = compute(store.stagedView, store.stagedReplica);
  if (out.slots && out.mutations.length > 0) throw new Error('store: a write carries mutations or slots, not both');
  await store.commit(out.slots ? { slots: out.slots } : out.mutations, opts);
  if (out.error) throw out.error;
  return out.result;
}

/** Whether a change carries nothing (a barrier: it only waits for earlier commits). */
export function isEmptyChange(change: Change): boolean {
  return 'slots' in change ? (change.slots.vpcs?.length ?? 0) + (change.slots.peerings?.length ?? 0) === 0 : change.length === 0;
}
