// The store's public contract. Only src/store/ imports lowdb; every write in the daemon goes
// through Store.commit, which persists durably and then publishes the change.
import type { StateView } from '../domain/state-index.js';
import type { Mutation } from '../domain/types.js';

export interface StoreStats {
  readonly path: string;
  /** `failed` once a journal write or sync failed: every later commit is refused. */
  readonly state: 'open' | 'closed' | 'failed';
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

/** Called after each commit is durable, with the mutations it carried and its seq (ascending, one per commit). */
export type CommitListener = (mutations: readonly Mutation[], seq: number) => void;

export interface Store {
  /** The live state. Reads see every commit that has been accepted (even before its fsync). */
  readonly view: StateView;
  /**
   * Applies the mutations to the live state at once (synchronously, so a check-then-commit
   * sequence is never interleaved) and resolves once they are on disk. Concurrent commits share
   * one fdatasync. Rejects with RpcError('UNAVAILABLE') once the journal has failed or closed.
   * A mutation of the wrong shape is a bug in the caller: it rejects with a plain Error and
   * nothing is applied. An empty list resolves once every earlier commit is durable.
   */
  commit(mutations: readonly Mutation[]): Promise<void>;
  onCommit(listener: CommitListener): () => void;
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
  } | null;
}
