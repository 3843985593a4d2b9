// The lowdb adapter behind the store: an append-only journal next to a snapshot (docs/STORE.md).
//
// lowdb hands an adapter the whole document on every write. Serialising the state on every write
// is what makes lowdb's stock JSONFile slow (O(records) per write), so the document here is not
// the state to serialise but the state *plus an outbox*: `{ index, outbox, lastSeq }`. The store
// applies a commit to `index` at once, encodes it as one journal line and pushes that line onto
// `outbox`; `Low.write()` then calls `write(doc)`, which drains the whole outbox, appends the lines
// with one write and one fdatasync, and leaves `index` alone. Draining everything at once is what
// makes group commit work: every commit staged while the previous sync ran shares the next one.
//
// Files, for store.path = P:
//   P            snapshot: the whole state up to seq S (one checksummed JSON line)
//   P.journal    header {baseSeq} then one checksummed line per commit, seq baseSeq+1, +2, ...
//   P.tmp, P.journal.tmp   temp files of a compaction in progress; removed at start
//   P.journal.dropped-TIME  a corrupt tail cut off at start, kept for an operator
// Replay loads the snapshot, then applies journal records with seq > S. baseSeq <= S always
// holds on disk, because a compaction renames the new snapshot into place before it replaces the
// journal; seq numbers make the crash window between the two harmless (records <= S are skipped).
//
// Compaction: once the journal passes compactAfterBytes and the size of the last snapshot (so
// that a large state is not rewritten for every few kilobytes of journal: the bytes written by
// compaction stay at most about those written by commits), the state is captured (synchronously,
// between two batches, so it matches the last written seq exactly), written to P.tmp a few
// hundred records at a time (so serialising a large state does not stall the event loop),
// fsynced, renamed over P, and the folder fsynced — all without holding up appends. Then, between two
// batches, a fresh journal (header baseSeq = S plus the records appended meanwhile) is written
// to P.journal.tmp, fsynced and renamed over P.journal, and appends continue on it.
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Adapter } from 'lowdb';
import { applyLocalCommit, copyReplica, type MutableReplica, putSlots, replicaOfUnversioned } from '../domain/replica.js';
import { StateIndex } from '../domain/state-index.js';
import type { Logger } from '../log/logger.js';
import { createSynced, ensureDir, fsyncDir, replaceFile, writeAll } from './durable-fs.js';
import { decodeSnapshot, encodeEnd, encodeHeader, scanJournal, snapshotPieces, type Snapshot, type StateCapture } from './journal-format.js';
import { type RecoveryReport, StoreRefusedError } from './store.js';

/** One commit, encoded, waiting for the next journal write. */
export interface OutboxEntry {
  readonly seq: number;
  readonly line: string;
}

/** The lowdb document: the live state and the commits not yet handed to the journal. */
export interface JournalDoc {
  readonly index: StateIndex;
  /** The versions and tombstones of the same commits as `index` (SPEC §8). */
  readonly slots: MutableReplica;
  readonly outbox: OutboxEntry[];
  /** The seq of the last commit accepted (staged or written); the store advances it. */
  lastSeq: number;
}

export interface JournalAdapterOptions {
  readonly path: string;
  /** This daemon's nodeId: the writer of every version it assigns. */
  readonly nodeId: string;
  readonly logger: Logger;
  readonly compactAfterBytes: number;
  /** Called once when the journal can no longer be written (the store then refuses commits). */
  readonly onFatal: (err: Error) => void;
  readonly beforeSync?: (() => void | Promise<void>) | undefined;
  /**
   * Start even when the journal is damaged in the middle (intact records after a bad one): cut
   * at the damage and keep the cut bytes in a file (vpc-peerd --recover-journal, SPEC §10).
   */
  readonly recoverJournal?: boolean | undefined;
}

interface Compaction {
  readonly seq: number;
  /** The id of the journal that will follow the snapshot. */
  readonly nextId: string;
  /** Batches appended after the capture: they go on into the fresh journal. */
  readonly tail: Buffer[];
}

export class JournalAdapter implements Adapter<JournalDoc> {
  readonly snapshotPath: string;
  private readonly nodeId: string;
  readonly journalPath: string;
  private readonly logger: Logger;
  private readonly compactAfterBytes: number;
  private readonly onFatal: (err: Error) => void;
  private readonly beforeSync: (() => void | Promise<void>) | undefined;
  private readonly recoverJournal: boolean;
  /** The id in the current journal's header; null for a journal written before ids existed. */
  private journalId: string | null = null;

  private handle: FileHandle | null = null;
  private bytes = 0;
  private durable = 0;
  private syncCount = 0;
  private compactionCount = 0;
  private snapshotBytes = 0;
  /** Journal size that triggers the next compaction; raised after a failed attempt. */
  private compactAt: number;
  private compaction: Compaction | null = null;
  private compactionDone: Promise<void> = Promise.resolve();
  private fatal: Error | null = null;
  /** Serialises appends, the journal swap and close: each needs the journal to itself. */
  private queue: Promise<unknown> = Promise.resolve();
  private report: RecoveryReport | null = null;

  constructor(opts: JournalAdapterOptions) {
    this.snapshotPath = opts.path;
    this.nodeId = opts.nodeId;
    this.journalPath = `${opts.path}.journal`;
    this.logger = opts.logger;
    this.compactAfterBytes = opts.compactAfterBytes;
    this.compactAt = opts.compactAfterBytes;
    this.onFatal = opts.onFatal;
    this.beforeSync = opts.beforeSync;
    this.recoverJournal = opts.recoverJournal ?? false;
  }

  get journalBytes(): number {
    return this.bytes;
  }

  /** The seq of the last commit known to be on disk. */
  get durableSeq(): number {
    return this.durable;
  }

  get syncs(): number {
    return this.syncCount;
  }

  get compactions(): number {
    return this.compactionCount;
  }

  /** What the last read() found; null before it. */
  get recovery(): RecoveryReport | null {
    return this.report;
  }

  /**
   * Loads and repairs the files (see docs/STORE.md, "Recovery at start"). Throws, naming the file
   * and what to do, on a foreign or mismatched file and on damage in the middle of the journal.
   * Whatever it repairs or cannot account for is logged at warn and listed in the report.
   */
  async read(): Promise<JournalDoc> {
    const started = performance.now();
    await ensureDir(dirname(this.snapshotPath));
    await this.removeLeftover(`${this.snapshotPath}.tmp`);
    await this.removeLeftover(`${this.journalPath}.tmp`);

    const snapshot = await this.loadSnapshot();
    const snapSeq = snapshot?.seq ?? 0;
    const index = new StateIndex(snapshot?.state);
    let slots: MutableReplica = snapshot?.replica ?? { vpcs: new Map(), peerings: new Map() };
    // Format 1 holds no versions: its records get the upgrade's (replicaOfUnversioned).
    let unversioned = snapshot?.format === 1;
    const journalExists = await stat(this.journalPath).then(() => true, () => false);
    const bytes = await readIfExists(this.journalPath);
    const scan = scanJournal(bytes);
    if (scan.kind === 'foreign') throw refusal(this.journalPath, scan.reason);

    const warnings: string[] = [];
    let journalEntries = 0;
    let droppedTail: RecoveryReport['droppedTail'] = null;
    // -1: no usable journal; a fresh one is created below.
    let journalSeq = -1;
    if (scan.kind === 'journal') {
      if (scan.baseSeq > snapSeq) {
        throw refusal(this.journalPath, `it continues from seq ${scan.baseSeq}, but the snapshot ${this.snapshotPath} ` +
          (snapshot ? `holds only up to seq ${snapSeq}` : 'is missing'));
      }
      const expected = snapshot?.journal;
      if (expected && scan.id !== null && scan.id !== expected.id && scan.id !== expected.previous) {
        throw refusal(this.journalPath, `it is journal ${scan.id}, but the snapshot ${this.snapshotPath} (seq ${snapSeq}) ` +
          `was written for journal ${expected.id}: the journal was replaced or restored from elsewhere (moved aside, the store starts on the snapshot alone)`);
      }
      const tail = scan.tail;
      if (tail && tail.intactAfter > 0 && !this.recoverJournal) throw this.middleDamage(scan.baseSeq + scan.records.length, tail);
      for (const record of scan.records) {
        if (record.seq <= snapSeq) continue; // already in the snapshot: a compaction was cut short
        index.apply(record.mutations);
        if (record.merge) putSlots(slots, record.merge.slots);
        else if (record.stamp) applyLocalCommit(slots, record.mutations, record.stamp.version, new Date(record.stamp.at));
        else unversioned = true;
        journalEntries++;
      }
      journalSeq = scan.baseSeq + scan.records.length;
      if (tail) {
        const savedTo = tail.completeLines > 0 ? await this.saveDropped(bytes.subarray(tail.offset)) : null;
        droppedTail = { offset: tail.offset, bytes: tail.bytes, reason: tail.reason, savedTo, intactRecords: tail.intactAfter };
        warnings.push(
          tail.intactAfter > 0
            ? `the journal was damaged in the middle (${tail.reason} at byte ${tail.offset}); as asked (--recover-journal) the store starts on the last good record, seq ${journalSeq}, and the cut part, with ${tail.intactAfter} intact records, is kept in ${savedTo}`
            : tail.completeLines > 0
              ? `the last line${tail.completeLines > 1 ? 's' : ''} of the journal ${tail.completeLines > 1 ? 'were' : 'was'} corrupt (${tail.reason} at byte ${tail.offset}) and ${tail.completeLines > 1 ? 'were' : 'was'} cut off, kept in ${savedTo}; the store starts at seq ${journalSeq}`
              : `the last write before the previous stop was torn (${tail.bytes} bytes, never acknowledged) and was cut off; the store starts at seq ${journalSeq}`,
        );
      }
      if (journalSeq < snapSeq) {
        warnings.push(`the journal ends at seq ${journalSeq}, before the snapshot's seq ${snapSeq}: it was cut; the store starts on the snapshot, and commits after seq ${snapSeq}, if there were any, are lost`);
      } else if (expected && scan.id === expected.previous) {
        this.logger.info('store: a compaction was cut short between its two renames; replaying the older journal after the snapshot', { file: this.journalPath });
      }
    } else if (snapshot) {
      warnings.push(`the journal ${this.journalPath} is ${journalExists ? 'empty (0 bytes: not even its header line)' : 'missing'} beside the snapshot at seq ${snapSeq}` +
        `${snapshot.journal ? ` (which expects journal ${snapshot.journal.id})` : ''}: the store starts on the snapshot, and commits after seq ${snapSeq}, if there were any, are lost`);
    } else if (journalExists) {
      warnings.push(`the journal ${this.journalPath} is empty (0 bytes), but every journal starts with a header line: it was truncated; with no snapshot the store starts empty`);
    }

    // Journals written before end lines existed (no id) never have one: nothing to say then.
    if (scan.kind === 'journal' && scan.id !== null && !scan.cleanEnd && !scan.tail && journalSeq >= snapSeq) {
      warnings.push(`the journal does not end with the line a clean stop writes: the previous run was stopped by a crash, kill -9 or power loss (every acknowledged commit up to seq ${journalSeq} is here), or the journal was cut, and then commits after seq ${journalSeq} are lost`);
    }

    if (scan.kind === 'journal' && journalSeq >= snapSeq) {
      // The end line (if any) goes: appends continue right after the last record.
      this.handle = await openJournal(this.journalPath, scan.tail || scan.cleanEnd ? scan.goodBytes : null);
      this.bytes = scan.goodBytes;
      this.journalId = scan.id;
    } else {
      // Missing, empty, or wholly older than the snapshot (its tail was cut): start one at the
      // snapshot's seq, so the next record's seq follows on from both files, under the id the
      // snapshot expects.
      this.journalId = snapshot?.journal?.id ?? newJournalId();
      ({ handle: this.handle, bytes: this.bytes } = await this.installJournal(encodeHeader(snapSeq, this.journalId)));
    }

    this.durable = Math.max(snapSeq, journalSeq);
    if (unversioned) slots = replicaOfUnversioned(index.toState(), this.nodeId);
    if (unversioned || (scan.kind === 'journal' && scan.format === 1)) {
      // Upgraded in place: a format-2 snapshot of everything loaded, and a fresh format-2
      // journal after it (the old journal is its `previous`, so a crash in between is safe).
      await this.handle?.close();
      this.handle = null;
      await this.rewrite({ seq: this.durable, vpcs: [...index.vpcs()], peerings: [...index.peerings()], replica: slots });
      this.compactAt = this.threshold();
      this.logger.info('store: upgraded the files from format 1 to format 2 (versions and tombstones)', { file: this.snapshotPath, seq: this.durable });
    }
    for (const finding of warnings) this.logger.warn(`store: ${finding}`, { file: this.journalPath });
    this.report = {
      snapshotRecords: snapshot ? Object.keys(snapshot.state.vpcs).length + Object.keys(snapshot.state.peerings).length : 0,
      journalEntries,
      seq: this.durable,
      droppedTail,
      warnings,
    };
    this.logger.debug('store: loaded', {
      file: this.snapshotPath,
      records: index.vpcCount + index.peeringCount,
      journalEntries,
      seq: this.durable,
      ms: Math.round(performance.now() - started),
    });
    return { index, slots, outbox: [], lastSeq: this.durable };
  }

  /** Appends every staged commit with one write and one fdatasync. */
  write(doc: JournalDoc): Promise<void> {
    return this.exclusive(() => this.append(doc));
  }

  /**
   * Waits for a compaction in progress, then ends the journal with the end line of a clean stop
   * (so that the next start can tell a journal cut at a record boundary from a clean stop) and
   * closes it; a failed journal is instead cut back to its durable end. Appends must have stopped.
   */
  async close(): Promise<void> {
    await this.compactionDone;
    await this.exclusive(async () => {
      const handle = this.handle;
      this.handle = null;
      try {
        if (this.fatal) {
          // Never leave a refused commit's line behind for the next start to replay.
          await handle?.close();
          await truncateFile(this.journalPath, this.bytes);
        } else if (handle) {
          try {
            await writeAll(handle, Buffer.from(encodeEnd(this.durable)));
            await handle.datasync();
          } finally {
            await handle.close();
          }
        }
      } catch (err) {
        this.logger.warn('store: could not finish the journal on close; the next start will report an unclean stop', { err, file: this.journalPath });
      }
    });
  }

  /**
   * After a failure: makes the files hold exactly the durable state again, and reopens the
   * journal. First the journal is cut back to its durable end (what the failed writes left past
   * it must never be replayed, and a cut needs no free space); then a snapshot of `durable` (the
   * state at durableSeq) replaces the old one and a fresh journal starts after it, through new
   * file descriptions (an fsync error is reported once per description, so the old one cannot be
   * trusted). Throws, leaving the adapter failed, while the disk still refuses.
   */
  async recover(durable: StateCapture): Promise<void> {
    if (durable.seq !== this.durable) throw new Error(`store: recover() given seq ${durable.seq}, durable seq is ${this.durable}`);
    await this.compactionDone;
    await this.exclusive(async () => {
      const old = this.handle;
      this.handle = null;
      await old?.close().catch(() => undefined);
      await truncateFile(this.journalPath, this.bytes);
      await this.beforeSync?.();
      await this.rewrite(durable);
      this.compaction = null;
      this.compactAt = this.threshold();
      this.fatal = null;
    });
  }

  /**
   * Replaces both files by ones holding exactly `capture`: a snapshot naming a fresh journal
   * (and the current one as its previous), then that journal, empty after its header.
   */
  private async rewrite(capture: StateCapture): Promise<void> {
    const nextId = newJournalId();
    this.snapshotBytes = await replaceFile(this.snapshotPath, snapshotPieces({ ...capture, journal: { id: nextId, previous: this.journalId } }));
    ({ handle: this.handle, bytes: this.bytes } = await this.installJournal(encodeHeader(capture.seq, nextId)));
    this.journalId = nextId;
  }

  private async append(doc: JournalDoc): Promise<void> {
    if (this.fatal) throw this.fatal;
    if (!this.handle) throw new Error('store: the journal is closed');
    const batch = doc.outbox.splice(0);
    const last = batch.at(-1);
    if (!last) return;
    // Captured before any await: right now the index holds exactly the commits up to last.seq.
    // Records are immutable (a change replaces them), so copying the lists is enough.
    const capture = this.compaction === null && this.bytes >= this.compactAt
      ? { seq: last.seq, vpcs: [...doc.index.vpcs()], peerings: [...doc.index.peerings()], replica: copyReplica(doc.slots) }
      : null;
    const running = this.compaction;
    const data = Buffer.from(batch.map((e) => e.line).join(''));
    try {
      await writeAll(this.handle, data);
      await this.beforeSync?.();
      await this.handle.datasync();
    } catch (err) {
      throw this.fail(err, 'journal write failed');
    }
    this.syncCount++;
    this.bytes += data.length;
    this.durable = last.seq;
    running?.tail.push(data);
    if (capture) this.startCompaction(capture);
  }

  private startCompaction(capture: StateCapture): void {
    const compaction: Compaction = { seq: capture.seq, nextId: newJournalId(), tail: [] };
    this.compaction = compaction;
    this.compactionDone = this.compact(capture, compaction);
  }

  /** Never rejects: a failed snapshot is retried later, a failed swap fails the store. */
  private async compact(capture: StateCapture, compaction: Compaction): Promise<void> {
    const started = performance.now();
    try {
      const journal = { id: compaction.nextId, previous: this.journalId };
      this.snapshotBytes = await replaceFile(this.snapshotPath, snapshotPieces({ ...capture, journal }));
    } catch (err) {
      // The journal still holds every record, so nothing is at risk: carry on and retry later.
      this.giveUpCompaction(err, 'snapshot failed');
      return;
    }
    const swapped = await this.exclusive(() => this.swapJournal(compaction));
    if (!swapped) return;
    this.compactionCount++;
    this.logger.info('store: compacted', {
      file: this.snapshotPath,
      seq: capture.seq,
      journalBytes: this.bytes,
      ms: Math.round(performance.now() - started),
    });
  }

  /** Replaces the journal by one that starts at the snapshot's seq; true when done. */
  private async swapJournal(compaction: Compaction): Promise<boolean> {
    if (this.fatal || !this.handle) return false;
    const tmp = `${this.journalPath}.tmp`;
    let fresh: { handle: FileHandle; bytes: number } | null = null;
    try {
      fresh = await createSynced(tmp, [encodeHeader(compaction.seq, compaction.nextId), ...compaction.tail]);
      await rename(tmp, this.journalPath);
    } catch (err) {
      // Before the rename the old journal is untouched and still complete.
      await fresh?.handle.close().catch(() => undefined);
      await rm(tmp, { force: true }).catch(() => undefined);
      this.giveUpCompaction(err, 'journal swap failed');
      return false;
    }
    try {
      await fsyncDir(dirname(this.journalPath));
    } catch (err) {
      // The rename may not survive a crash, and appends to either file could then be lost. The
      // file now named journalPath is the fresh one: record its size for recover().
      await fresh.handle.close().catch(() => undefined);
      await this.handle.close().catch(() => undefined);
      this.handle = null;
      this.bytes = fresh.bytes;
      this.journalId = compaction.nextId;
      this.compaction = null;
      this.fail(err, 'fsync of the store folder failed while replacing the journal');
      return false;
    }
    const old = this.handle;
    this.handle = fresh.handle;
    this.bytes = fresh.bytes;
    this.journalId = compaction.nextId;
    this.compactAt = this.threshold();
    this.compaction = null;
    await old.close().catch((err: unknown) => this.logger.warn('store: closing the old journal failed', { err }));
    return true;
  }

  private giveUpCompaction(err: unknown, what: string): void {
    this.compaction = null;
    this.compactAt = this.bytes + this.threshold();
    this.logger.error(`store: ${what}; the journal keeps every record and compaction will be retried`, {
      err, file: this.snapshotPath,
    });
  }

  /** Marks the journal failed for good and tells the store; returns the error to throw. */
  private fail(err: unknown, what: string): Error {
    const error = new Error(`store: ${what}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    if (!this.fatal) {
      this.fatal = error;
      this.onFatal(error);
    }
    return error;
  }

  private threshold(): number {
    return Math.max(this.compactAfterBytes, this.snapshotBytes);
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async loadSnapshot(): Promise<Snapshot | null> {
    const bytes = await readIfExists(this.snapshotPath);
    if (bytes.length === 0) return null;
    const snapshot = decodeSnapshot(bytes);
    if (typeof snapshot === 'string') throw refusal(this.snapshotPath, snapshot);
    this.snapshotBytes = bytes.length;
    this.compactAt = this.threshold();
    return snapshot;
  }

  /** Creates the journal afresh (temp file, fsync, rename, folder fsync) and opens it. */
  private async installJournal(header: string): Promise<{ handle: FileHandle; bytes: number }> {
    const tmp = `${this.journalPath}.tmp`;
    const created = await createSynced(tmp, [header]);
    try {
      await rename(tmp, this.journalPath);
      await fsyncDir(dirname(this.journalPath));
    } catch (err) {
      await created.handle.close();
      throw err;
    }
    return created;
  }

  /** Keeps a dropped tail that held whole lines: it may be the only copy of acknowledged writes. */
  private async saveDropped(tail: Buffer): Promise<string> {
    const file = `${this.journalPath}.dropped-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    const { handle } = await createSynced(file, [tail]);
    await handle.close();
    return file;
  }

  /** The refusal to start on a journal damaged in the middle, saying how to proceed. */
  private middleDamage(lastGoodSeq: number, tail: { offset: number; reason: string; intactAfter: number }): StoreRefusedError {
    return new StoreRefusedError(
      `store: refusing to start on ${this.journalPath}: it is damaged in the middle (${tail.reason} at byte ${tail.offset}), ` +
        `and ${tail.intactAfter === 1 ? '1 intact record follows' : `${tail.intactAfter} intact records follow`} the damage; they may be acknowledged commits, ` +
        'so the daemon does not drop them by itself. To start on the last good record ' +
        `(seq ${lastGoodSeq}) and keep the cut part in ${this.journalPath}.dropped-<time>, run vpc-peerd --recover-journal ` +
        'with the same --config (once hosts replicate, their peers hold the cut records); or restore the store from a backup.',
    );
  }

  private async removeLeftover(file: string): Promise<void> {
    const existed = await stat(file).then(() => true, () => false);
    if (!existed) return;
    await rm(file, { force: true });
    this.logger.info('store: removed the temp file of an interrupted compaction', { file });
  }
}

function newJournalId(): string {
  return randomBytes(8).toString('hex');
}

function refusal(file: string, reason: string): StoreRefusedError {
  return new StoreRefusedError(`store: refusing to start on ${file}: ${reason}. Move the file aside or restore it from a backup.`);
}

async function readIfExists(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return Buffer.alloc(0);
    throw err;
  }
}

/** Cuts `file` to `length` bytes, durably; a missing file is left missing. */
async function truncateFile(file: string, length: number): Promise<void> {
  let handle: FileHandle;
  try {
    handle = await open(file, 'r+');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  try {
    if ((await handle.stat()).size > length) await handle.truncate(length);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Opens the journal for appending, first cutting it to `length` (durably) when given. */
async function openJournal(file: string, length: number | null): Promise<FileHandle> {
  const handle = await open(file, 'a');
  if (length === null) return handle;
  try {
    await handle.truncate(length);
    await handle.sync();
    return handle;
  } catch (err) {
    await handle.close();
    throw err;
  }
}
