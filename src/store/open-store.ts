// The store: the one writer of the daemon's state. A commit is checked, applied to the staged
// index at once (so a check-then-commit caller never interleaves with another), put in the lowdb
// document's outbox, and, once the journal adapter has made it durable, applied to the durable
// index that reads see, then acknowledged. One flush loop drains the outbox: while one fdatasync
// runs, new commits queue up and the next write carries all of them (group commit).
//
// A failed write or sync (disk full, I/O error) makes the store `degraded`: the commits not yet
// durable are refused and dropped from the staged index (rebuilt from the durable one), further
// commits are refused with 503, and a retry with backoff rewrites the files from the durable
// state (JournalAdapter.recover) until the disk takes writes again. File format and recovery:
// journal-adapter.ts and docs/STORE.md.
import { dirname } from 'node:path';
import { Low } from 'lowdb';
import { type Hlc, HlcClock, maxHlc } from '../domain/hlc.js';
import {
  applyLocalCommit, copyReplica, type MutableReplica, purgeTombstones, putSlots, type ReplicaState, type SlotBatch, slotMutations,
} from '../domain/replica.js';
import { StateIndex, type StateView } from '../domain/state-index.js';
import type { Mutation } from '../domain/types.js';
import { RpcError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { JournalAdapter, type JournalDoc } from './journal-adapter.js';
import { encodeMerge, encodeRecord } from './journal-format.js';
import { ensureDir } from './durable-fs.js';
import { mutationProblem, slotProblem } from '../domain/records.js';
import { acquireStoreLock, type StoreLock } from './store-lock.js';
import {
  type Change, type CommitListener, type CommitOrigin, LOCAL_ORIGIN, type Computed, type RecoveryReport, type Store, type StoreStats, type WriteOptions, writeThrough,
} from './store.js';

export const DEFAULT_COMPACT_AFTER_BYTES = 4 * 1024 * 1024;

export interface OpenStoreOptions {
  /** The snapshot file; the journal is `${path}.journal` beside it. Parent folders are created. */
  readonly path: string;
  /** This daemon's nodeId (SPEC §11): the writer named in the version of every local commit. */
  readonly nodeId: string;
  readonly logger: Logger;
  /** Tests only: the physical clock of the HLC, in ms since the epoch (default Date.now). */
  readonly physicalNow?: () => number;
  /** Journal size past which the state is snapshotted and the journal restarted. */
  readonly compactAfterBytes?: number;
  /** Tests only: runs before each journal fdatasync and each recovery attempt; throwing from it simulates a failing disk. */
  readonly beforeSync?: () => void | Promise<void>;
  /** First wait before a degraded store retries; doubled after each failed retry up to 5 s. */
  readonly retryMs?: number;
  /** Start on a journal damaged in the middle, cutting it at the damage (vpc-peerd --recover-journal). */
  readonly recoverJournal?: boolean;
}

const DEFAULT_RETRY_MS = 250;
const MAX_RETRY_MS = 5_000;

/** Opens (recovering if needed) the store at `path`; throws when the files are not ours. */
export async function openStore(opts: OpenStoreOptions): Promise<{ store: Store; recovery: RecoveryReport }> {
  if (typeof opts.path !== 'string' || opts.path === '') throw new Error('openStore: path is required');
  if (typeof opts.nodeId !== 'string' || opts.nodeId === '') throw new Error('openStore: nodeId is required');
  const compactAfterBytes = opts.compactAfterBytes ?? DEFAULT_COMPACT_AFTER_BYTES;
  if (!Number.isSafeInteger(compactAfterBytes) || compactAfterBytes < 1) {
    throw new Error('openStore: compactAfterBytes must be a positive integer');
  }
  await ensureDir(dirname(opts.path));
  const lock = await acquireStoreLock(`${opts.path}.lock`);
  const store = new JournalStore(opts.path, opts.logger, compactAfterBytes, lock, {
    nodeId: opts.nodeId,
    physicalNow: opts.physicalNow ?? Date.now,
    beforeSync: opts.beforeSync,
    retryMs: opts.retryMs ?? DEFAULT_RETRY_MS,
    recoverJournal: opts.recoverJournal ?? false,
  });
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
  readonly origin: CommitOrigin;
  /** The commit's version and wall time (the deletedAt of its tombstones); unset for a barrier and a merge. */
  readonly version?: Hlc;
  readonly at?: Date;
  /** A merge's slots, stored as they are. */
  readonly slots?: SlotBatch;
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
  /** The failure that made the store degraded; null when ok. */
  private failure: Error | null = null;
  private recovering = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private retryMs: number;
  private readonly firstRetryMs: number;
  private lastError: string | null = null;
  private degradedSince: string | null = null;
  private recoveries = 0;
  private commits = 0;
  private lastWriteAt: string | null = null;
  /** What reads see: every durable commit and nothing else. */
  private durable = new StateIndex();
  /** The versions and tombstones of the durable commits. */
  private durableSlots: MutableReplica = { vpcs: new Map(), peerings: new Map() };
  private readonly nodeId: string;
  private readonly physicalNow: () => number;
  /** Set by load(): it resumes after the newest version loaded. */
  private clock: HlcClock | null = null;
  private report: RecoveryReport | null = null;

  private readonly lock: StoreLock;

  constructor(
    path: string,
    logger: Logger,
    compactAfterBytes: number,
    lock: StoreLock,
    opts: {
      nodeId: string; physicalNow: () => number; beforeSync: (() => void | Promise<void>) | undefined; retryMs: number; recoverJournal: boolean;
    },
  ) {
    this.path = path;
    this.lock = lock;
    this.logger = logger;
    this.retryMs = opts.retryMs;
    this.firstRetryMs = opts.retryMs;
    this.nodeId = opts.nodeId;
    this.physicalNow = opts.physicalNow;
    this.adapter = new JournalAdapter({
      path, nodeId: opts.nodeId, logger, compactAfterBytes, beforeSync: opts.beforeSync, recoverJournal: opts.recoverJournal, onFatal: (err) => this.fail(err),
    });
    this.db = new Low<JournalDoc>(this.adapter, { index: new StateIndex(), slots: { vpcs: new Map(), peerings: new Map() }, outbox: [], lastSeq: 0 });
  }

  async load(): Promise<RecoveryReport> {
    await this.db.read();
    const report = this.adapter.recovery;
    if (!report) throw new Error('store: the journal adapter reported no recovery');
    this.report = report;
    this.durable = new StateIndex(this.db.data.index.toState());
    this.durableSlots = copyReplica(this.db.data.slots);
    // Resume after the newest version held: a wall clock stepped back since never reissues one.
    let newest: Hlc | undefined;
    for (const map of [this.durableSlots.vpcs, this.durableSlots.peerings]) {
      for (const slot of map.values()) newest = newest ? maxHlc(newest, slot.version) : slot.version;
    }
    this.clock = new HlcClock(this.nodeId, this.physicalNow, undefined, newest);
    return report;
  }

  get view(): StateView {
    return this.durable;
  }

  get stagedView(): StateView {
    return this.db.data.index;
  }

  commit(change: Change, opts: WriteOptions = {}): Promise<void> {
    const origin = opts.origin ?? LOCAL_ORIGIN;
    if (this.failure || this.closing) return Promise.reject(this.unavailable());
    if ('slots' in change) return this.commitSlots(change.slots, origin);
    const mutations = change;
    const doc = this.db.data;
    for (const m of mutations) {
      const problem = mutationProblem(m);
      if (problem) return Promise.reject(new Error(`store: refusing to commit an invalid mutation: ${problem}`));
    }
    let seq = doc.lastSeq;
    let stamp: Pick<Waiter, 'version' | 'at'> = {};
    if (mutations.length > 0) {
      seq += 1;
      // One version per commit, on the local write path (SPEC §8).
      const version = this.clock!.now();
      const at = new Date(this.physicalNow());
      // Encoded before it is applied: nothing reaches the index that cannot reach the disk.
      const line = encodeRecord(seq, mutations, { origin, version, at: at.toISOString() });
      doc.index.apply(mutations);
      applyLocalCommit(doc.slots, mutations, version, at);
      doc.outbox.push({ seq, line });
      doc.lastSeq = seq;
      stamp = { version, at };
    } else if (seq <= this.adapter.durableSeq) {
      return Promise.resolve();
    }
    return this.enqueue({ seq, mutations, origin, ...stamp });
  }

  /**
   * A merge: slots already chosen by merge.ts, each kept under its own version. The clock moves
   * past every one of them (HLC receive), so a later local write orders after what was received.
   */
  private commitSlots(slots: SlotBatch, origin: CommitOrigin): Promise<void> {
    const doc = this.db.data;
    const all = [...(slots.vpcs ?? []).map((s) => ['vpc', s] as const), ...(slots.peerings ?? []).map((s) => ['peering', s] as const)];
    for (const [kind, slot] of all) {
      const problem = slotProblem(kind, slot);
      if (problem) return Promise.reject(new Error(`store: refusing to commit an invalid slot: ${problem}`));
    }
    if (all.length === 0) return this.commit([], { origin });
    for (const [, slot] of all) {
      const r = this.clock!.receive(slot.version);
      if (!r.ok) return Promise.reject(new Error(`store: a slot's version is ${r.aheadMs} ms ahead of this clock (check clocks first: gossip filters these)`));
    }
    const seq = doc.lastSeq + 1;
    const at = new Date(this.physicalNow()).toISOString();
    const mutations = slotMutations(slots);
    const line = encodeMerge(seq, { origin, at, slots });
    doc.index.apply(mutations);
    putSlots(doc.slots, slots);
    doc.outbox.push({ seq, line });
    doc.lastSeq = seq;
    return this.enqueue({ seq, mutations, origin, slots });
  }

  private enqueue(w: Omit<Waiter, 'resolve' | 'reject'>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ ...w, resolve, reject });
      this.flushing ??= this.flush();
    });
  }

  write<T>(compute: (view: StateView, replica: ReplicaState) => Computed<T>, opts?: WriteOptions): Promise<T> {
    return writeThrough(this, compute, opts);
  }

  get replica(): ReplicaState {
    return this.durableSlots;
  }

  get stagedReplica(): ReplicaState {
    return this.db.data.slots;
  }

  purgeTombstones(before: Date): number {
    // Tombstones that old are durable (a commit is durable within seconds), so both copies agree.
    purgeTombstones(this.db.data.slots, before);
    return purgeTombstones(this.durableSlots, before);
  }

  onCommit(listener: CommitListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  stats(): StoreStats {
    const index = this.durable;
    return {
      path: this.path,
      state: this.closing ? 'closed' : this.recovering ? 'recovering' : this.failure ? 'degraded' : 'ok',
      lastError: this.lastError,
      degradedSince: this.degradedSince,
      recoveries: this.recoveries,
      recovery: this.report!,
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
      if (this.retryTimer) clearTimeout(this.retryTimer);
      this.retryTimer = null;
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
      this.durable.apply(w.mutations);
      if (w.slots) putSlots(this.durableSlots, w.slots);
      else applyLocalCommit(this.durableSlots, w.mutations, w.version!, w.at!);
      this.commits++;
      this.lastWriteAt = now;
      for (const listener of this.listeners) {
        try {
          listener(w.mutations, { seq: w.seq, origin: w.origin });
        } catch (err) {
          this.logger.error('store: a commit listener threw', { err });
        }
      }
    }
    for (const w of done) w.resolve();
  }

  /**
   * Degrades the store. After a failed write or fdatasync the page cache may or may not reach the
   * disk (Linux can drop dirty pages after reporting the error once), so nothing not yet durable
   * is kept: its commits are refused, the staged index is rebuilt from the durable one, and
   * retries rewrite the files from the durable state (recover()).
   */
  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    this.lastError = err.message;
    this.degradedSince = new Date().toISOString();
    this.logger.error('store: the journal failed; commits are refused until the files are rewritten (retrying)', {
      err, file: this.path,
    });
    const doc = this.db.data;
    doc.outbox.length = 0;
    doc.lastSeq = this.adapter.durableSeq;
    this.db.data = { ...doc, index: new StateIndex(this.durable.toState()), slots: copyReplica(this.durableSlots) };
    const error = this.unavailable();
    for (const w of this.waiters.splice(0)) w.reject(error);
    // The first retry at once: its first step cuts the refused lines off the journal, which
    // should not wait for the disk to have space again.
    if (!this.closing) void this.retry();
  }

  private scheduleRetry(): void {
    this.retryTimer = setTimeout(() => void this.retry(), this.retryMs);
    this.retryTimer.unref();
    this.retryMs = Math.min(this.retryMs * 2, MAX_RETRY_MS);
  }

  /** One attempt to leave the degraded state; schedules the next on failure. */
  private async retry(): Promise<void> {
    this.retryTimer = null;
    if (this.closing || !this.failure) return;
    this.recovering = true;
    try {
      // Commits are refused meanwhile, so the durable index stands still at durableSeq.
      await this.adapter.recover({
        seq: this.adapter.durableSeq, vpcs: [...this.durable.vpcs()], peerings: [...this.durable.peerings()], replica: copyReplica(this.durableSlots),
      });
    } catch (err) {
      this.recovering = false;
      this.lastError = `retry failed: ${err instanceof Error ? err.message : String(err)}`;
      this.logger.warn('store: still cannot rewrite the journal; retrying', { err, file: this.path, retryMs: this.retryMs });
      if (!this.closing) this.scheduleRetry();
      return;
    }
    this.recovering = false;
    this.recoveries++;
    this.logger.warn('store: recovered: the files were rewritten from the last durable state; commits are taken again', {
      file: this.path, seq: this.adapter.durableSeq, degradedSince: this.degradedSince,
    });
    this.failure = null;
    this.lastError = null;
    this.degradedSince = null;
    this.retryMs = this.firstRetryMs;
  }

  private unavailable(): RpcError {
    return this.closing
      ? new RpcError('UNAVAILABLE', 'The store is closed: the daemon is shutting down.')
      : new RpcError('UNAVAILABLE', 'The state journal cannot be written (disk full or failing); nothing was stored. The daemon retries by itself: try again later, and see status.store.');
  }
}
