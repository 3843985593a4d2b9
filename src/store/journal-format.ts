// The on-disk format, as pure functions over strings and bytes (no file access here, so every
// rule is tested with raw bytes). docs/STORE.md describes the same format for operators.
//
// Every line, in the snapshot and in the journal, is one JSON object that ends with a CRC-32 of
// its own text: `{...,"crc":"89abcdef"}\n`, where the CRC covers the line as it would read
// without the crc member (`{...}`). A checksum catches a flipped or zeroed byte that still parses;
// the trailing newline catches a torn write.
//   snapshot  {"snapshot":"vpc-peerd","version":1,"seq":N,"state":{"vpcs":{},"peerings":{}},"crc":…}
//   journal   {"journal":"vpc-peerd","version":1,"baseSeq":N,"crc":…}   header, first line
//             {"seq":N+1,"m":[Mutation,…],"crc":…}                      one line per commit
import { crc32 } from 'node:zlib';
import type { Mutation, Peering, State, Vpc } from '../domain/types.js';
import { isMutationList, stateProblem } from '../domain/records.js';

export const FORMAT_NAME = 'vpc-peerd';
export const FORMAT_VERSION = 1;

const NEWLINE = 0x0a;
const CLOSE_BRACE = Buffer.from('}');
/** `,"crc":"xxxxxxxx"}` */
const SEAL_LENGTH = 18;
const SEAL = /^,"crc":"([0-9a-f]{8})"\}$/;

export interface JournalRecord {
  readonly seq: number;
  readonly mutations: readonly Mutation[];
}

/** A snapshot as loaded. */
export interface Snapshot {
  readonly seq: number;
  readonly state: State;
}

/** What a snapshot is written from: the records as lists (the file keys them by id). */
export interface SnapshotSource {
  readonly seq: number;
  readonly vpcs: readonly Vpc[];
  readonly peerings: readonly Peering[];
}

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

export function encodeHeader(baseSeq: number): string {
  return seal(JSON.stringify({ journal: FORMAT_NAME, version: FORMAT_VERSION, baseSeq }));
}

export function encodeRecord(seq: number, mutations: readonly Mutation[]): string {
  return seal(JSON.stringify({ seq, m: mutations }));
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
  yield `{"snapshot":"${FORMAT_NAME}","version":${FORMAT_VERSION},"seq":${source.seq},"state":{"vpcs":{`;
  yield* keyedPieces(source.vpcs, perPiece);
  yield '},"peerings":{';
  yield* keyedPieces(source.peerings, perPiece);
  yield '}}';
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
  if (field(v, 'version') !== FORMAT_VERSION) return `unsupported snapshot version ${String(field(v, 'version'))}`;
  const seq = field(v, 'seq');
  if (!isSeq(seq)) return 'snapshot seq is malformed';
  const state = field(v, 'state');
  const problem = stateProblem(state);
  if (problem) return problem;
  return { seq, state: state as State };
}

export type JournalScan =
  | { readonly kind: 'empty' }
  /** Not a journal of ours from the first byte: the caller refuses to start. */
  | { readonly kind: 'foreign'; readonly reason: string }
  | {
      readonly kind: 'journal';
      readonly baseSeq: number;
      readonly records: readonly JournalRecord[];
      /** Length of the sound prefix: the header and every good record. */
      readonly goodBytes: number;
      /** The bad part from the first unsound line to the end, when there is one. */
      readonly tail: {
        readonly offset: number;
        readonly bytes: number;
        readonly reason: string;
        /** Newline-terminated lines in the tail: 0 for a torn last write, more for corruption. */
        readonly completeLines: number;
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
  if (field(header.value, 'version') !== FORMAT_VERSION) {
    return { kind: 'foreign', reason: `unsupported journal version ${String(field(header.value, 'version'))}` };
  }
  const baseSeq = field(header.value, 'baseSeq');
  if (!isSeq(baseSeq)) return { kind: 'foreign', reason: 'header baseSeq is malformed' };

  const records: JournalRecord[] = [];
  let offset = headerEnd + 1;
  let reason: string | null = null;
  while (offset < bytes.length) {
    const end = bytes.indexOf(NEWLINE, offset);
    if (end < 0) {
      reason = 'unterminated last line';
      break;
    }
    const record = decodeRecord(bytes.subarray(offset, end), baseSeq + records.length + 1);
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
  };
  return { kind: 'journal', baseSeq, records, goodBytes: offset, tail };
}

/** Decodes one record line (without its newline); a string says why it is unsound. */
function decodeRecord(line: Buffer, expectedSeq: number): JournalRecord | string {
  const sealed = unseal(line);
  if (typeof sealed === 'string') return sealed;
  const seq = field(sealed.value, 'seq');
  const mutations = field(sealed.value, 'm');
  if (!isSeq(seq)) return 'record seq is malformed';
  if (seq !== expectedSeq) return `record has seq ${seq}`;
  if (!isMutationList(mutations)) return 'record holds a malformed mutation';
  return { seq, mutations };
}

function countNewlines(bytes: Buffer): number {
  let n = 0;
  for (let i = bytes.indexOf(NEWLINE); i >= 0; i = bytes.indexOf(NEWLINE, i + 1)) n++;
  return n;
}
