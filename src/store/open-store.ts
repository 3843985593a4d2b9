// The store: the one writer of the daemon's state. A commit is checked, applied to the live
// index at once (so a check-then-commit caller never interleaves with another), staged in the
// lowdb document's outbox, and acknowledged once the journal adapter has made it durable. One
// flush loop drains the outbox: while one fdatasync runs, new commits queue up and the next
// write carries all of them (group commit). File format and recovery: journal-adapter.ts and
// docs/STORE.md.
import { dirname } from 'node:path';
import { Low } from 'lowdb';
import { StateIndex, type StateView } from '../domain/state-index.js';
import type { Mutation } from '../domain/types.js';
import { RpcError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { JournalAdapter, type JournalDoc } from './journal-adapter.js';
import { encodeRecord } from './journal-format.js';
import { ensureDir } from './durable-fs.js';
import { mutationProblem } from '../domain/records.js';
import { acquireStoreLock, type StoreLock } from './store-lock.js';
import type { CommitListener, RecoveryReport, Store, StoreStats } from './store.js';

export const DEFAULT_COMPACT_AFTER_BYTES = 4 * 1024 * 1024;

export interface OpenStoreOptions {
  /** The snapshot file; the journal is `${path}.journal` beside it. Parent folders are created. */
  readonly path: string;
  readonly logger: Logger;
  /** Journal size past which the state is snapshotted and the journal restarted. */
  readonly compactAfterBytes?: number;
  /** Tests only: runs before each journal fdatasync; throwing from it simulates a failing disk. */
  readonly beforeSync?: () => void | Promise<void>;
}

/** Opens (recovering if needed) the store at `path`; throws when the files are not ours. */
export async function openStore(opts: OpenStoreOptions): Promise<{ store: Store; recovery: RecoveryReport }> {
  if (typeof opts.path !== 'string' || opts.path === '') throw new Error('openStore: path is required');
  const compactAfterBytes = opts.compactAfterBytes ?? DEFAULT_COMPACT_AFTER_BYTES;
  if (!Number.isSafeInteger(compactAfterBytes) || compactAfterBytes < 1) {
    throw new Error('openStore: compactAfterBytes must be a positive integer');
  }
  await ensureDir(dirname(opts.path));
  const lock = await acquireStoreLock(`${opts.path}.lock`);
  const store = new JournalStore(opts.path, opts.logger, compactAfterBytes, lock, opts.beforeSync);
  try {
    return { store, recovery: await store.load() };
  } catch (err) {
    await lock.release();
    throw err;
  }
}

interface Waiter {
  readonly seq: number;
  /** Empty for a barrier (a commit of nothing), which only waits for earlier commits. */
  readonly mutations: readonly Mutation[];
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

class JournalStore implements Store {
  private readonly path: string;
  private readonly logger: Logger;
  private readonly adapter: JournalAdapter;
  private readonly db: Low<JournalDoc>;
  private readonly listeners = new Set<CommitListener>();
  /** Commits accepted and not yet durable, in seq order. */
  private readonly waiters: Waiter[] = [];
  private flushing: Promise<void> | null = null;
  private closing: Promise<void> | null = null;
  private failure: Error | null = null;
  private commits = 0;
  private lastWriteAt: string | null = null;

  private readonly lock: StoreLock;

  constructor(
    path: string,
    logger: Logger,
    compactAfterBytes: number,
    lock: StoreLock,
    beforeSync?: () => void | Promise<void>,
  ) {
    this.path = path;
    this.lock = lock;
    this.logger = logger;
    this.adapter = new JournalAdapter({
      path, logger, compactAfterBytes, beforeSync, onFatal: (err) => this.fail(err),
    });
    this.db = new Low<JournalDoc>(this.adapter, { index: new StateIndex(), outbox: [], lastSeq: 0 });
  }

  async load(): Promise<RecoveryReport> {
    await this.db.read();
    const report = this.adapter.recovery;
    if (!report) throw new Error('store: the journal adapter reported no recovery');
    return report;
  }

  get view(): StateView {
    return this.db.data.index;
  }

  commit(mutations: readonly Mutation[]): Promise<void> {
    if (this.failure || this.closing) return Promise.reject(this.unavailable());
    const doc = this.db.data;
    for (const m of mutations) {
      const problem = mutationProblem(m);
      if (problem) return Promise.reject(new Error(`store: refusing to commit an invalid mutation: ${problem}`));
    }
    let seq = doc.lastSeq;
    if (mutations.length > 0) {
      seq += 1;
      // Encoded before it is applied: nothing reaches the index that cannot reach the disk.
      const line = encodeRecord(seq, mutations);
      doc.index.apply(mutations);
      doc.outbox.push({ seq, line });
      doc.lastSeq = seq;
    } else if (seq <= this.adapter.durableSeq) {
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ seq, mutations, resolve, reject });
      this.flushing ??= this.flush();
    });
  }

  onCommit(listener: CommitListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  stats(): StoreStats {
    const index = this.db.data.index;
    return {
      path: this.path,
      state: this.failure ? 'failed' : this.closing ? 'closed' : 'open',
      records: index.vpcCount + index.peeringCount,
      lastWriteAt: this.lastWriteAt,
      journalBytes: this.adapter.journalBytes,
      seq: this.adapter.durableSeq,
      commits: this.commits,
      syncs: this.adapter.syncs,
      compactions: this.adapter.compactions,
    };
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      // Commits accepted before close still get their sync (SIGTERM flushes the journal).
      await this.flushing;
      try {
        await this.adapter.close();
      } catch (err) {
        this.logger.error('store: closing the journal failed', { err, file: this.path });
      }
      await this.lock.release();
    })();
    return this.closing;
  }

  /** Writes until the outbox stays empty; the only caller of db.write(), so one at a time. */
  private async flush(): Promise<void> {
    // Let the commits issued in the same tick as the first one join its batch.
    await Promise.resolve();
    try {
      while (this.db.data.outbox.length > 0 && !this.failure) {
        await this.db.write();
        this.settle();
      }
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)));
    } finally {
      this.flushing = null;
    }
  }

  /** Acknowledges every waiter whose commit is now durable, listeners first. */
  private settle(): void {
    const durable = this.adapter.durableSeq;
    let n = 0;
    while (n < this.waiters.length && this.waiters[n]!.seq <= durable) n++;
    const done = this.waiters.splice(0, n);
    const now = new Date().toISOString();
    for (const w of done) {
      if (w.mutations.length === 0) continue;
      this.commits++;
      this.lastWriteAt = now;
      for (const listener of this.listeners) {
        try {
          listener(w.mutations);
        } catch (err) {
          this.logger.error('store: a commit listener threw', { err });
        }
      }
    }
    for (const w of done) w.resolve();
  }

  /**
   * Fails the store for good. After a failed write or fdatasync the page cache may or may not
   * reach the disk (Linux can drop dirty pages after reporting the error once), so the
   * in-memory state, which already holds the unacknowledged commits, can no longer be trusted to
   * match the disk: refuse every further commit and let a restart reload from the files.
   */
  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    this.logger.error('store: the journal failed; refusing every further commit until a restart', {
      err, file: this.path,
    });
    this.db.data.outbox.length = 0;
    const error = this.unavailable();
    for (const w of this.waiters.splice(0)) w.reject(error);
  }

  private unavailable(): RpcError {
    return this.failure
      ? new RpcError('UNAVAILABLE', 'The state journal failed to write; the daemon needs a restart.')
      : new RpcError('UNAVAILABLE', 'The store is closed: the daemon is shutting down.');
  }
}
