// The anti-entropy digest (SPEC §8, docs/GOSSIP.md "Anti-entropy"): a hash tree over the
// (record, version) pairs a host holds, so two hosts find what differs between them by
// exchanging hashes, not records. The tree is keyed by a 32-bit hash of the record's reference
// (`vpc/<id>` or `peering/<id>`); the root has 256 children (8 bits), every deeper node 16
// (4 bits more), down to 32 bits. A node's hash is the XOR of the 64-bit hashes of the entries
// under it, so one record change updates it in O(1) and the order of insertion does not matter.
//
// The protocol over it is stateless and symmetric: a digest message carries one host's hashes
// for some nodes; the other host answers, for each node whose hash differs from its own, either
// its hashes of that node's children (a big node) or its list of entries under the node (a
// small one, or a leaf). An entry list settles its node: the receiver knows exactly which
// records to send and which to ask for. Identical replicas cost one root hash per round.
import { createHash } from 'node:crypto';
import { encodeHlc } from '../domain/hlc.js';
import { isTombstone, type PeeringSlot, type ReplicaState, type Slot, type VpcSlot } from '../domain/replica.js';
import { ID_PATTERN, type Mutation, PEERING_ID_PATTERN } from '../domain/types.js';

/** The depths (in key bits) of the tree's levels: the root, then 256 children, then 16 per node. */
export const LEVEL_BITS = [0, 8, 12, 16, 20, 24, 28, 32] as const;
/**
 * A node holding at most this many entries is answered with its entry list instead of its
 * children. An entry is ~50 bytes on the wire, a node's 16 child hashes ~170: below ~4 entries
 * the list is cheaper than descending (measured: 1,000 differences among 100k records cost
 * 1.3 MB of digest traffic at 32, a fifth of that at 4).
 */
export const LEAF_MAX = 4;
/** Bytes of one node hash (the first 8 bytes of a SHA-256). */
export const HASH_BYTES = 8;
/** Caps on what one digest or entries message may carry (a peer that sends more is refused). */
export const MAX_GROUPS = 4096;
export const MAX_ENTRIES = 65_536;

/** What the digest knows of one record: its reference, its version (HLC text form), whether it is a tombstone. */
export interface DigestEntry {
  readonly ref: string;
  readonly version: string;
  readonly dead: boolean;
}

/** A node of the tree: the first `bits` bits of the key are `value`. */
export interface TreeNode {
  readonly bits: number;
  readonly value: number;
}

/** Hashes of consecutive sibling nodes at depth `bits`, starting at `first`: base64 of HASH_BYTES per node. */
export interface DigestGroup {
  readonly bits: number;
  readonly first: number;
  readonly hashes: string;
}

/** An `ae.digest` body: "these are my hashes for these nodes". */
export interface DigestBody {
  readonly groups: readonly DigestGroup[];
}

/** One entry on the wire: [ref, version, 1 for a tombstone else 0]. */
export type WireEntry = readonly [string, string, 0 | 1];

/** Every entry a host holds under one node. */
export interface EntryBucket {
  readonly bits: number;
  readonly value: number;
  readonly entries: readonly WireEntry[];
}

/** An `ae.entries` body: the full contents of some nodes. */
export interface EntriesBody {
  readonly buckets: readonly EntryBucket[];
}

/** The reference of a record in the digest: `vpc/<id>` or `peering/<id>`. */
export function refOf(kind: 'vpc' | 'peering', id: string): string {
  return `${kind}/${id}`;
}

const REF = /^(vpc|peering)\/(.+)$/;

/** The kind and id a ref names, when it names one by the id pattern of its kind (SPEC §2). */
export function parseRef(ref: string): { kind: 'vpc' | 'peering'; id: string } | undefined {
  const m = REF.exec(ref);
  if (m === null) return undefined;
  const kind = m[1] as 'vpc' | 'peering';
  return (kind === 'vpc' ? ID_PATTERN : PEERING_ID_PATTERN).test(m[2]!) ? { kind, id: m[2]! } : undefined;
}

/** Whether `ref` is a well-formed ref. */
export function isRef(ref: unknown): ref is string {
  return typeof ref === 'string' && parseRef(ref) !== undefined;
}

/** The digest entry of a replica slot. */
export function entryOfSlot(kind: 'vpc' | 'peering', slot: Slot): DigestEntry {
  const dead = isTombstone(slot);
  return { ref: refOf(kind, dead ? slot.id : slot.record.id), version: encodeHlc(slot.version), dead };
}

/** The ref a mutation touches. */
export function refOfMutation(m: Mutation): string {
  switch (m.op) {
    case 'vpc.put':
      return refOf('vpc', m.vpc.id);
    case 'vpc.del':
      return refOf('vpc', m.id);
    case 'peering.put':
      return refOf('peering', m.peering.id);
    case 'peering.del':
      return refOf('peering', m.id);
  }
}

/** The slots `state` holds for `refs`, by kind; refs not held (or malformed) are skipped. */
export function slotsForRefs(state: ReplicaState, refs: readonly string[]): { vpcs: VpcSlot[]; peerings: PeeringSlot[] } {
  const vpcs: VpcSlot[] = [];
  const peerings: PeeringSlot[] = [];
  for (const ref of refs) {
    const r = parseRef(ref);
    if (r?.kind === 'vpc') {
      const s = state.vpcs.get(r.id);
      if (s) vpcs.push(s);
    } else if (r?.kind === 'peering') {
      const s = state.peerings.get(r.id);
      if (s) peerings.push(s);
    }
  }
  return { vpcs, peerings };
}

/** The 32-bit key of a ref: where it lies in the tree. */
export function keyOf(ref: string): number {
  return createHash('sha256').update(`key\0${ref}`).digest().readUInt32BE(0);
}

function hashOf(e: DigestEntry): Buffer {
  return createHash('sha256').update(`entry\0${e.ref}\0${e.version}\0${e.dead ? 't' : 'l'}`).digest().subarray(0, HASH_BYTES);
}

function xorInto(acc: Buffer, h: Buffer): void {
  for (let i = 0; i < HASH_BYTES; i++) acc[i]! ^= h[i]!;
}

/** The depth of the children of a node at depth `bits`, or undefined for a leaf. */
export function childBits(bits: number): number | undefined {
  const i = LEVEL_BITS.indexOf(bits as (typeof LEVEL_BITS)[number]);
  return i < 0 || i === LEVEL_BITS.length - 1 ? undefined : LEVEL_BITS[i + 1];
}

/** Whether the key lies under the node. */
export function under(key: number, node: TreeNode): boolean {
  return node.bits === 0 || key >>> (32 - node.bits) === node.value;
}

interface Held {
  readonly entry: DigestEntry;
  readonly key: number;
  readonly hash: Buffer;
}

/** The hash and entry count of one node below the top level. */
interface NodeSum {
  readonly hash: Buffer;
  count: number;
}

interface TopBucket {
  readonly hash: Buffer;
  readonly refs: Set<string>;
  /**
   * The sums of this bucket's deeper nodes, one map per depth, each made in one scan of the
   * bucket when first asked for and dropped when the bucket changes: an answer asks for up to
   * 16 nodes per bucket, three times each (hash, count, children), and every round asks again.
   */
  levels?: Map<number, Map<number, NodeSum>>;
}

/**
 * The digest tree of one host, kept up to date record by record (`set`, `remove`). The root and
 * its 256 children are maintained incrementally; deeper nodes are computed on demand from the
 * entries of their top-level bucket (about n/256 of them), a whole depth of a bucket at a time,
 * and kept until the bucket changes.
 */
export class DigestIndex {
  private readonly held = new Map<string, Held>();
  private readonly root = Buffer.alloc(HASH_BYTES);
  // Allocated on first use: a simulation holds thousands of small digests.
  private readonly top = new Map<number, TopBucket>();

  /** A digest of every slot of a replica. */
  static ofReplica(state: ReplicaState): DigestIndex {
    const index = new DigestIndex();
    for (const s of state.vpcs.values()) index.set(entryOfSlot('vpc', s));
    for (const s of state.peerings.values()) index.set(entryOfSlot('peering', s));
    return index;
  }

  /** An independent copy (cheaper than hashing the same records again). */
  clone(): DigestIndex {
    const copy = new DigestIndex();
    for (const [ref, h] of this.held) copy.held.set(ref, h);
    this.root.copy(copy.root);
    for (const [i, b] of this.top) copy.top.set(i, { hash: Buffer.from(b.hash), refs: new Set(b.refs) });
    return copy;
  }

  /** How many records (live or tombstones) the digest covers. */
  get size(): number {
    return this.held.size;
  }

  /** The root hash (base64): equal on two hosts when they hold the same versions (up to 2^-64). */
  get rootHash(): string {
    return this.root.toString('base64');
  }

  /** The entry held for `ref`, if any. */
  get(ref: string): DigestEntry | undefined {
    return this.held.get(ref)?.entry;
  }

  /** Whether this very version of `slot` is held: old news in a flood, skipped before any merge. */
  holds(kind: 'vpc' | 'peering', slot: Slot): boolean {
    const e = entryOfSlot(kind, slot);
    const held = this.get(e.ref);
    return held !== undefined && held.version === e.version && held.dead === e.dead;
  }

  /** Records (or replaces) the version held for `entry.ref`. */
  set(entry: DigestEntry): void {
    const old = this.held.get(entry.ref);
    if (old && old.entry.version === entry.version && old.entry.dead === entry.dead) return;
    if (old) this.unlink(old);
    const held = { entry, key: old?.key ?? keyOf(entry.ref), hash: hashOf(entry) };
    this.held.set(entry.ref, held);
    const b = this.bucket(held.key >>> 24);
    b.refs.add(entry.ref);
    b.levels = undefined;
    xorInto(b.hash, held.hash);
    xorInto(this.root, held.hash);
  }

  /** Forgets `ref` (a purged tombstone). */
  remove(ref: string): void {
    const old = this.held.get(ref);
    if (old) {
      this.unlink(old);
      this.held.delete(ref);
    }
  }

  private bucket(i: number): TopBucket {
    let b = this.top.get(i);
    if (b === undefined) {
      b = { hash: Buffer.alloc(HASH_BYTES), refs: new Set() };
      this.top.set(i, b);
    }
    return b;
  }

  private unlink(h: Held): void {
    const b = this.bucket(h.key >>> 24);
    b.refs.delete(h.entry.ref);
    b.levels = undefined;
    xorInto(b.hash, h.hash);
    xorInto(this.root, h.hash);
  }

  /** The held entries under a node of depth ≥ 8 (scanning its top-level bucket), or all for the root. */
  private heldUnder(node: TreeNode): Held[] {
    if (node.bits === 0) return [...this.held.values()];
    const out: Held[] = [];
    for (const ref of this.top.get(node.value >>> (node.bits - 8))?.refs ?? []) {
      const h = this.held.get(ref)!;
      if (under(h.key, node)) out.push(h);
    }
    return out;
  }

  /** The sum of a node of depth > 8 (undefined when no entry lies under it). */
  private sum(node: TreeNode): NodeSum | undefined {
    const b = this.top.get(node.value >>> (node.bits - 8));
    if (b === undefined) return undefined;
    b.levels ??= new Map();
    let level = b.levels.get(node.bits);
    if (level === undefined) {
      level = new Map();
      for (const ref of b.refs) {
        const h = this.held.get(ref)!;
        const value = h.key >>> (32 - node.bits);
        const s = level.get(value);
        if (s === undefined) {
          level.set(value, { hash: Buffer.from(h.hash), count: 1 });
        } else {
          xorInto(s.hash, h.hash);
          s.count++;
        }
      }
      b.levels.set(node.bits, level);
    }
    return level.get(node.value);
  }

  /** The hash of one node (HASH_BYTES). */
  nodeHash(node: TreeNode): Buffer {
    if (node.bits === 0) return Buffer.from(this.root);
    if (node.bits === 8) return Buffer.from(this.top.get(node.value)?.hash ?? Buffer.alloc(HASH_BYTES));
    const s = this.sum(node);
    return s ? Buffer.from(s.hash) : Buffer.alloc(HASH_BYTES);
  }

  /** How many entries lie under a node. */
  count(node: TreeNode): number {
    if (node.bits === 0) return this.held.size;
    if (node.bits === 8) return this.top.get(node.value)?.refs.size ?? 0;
    return this.sum(node)?.count ?? 0;
  }

  /** The hashes of a node's children, concatenated in order (fanout × HASH_BYTES). Throws for a leaf. */
  childHashes(node: TreeNode): Buffer {
    const cb = childBits(node.bits);
    if (cb === undefined) throw new Error(`node at ${node.bits} bits has no children`);
    if (node.bits === 0) return Buffer.concat(Array.from({ length: 256 }, (_, i) => this.top.get(i)?.hash ?? Buffer.alloc(HASH_BYTES)));
    const fanout = 1 << (cb - node.bits);
    const out = Buffer.alloc(fanout * HASH_BYTES);
    const first = (node.value << (cb - node.bits)) >>> 0;
    for (let i = 0; i < fanout; i++) this.sum({ bits: cb, value: first + i })?.hash.copy(out, i * HASH_BYTES);
    return out;
  }

  /** The entries under a node. */
  entriesUnder(node: TreeNode): DigestEntry[] {
    return this.heldUnder(node).map((h) => h.entry);
  }
}

/** The opening message of a round: the root hash alone. */
export function openingDigest(index: DigestIndex): DigestBody {
  return { groups: [{ bits: 0, first: 0, hashes: index.nodeHash({ bits: 0, value: 0 }).toString('base64') }] };
}

function toWire(e: DigestEntry): WireEntry {
  return [e.ref, e.version, e.dead ? 1 : 0];
}

/**
 * The answer to a peer's digest: for every node whose hash differs from ours, our children's
 * hashes (a node above LEAF_MAX entries) or our entries under it (small nodes and leaves).
 * Both parts empty when everything matched: the round ends. `leafMax` is LEAF_MAX but for
 * tests that want deep trees from few records; the two peers need not agree on it.
 */
export function answerDigest(index: DigestIndex, body: DigestBody, leafMax = LEAF_MAX): { digest: DigestBody; entries: EntriesBody } {
  const groups: DigestGroup[] = [];
  const buckets: EntryBucket[] = [];
  for (const g of body.groups) {
    const theirs = Buffer.from(g.hashes, 'base64');
    for (let i = 0; i * HASH_BYTES < theirs.length; i++) {
      const node = { bits: g.bits, value: g.first + i };
      const mine = index.nodeHash(node);
      if (mine.equals(theirs.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES))) continue;
      const cb = childBits(node.bits);
      if (cb === undefined || index.count(node) <= leafMax) {
        buckets.push({ ...node, entries: index.entriesUnder(node).map(toWire) });
      } else {
        groups.push({ bits: cb, first: node.value << (cb - node.bits) >>> 0, hashes: index.childHashes(node).toString('base64') });
      }
    }
  }
  return { digest: { groups }, entries: { buckets } };
}

/**
 * What a peer's entry lists settle: `offer`, the refs we hold under those nodes in a version
 * the peer lacks (send it our slot); `want`, the refs the peer holds in a version we lack (ask
 * for its slot). A ref whose versions differ is in both: the merge decides, on both sides.
 * `absent`, among `offer`, the live records the peer holds nothing of (not even a tombstone):
 * what a host away longer than the tombstone retention must not push back (engine.ts resync);
 * `missing`, among `want`, the refs this host holds nothing of (sent with `ae.want`, so that the
 * peer can tell the same of its side).
 */
export function answerEntries(index: DigestIndex, body: EntriesBody): { offer: string[]; want: string[]; absent: string[]; missing: string[] } {
  const offer: string[] = [];
  const want: string[] = [];
  const absent: string[] = [];
  const missing: string[] = [];
  for (const b of body.buckets) {
    const theirs = new Map(b.entries.map(([ref, version, dead]) => [ref, `${version}/${dead}`]));
    for (const e of index.entriesUnder(b)) {
      const held = theirs.get(e.ref);
      if (held !== `${e.version}/${e.dead ? 1 : 0}`) offer.push(e.ref);
      if (held === undefined && !e.dead) absent.push(e.ref);
    }
    for (const [ref, version, dead] of b.entries) {
      const mine = index.get(ref);
      if (!mine || mine.version !== version || (mine.dead ? 1 : 0) !== dead) want.push(ref);
      if (!mine) missing.push(ref);
    }
  }
  return { offer, want, absent, missing };
}

function isNodeDepth(bits: unknown): bits is number {
  return typeof bits === 'number' && (LEVEL_BITS as readonly number[]).includes(bits);
}

function isNodeValue(bits: number, value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0 && (value as number) < 2 ** bits;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** A peer's digest body, checked: depths of the tree, aligned sibling runs of at most one node's fanout, capped. */
export function parseDigestBody(x: unknown): DigestBody | undefined {
  if (typeof x !== 'object' || x === null || !Array.isArray((x as { groups?: unknown }).groups)) return undefined;
  const groups = (x as { groups: unknown[] }).groups;
  if (groups.length > MAX_GROUPS) return undefined;
  for (const g of groups) {
    if (typeof g !== 'object' || g === null) return undefined;
    const { bits, first, hashes } = g as Record<string, unknown>;
    if (!isNodeDepth(bits) || !isNodeValue(bits, first) || typeof hashes !== 'string' || !BASE64.test(hashes)) return undefined;
    const n = Buffer.byteLength(hashes, 'base64') / HASH_BYTES;
    const fanout = bits === 0 ? 1 : 2 ** (bits - LEVEL_BITS[LEVEL_BITS.indexOf(bits as (typeof LEVEL_BITS)[number]) - 1]!);
    if (!Number.isInteger(n) || n < 1 || n > fanout || first % fanout + n > fanout) return undefined;
  }
  return x as DigestBody;
}

/** A peer's entries body, checked: tree nodes, well-typed entries, at most MAX_ENTRIES in all. */
export function parseEntriesBody(x: unknown): EntriesBody | undefined {
  if (typeof x !== 'object' || x === null || !Array.isArray((x as { buckets?: unknown }).buckets)) return undefined;
  let total = 0;
  for (const b of (x as { buckets: unknown[] }).buckets) {
    if (typeof b !== 'object' || b === null) return undefined;
    const { bits, value, entries } = b as Record<string, unknown>;
    if (!isNodeDepth(bits) || !isNodeValue(bits, value) || !Array.isArray(entries)) return undefined;
    total += entries.length;
    if (total > MAX_ENTRIES) return undefined;
    for (const e of entries) {
      if (!Array.isArray(e) || e.length !== 3 || !isRef(e[0]) || typeof e[1] !== 'string' || (e[2] !== 0 && e[2] !== 1)) return undefined;
    }
  }
  return x as EntriesBody;
}
