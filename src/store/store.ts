// The store's public contract. Only src/store/ imports lowdb; every write in the daemon goes
// through Store.commit, which persists durably and then publishes the change.
import type { StateView } from '../domain/state-index.js';
import type { Mutation } from '../domain/types.js';

export interface StoreStats {
  readonly path: string;
  readonly records: number;
  readonly lastWriteAt: string | null;
  readonly journalBytes: number;
  readonly commits: number;
}

/** Called after each commit is durable, with the mutations it carried. */
export type CommitListener = (mutations: readonly Mutation[]) => void;

export interface Store {
  /** The live state. Reads see every commit that has been accepted (even before its fsync). */
  readonly view: StateView;
  /**
   * Applies the mutations to the live state at once (synchronously, so a check-then-commit
   * sequence is never interleaved) and resolves once they are on disk. Concurrent commits share
   * one fdatasync. Rejects with RpcError('UNAVAILABLE') once the journal has failed or closed.
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
  readonly journalEntries: number;
  /** Set when a torn or corrupt tail was cut off. */
  readonly droppedTail: { readonly offset: number; readonly bytes: number; readonly reason: string } | null;
}
