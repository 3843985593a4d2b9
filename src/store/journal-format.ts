// The on-disk format, as pure functions over strings and bytes (no file access here, so every
// rule is tested with raw bytes). docs/STORE.md describes the same format for operators.
//
// Every line, in the snapshot and in the journal, is one JSON object that ends with a CRC-32 of
// its own text: `{...,"crc":"89abcdef"}\n`, where the CRC covers the line as it would read
// without the crc member (`{...}`). A checksum catches a flipped or zeroed byte that still parses;
// the trailing newline catches a torn write.
//   snapshot  {"snapshot":"vpc-peerd","version":2,"seq":N,"journal":{"id":J,"previous":P},"state":{…},
//              "meta":{"vpcs":{id:{version,incarnation}},"peerings":{id:{version,incarnation,basis}}},
//              "tombstones":[{kind,id,version,deletedAt},…],"crc":…}
//   journal   {"journal":"vpc-peerd","version":2,"baseSeq":N,"id":J,"crc":…}   header, first line
//             {"seq":N+1,"origin":O,"version":V,"at":T,"m":[Mutation,…],"crc":…}   a commit of this host
//             {"seq":N+2,"origin":O,"at":T,"slots":{"vpcs":[Slot,…],"peerings":[Slot,…]},"crc":…}
//                                                  a merge: received slots, each under its own version
//             {"end":"clean","seq":M,"crc":…}     last line after a clean stop; cut off at start
// Versions are in the HLC text form (hlc.ts); a commit's line carries its one version, its
// origin and its wall time, from which replay rebuilds incarnations, bases and tombstones
// exactly as the commit made them (replica.ts applyLocalCommit). Format 1 (before versions:
// no meta, tombstones, origin, version or at) is read, and upgraded at start (journal-adapter.ts).
// `id` names a journal file; a snapshot names the journal that follows it (`journal.id`) and the
// one it replaces (`journal.previous`, still in place if a compaction stopped between its two
// renames), so that a journal swapped, lost or restored from elsewhere is told apart from ours.
// Files written before ids existed have neither member and load as they always did.
import { crc32 } from 'node:zlib';
import { decodeHlc, encodeHlc, type Hlc } from '../domain/hlc.js';
import {
  isTombstone, type MutableReplica, type PeeringSlot, type ReplicaState, type SlotBatch, slotMutations, type Tombstone, type VpcSlot,
} from '../domain/replica.js';
import type { Mutation, Peering, State, Vpc } from '../domain/types.js';
import {
  firstFieldProblem, isMutationList, originProblem, replicaMetaProblem, slotProblem, stateProblem, timestampProblem, tombstoneProblem, versionTextProblem,
} from '../domain/records.js';

export const FORMAT_NAME = 'vpc-peerd';
/** The format written. */
export const FORMAT_VERSION = 2;
/** The formats read: 1 (before versions) is upgraded to 2 at start. */
export type FormatVersion = 1 | 2;

const NEWLINE = 0x0a;
const CLOSE_BRACE = Buffer.from('}');
/** `,"crc":"xxxxxxxx"}` */
const SEAL_LENGTH = 18;
const SEAL = /^,"crc":"([0-9a-f]{8})"\}$/;

/** What a format-2 commit line carries besides its mutations. */
export interface CommitStamp {
  readonly origin: string;
  readonly version: Hlc;
  /** The commit's wall time (ISO-8601 UTC): the deletedAt of the tombstones it leaves. */
  readonly at: string;
}

/** What a merge line carries: where its slots came from, when they were stored, and the slots. */
export interface MergeStamp {
  readonly origin: string;
  readonly at: string;
  readonly slots: SlotBatch;
}

/**
 * One journal line. A commit of this host has `stamp` (null in format 1); a merge has `merge`, and
 * its `mutations` are what its slots do to the plain state (slotMutations).
 */
export interface JournalRecord {
  readonly seq: number;
  readonly mutations: readonly Mutation[];
  readonly stamp: CommitStamp | null;
  readonly merge: MergeStamp | null;
}

/** The journals a snapshot names: the one written after it, and the one before (null for none). */
export interface JournalLink {
  readonly id: string;
  readonly previous: string | null;
}

/** A snapshot as loaded; `journal` is null in files written before journal ids existed. */
export interface Snapshot {
  readonly format: FormatVersion;
  readonly seq: number;
  readonly journal: JournalLink | null;
  readonly state: State;
  /** The versions and tombstones; null in format 1. */
  readonly replica: MutableReplica | null;
}

/** The state at one seq, as lists of records (a snapshot file keys them by id). */
export interface StateCapture {
  readonly seq: number;
  readonly vpcs: readonly Vpc[];
  readonly peerings: readonly Peering[];
  /** The slots of the same records, and the tombstones (a copy: it is read while it is written). */
  readonly replica: ReplicaState;
}

/** What a snapshot is written from. */
export interface SnapshotSource extends StateCapture {
  readonly journal: JournalLink;
}

/** Journal ids: 16 lowercase hex digits. */
const JOURNAL_ID = /^[0-9a-f]{16}$/;

function hex(crc: number): string {
  return crc.toString(16).padStart(8, '0');
}

/** Appends the checksum member and the newline to the JSON text of an object. */
function seal(json: string): string {
  return `${json.slice(0, -1)},"crc":"${hex(crc32(json))}"}\n`;
}

/** Checks a line's checksum (without its newline) and parses it; a string says what is wrong. */
export function unseal(line: Buffer): { value: unknown } | string {
  if (line.length <= SEAL_LENGTH + 1) return 'line too short';
  const found = SEAL.exec(line.toString('latin1', line.length - SEAL_LENGTH));
  if (!found) return 'line has no checksum';
  const crc = crc32(CLOSE_BRACE, crc32(line.subarray(0, line.length - SEAL_LENGTH)));
  if (hex(crc) !== found[1]) return 'checksum mismatch';
  try {
    return { value: JSON.parse(line.toString('utf8')) as unknown };
  } catch {
    return 'line is not JSON';
  }
}

function isSeq(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function field(v: unknown, key: string): unknown {
  return typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[key] : undefined;
}

export function encodeHeader(baseSeq: number, id: string): string {
  return seal(JSON.stringify({ journal: FORMAT_NAME, version: FORMAT_VERSION, baseSeq, id }));
}

/**
 * The line a clean stop appends after the last record (seq M): a journal that ends without it
 * was stopped by a crash, kill -9 or power loss — or was cut, even exactly at a record boundary.
 */
export function encodeEnd(seq: number): string {
  return seal(JSON.stringify({ end: 'clean', seq }));
}

export function encodeRecord(seq: number, mutations: readonly Mutation[], stamp: CommitStamp): string {
  return seal(JSON.stringify({ seq, origin: stamp.origin, version: encodeHlc(stamp.version), at: stamp.at, m: mutations }));
}

/** The line of a merge: received slots stored under their own versions (Slot JSON, versions as Hlc objects). */
export function encodeMerge(seq: number, merge: MergeStamp): string {
  return seal(JSON.stringify({ seq, origin: merge.origin, at: merge.at, slots: { vpcs: merge.slots.vpcs ?? [], peerings: merge.slots.peerings ?? [] } }));
}

/** The slots of a merge line, checked by the one slot rule (records.ts slotProblem); a string says what is wrong. */
function decodeMergeSlots(v: unknown): SlotBatch | string {
  const vpcs = field(v, 'vpcs');
  const peerings = field(v, 'peerings');
  if (!Array.isArray(vpcs) || !Array.isArray(peerings)) return 'merge record lacks vpcs or peerings';
  const problem = vpcs.map((x) => slotProblem('vpc', x)).find((p) => p !== null) ?? peerings.map((x) => slotProblem('peering', x)).find((p) => p !== null);
  if (problem) return `merge record: ${problem}`;
  return { vpcs: vpcs as VpcSlot[], peerings: peerings as PeeringSlot[] };
}

/**
 * The text of a snapshot in pieces of `perPiece` records, ending with the seal, so that a large
 * state is serialised and written a piece at a time without holding up the event loop for all
 * of it. Joined, the pieces are one sealed line like any other.
 */
export function* snapshotPieces(source: SnapshotSource, perPiece = 500): Generator<string> {
  let crc = 0;
  for (const piece of unsealedSnapshot(source, perPiece)) {
    crc = crc32(piece, crc);
    yield piece;
  }
  // The checksum covers the object as it reads without the crc member, closing brace included.
  yield `,"crc":"${hex(crc32(CLOSE_BRACE, crc))}"}\n`;
}

/** The snapshot object, less its final closing brace. */
function* unsealedSnapshot(source: SnapshotSource, perPiece: number): Generator<string> {
  yield `{"snapshot":"${FORMAT_NAME}","version":${FORMAT_VERSION},"seq":${source.seq},"journal":${JSON.stringify(source.journal)},"state":{"vpcs":{`;
  yield* keyedPieces(source.vpcs, perPiece);
  yield '},"peerings":{';
  yield* keyedPieces(source.peerings, perPiece);
  yield '}},"meta":{"vpcs":{';
  yield* metaPieces(source.vpcs, source.replica.vpcs, perPiece);
  yield '},"peerings":{';
  yield* metaPieces(source.peerings, source.replica.peerings, perPiece);
  yield '}},"tombstones":[';
  const tombstones = [...source.replica.vpcs.values(), ...source.replica.peerings.values()].filter(isTombstone);
  for (let i = 0; i < tombstones.length; i += perPiece) {
    const piece = tombstones.slice(i, i + perPiece).map((t) => JSON.stringify(encodeTombstone(t))).join(',');
    yield i === 0 ? piece : `,${piece}`;
  }
  yield ']';
}

function encodeTombstone(t: Tombstone): Record<string, string> {
  return { kind: t.kind, id: t.id, version: encodeHlc(t.version), deletedAt: t.deletedAt };
}

/** The meta entry of each record: its slot's version, incarnation and (peerings) basis. */
function* metaPieces(records: readonly { readonly id: string }[], slots: ReadonlyMap<string, VpcSlot | PeeringSlot>, perPiece: number): Generator<string> {
  for (let i = 0; i < records.length; i += perPiece) {
    const piece = records.slice(i, i + perPiece).map((r) => {
      const slot = slots.get(r.id);
      if (!slot || isTombstone(slot)) throw new Error(`store: record ${r.id} has no version to write`);
      const meta = { version: encodeHlc(slot.version), incarnation: encodeHlc(slot.incarnation), ...('basis' in slot ? { basis: slot.basis } : {}) };
      return `${JSON.stringify(r.id)}:${JSON.stringify(meta)}`;
    }).join(',');
    yield i === 0 ? piece : `,${piece}`;
  }
}

function* keyedPieces(records: readonly { readonly id: string }[], perPiece: number): Generator<string> {
  for (let i = 0; i < records.length; i += perPiece) {
    const piece = records.slice(i, i + perPiece).map((r) => `${JSON.stringify(r.id)}:${JSON.stringify(r)}`).join(',');
    yield i === 0 ? piece : `,${piece}`;
  }
}

/** Decodes a whole snapshot file; a string says why it is not a sound snapshot. */
export function decodeSnapshot(bytes: Buffer): Snapshot | string {
  if (bytes.at(-1) !== NEWLINE) return 'the file does not end with a newline';
  const body = bytes.subarray(0, -1);
  if (body.includes(NEWLINE)) return 'the file holds more than one line';
  const sealed = unseal(body);
  if (typeof sealed === 'string') return sealed;
  const v = sealed.value;
  if (field(v, 'snapshot') !== FORMAT_NAME) return 'not a vpc-peerd snapshot';
  const format = field(v, 'version');
  if (format !== 1 && format !== 2) return `unsupported snapshot version ${String(format)}`;
  const seq = field(v, 'seq');
  if (!isSeq(seq)) return 'snapshot seq is malformed';
  const journal = field(v, 'journal');
  if (journal !== undefined && !isJournalLink(journal)) return 'snapshot journal link is malformed';
  const state = field(v, 'state');
  const problem = stateProblem(state);
  if (problem) return problem;
  if (format === 1) return { format, seq, journal: journal ?? null, state: state as State, replica: null };
  const meta = field(v, 'meta');
  const tombstones = field(v, 'tombstones');
  const metaProblem = replicaMetaProblem(state, meta) ?? (Array.isArray(tombstones) ? tombstones.map(tombstoneProblem).find((p) => p !== null) ?? null : 'tombstones is not a list');
  if (metaProblem) return metaProblem;
  return { format, seq, journal: journal ?? null, state: state as State, replica: decodeReplica(state as State, meta as RawMeta, tombstones as RawTombstone[]) };
}

type RawMeta = Record<'vpcs' | 'peerings', Record<string, { version: string; incarnation: string; basis?: { requesterCidrs: string[]; accepterCidrs: string[] } }>>;
type RawTombstone = { kind: 'vpc' | 'peering'; id: string; version: string; deletedAt: string };

/** The slots of a snapshot whose meta and tombstones have passed their rules. */
function decodeReplica(state: State, meta: RawMeta, tombstones: readonly RawTombstone[]): MutableReplica {
  const hlc = (text: string): Hlc => decodeHlc(text)!;
  const vpcs = new Map<string, VpcSlot>();
  const peerings = new Map<string, PeeringSlot>();
  for (const t of tombstones) {
    (t.kind === 'vpc' ? vpcs : peerings).set(t.id, { kind: t.kind, id: t.id, version: hlc(t.version), deletedAt: t.deletedAt });
  }
  for (const [id, record] of Object.entries(state.vpcs)) {
    const m = meta.vpcs[id]!;
    vpcs.set(id, { record, version: hlc(m.version), incarnation: hlc(m.incarnation) });
  }
  for (const [id, record] of Object.entries(state.peerings)) {
    const m = meta.peerings[id]!;
    peerings.set(id, { record, version: hlc(m.version), incarnation: hlc(m.incarnation), basis: m.basis! });
  }
  return { vpcs, peerings };
}

function isJournalLink(v: unknown): v is JournalLink {
  const id = field(v, 'id');
  const previous = field(v, 'previous');
  return typeof id === 'string' && JOURNAL_ID.test(id) && (previous === null || (typeof previous === 'string' && JOURNAL_ID.test(previous)));
}

export type JournalScan =
  | { readonly kind: 'empty' }
  /** Not a journal of ours from the first byte: the caller refuses to start. */
  | { readonly kind: 'foreign'; readonly reason: string }
  | {
      readonly kind: 'journal';
      readonly format: FormatVersion;
      readonly baseSeq: number;
      /** The header's journal id; null in journals written before ids existed. */
      readonly id: string | null;
      readonly records: readonly JournalRecord[];
      /** Length of the sound prefix: the header and every good record (not the end line). */
      readonly goodBytes: number;
      /** Whether the journal ends with the end line of a clean stop (only ever as its last line). */
      readonly cleanEnd: boolean;
      /** The bad part from the first unsound line to the end, when there is one. */
      readonly tail: {
        readonly offset: number;
        readonly bytes: number;
        readonly reason: string;
        /** Newline-terminated lines in the tail: 0 for a torn last write, more for corruption. */
        readonly completeLines: number;
        /**
         * Lines after the first bad one whose checksum holds: intact records past the damage,
         * so the damage is in the middle and cutting there would drop acknowledged commits.
         */
        readonly intactAfter: number;
      } | null;
    };

/**
 * Splits a journal into its header, the longest run of sound records, and the rest. A record is
 * sound when it is newline-terminated, its checksum holds, its shape is valid and its seq is the
 * next one; everything from the first unsound record on is the tail, because replaying past a
 * hole would apply later changes without the earlier ones.
 */
export function scanJournal(bytes: Buffer): JournalScan {
  if (bytes.length === 0) return { kind: 'empty' };
  const headerEnd = bytes.indexOf(NEWLINE);
  // The header is written atomically (temp file + rename), so a bad one is never a torn write.
  if (headerEnd < 0) return { kind: 'foreign', reason: 'no header line' };
  const header = unseal(bytes.subarray(0, headerEnd));
  if (typeof header === 'string') return { kind: 'foreign', reason: `header: ${header}` };
  if (field(header.value, 'journal') !== FORMAT_NAME) return { kind: 'foreign', reason: 'not a vpc-peerd journal' };
  const format = field(header.value, 'version');
  if (format !== 1 && format !== 2) return { kind: 'foreign', reason: `unsupported journal version ${String(format)}` };
  const baseSeq = field(header.value, 'baseSeq');
  if (!isSeq(baseSeq)) return { kind: 'foreign', reason: 'header baseSeq is malformed' };
  const id = field(header.value, 'id');
  if (id !== undefined && !(typeof id === 'string' && JOURNAL_ID.test(id))) return { kind: 'foreign', reason: 'header id is malformed' };

  const records: JournalRecord[] = [];
  let offset = headerEnd + 1;
  let reason: string | null = null;
  let cleanEnd = false;
  while (offset < bytes.length) {
    const end = bytes.indexOf(NEWLINE, offset);
    if (end < 0) {
      reason = 'unterminated last line';
      break;
    }
    if (end + 1 === bytes.length && isEndLine(bytes.subarray(offset, end), baseSeq + records.length)) {
      cleanEnd = true;
      break;
    }
    const record = decodeRecord(bytes.subarray(offset, end), baseSeq + records.length + 1, format);
    if (typeof record === 'string') {
      reason = record;
      break;
    }
    records.push(record);
    offset = end + 1;
  }
  const tail = reason === null ? null : {
    offset,
    bytes: bytes.length - offset,
    reason: `${reason} (seq ${baseSeq + records.length + 1} expected)`,
    completeLines: countNewlines(bytes.subarray(offset)),
    intactAfter: countIntactAfter(bytes, offset),
  };
  return { kind: 'journal', format, baseSeq, id: id ?? null, records, goodBytes: offset, cleanEnd, tail };
}

/** Whether a line is the end line of a clean stop after record `lastSeq`. */
function isEndLine(line: Buffer, lastSeq: number): boolean {
  const sealed = unseal(line);
  return typeof sealed !== 'string' && field(sealed.value, 'end') === 'clean' && field(sealed.value, 'seq') === lastSeq;
}

/** Sealed lines (checksum holds) after the line that starts at `offset`, end lines aside. */
function countIntactAfter(bytes: Buffer, offset: number): number {
  let n = 0;
  let start = bytes.indexOf(NEWLINE, offset) + 1;
  while (start > 0 && start < bytes.length) {
    const end = bytes.indexOf(NEWLINE, start);
    if (end < 0) break;
    const sealed = unseal(bytes.subarray(start, end));
    if (typeof sealed !== 'string' && field(sealed.value, 'end') === undefined) n++;
    start = end + 1;
  }
  return n;
}

/** Decodes one record line (without its newline); a string says why it is unsound. */
function decodeRecord(line: Buffer, expectedSeq: number, format: FormatVersion): JournalRecord | string {
  const sealed = unseal(line);
  if (typeof sealed === 'string') return sealed;
  const v = sealed.value;
  const seq = field(v, 'seq');
  if (!isSeq(seq)) return 'record seq is malformed';
  if (seq !== expectedSeq) return `record has seq ${seq}`;
  const origin = field(v, 'origin');
  const at = field(v, 'at');
  if (format === 2 && field(v, 'slots') !== undefined) {
    const problem = firstFieldProblem([['origin', originProblem, origin], ['at', timestampProblem, at]]);
    if (problem) return `record ${problem}`;
    const slots = decodeMergeSlots(field(v, 'slots'));
    if (typeof slots === 'string') return slots;
    return { seq, mutations: slotMutations(slots), stamp: null, merge: { origin: origin as string, at: at as string, slots } };
  }
  const mutations = field(v, 'm');
  if (!isMutationList(mutations)) return 'record holds a malformed mutation';
  if (format === 1) return { seq, mutations, stamp: null, merge: null };
  const version = field(v, 'version');
  const problem = firstFieldProblem([['origin', originProblem, origin], ['version', versionTextProblem, version], ['at', timestampProblem, at]]);
  if (problem) return `record ${problem}`;
  return { seq, mutations, stamp: { origin: origin as string, version: decodeHlc(version as string)!, at: at as string }, merge: null };
}

function countNewlines(bytes: Buffer): number {
  let n = 0;
  for (let i = bytes.indexOf(NEWLINE); i >= 0; i = bytes.indexOf(NEWLINE, i + 1)) n++;
  return n;
}
