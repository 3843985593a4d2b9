// The OpenFlow 1.4 codec (ONF TS-012, wire version 0x05): bytes of one message to a typed
// OfMessage (messages.ts) and back, for the subset the data plane speaks. Pure: no I/O, no state.
//
// What it refuses, it refuses with OfCodecError and nothing else (the fuzz test holds it to
// that): a message type, multipart type or field it does not know where that field changes the
// meaning (a flow mod's match, a request's filter), a length that does not add up, bytes that
// end early. A flow the switch *reports* whose match or instructions fall outside the subset is
// not an error: it decodes with `match: null` (its OXM bytes kept) or `actions: null`.
//
// OXM fields are written in the order OVS itself writes them (lib/nx-match.c nx_put_raw:
// in_port, eth_type, the L3 addresses, ip_proto, then L4 and ICMP, then nd_target), which has
// every prerequisite before the field that needs it; the captured fixtures check that our bytes
// equal OVS's own.
import type { AddressValue, FieldValue, Match } from '../flow.js';
import {
  OFP14_VERSION,
  OFP_HEADER_BYTES,
  OFP_MAX_MESSAGE_BYTES,
  OFPP_ANY,
  OfCodecError,
  type Action,
  type BundleControlType,
  type FlowMod,
  type FlowModCommand,
  type FlowUpdate,
  type OfFlow,
  type OfMessage,
  type ReportedFlow,
} from './messages.js';

// ofp_type (§7.1).
const OFPT_HELLO = 0;
const OFPT_ERROR = 1;
const OFPT_ECHO_REQUEST = 2;
const OFPT_ECHO_REPLY = 3;
const OFPT_FLOW_MOD = 14;
const OFPT_MULTIPART_REQUEST = 18;
const OFPT_MULTIPART_REPLY = 19;
const OFPT_BARRIER_REQUEST = 20;
const OFPT_BARRIER_REPLY = 21;
const OFPT_BUNDLE_CONTROL = 33;
const OFPT_BUNDLE_ADD_MESSAGE = 34;

const OFPHET_VERSIONBITMAP = 1;
const OFPMP_FLOW_DESC = 1;
const OFPMP_FLOW_MONITOR = 16;
const OFPMPF_MORE = 1;
const OFPMT_OXM = 1;
const OFPIT_APPLY_ACTIONS = 4;
const OFPAT_OUTPUT = 0;
const OFP_NO_BUFFER = 0xffffffff;
const OFPG_ANY = 0xffffffff;
const OFPBF_ATOMIC = 1;
const OFPBF_ORDERED = 2;
const ALL_ONES_64 = 0xffff_ffff_ffff_ffffn;

const FLOW_MOD_COMMANDS: readonly (readonly [FlowModCommand, number])[] = [
  ['add', 0],
  ['modify_strict', 2],
  ['delete_strict', 4],
];
const BUNDLE_CONTROLS: readonly BundleControlType[] = [
  'open_request',
  'open_reply',
  'close_request',
  'close_reply',
  'commit_request',
  'commit_reply',
  'discard_request',
  'discard_reply',
];
// ofp_flow_update_event (§7.3.5.19).
const UPDATE_EVENTS = ['initial', 'added', 'removed', 'modified', 'abbrev', 'paused', 'resumed'] as const;
// ofp_flow_monitor_flags.
const OFPFMF_INITIAL = 1;
const OFPFMF_ADD = 2;
const OFPFMF_REMOVED = 4;
const OFPFMF_MODIFY = 8;
const OFPFMF_INSTRUCTIONS = 16;
const OFPFMF_NO_ABBREV = 32;
const OFPFMC_ADD = 0;

const ETH_IP = 0x0800;
const ETH_ARP = 0x0806;
const ETH_IPV6 = 0x86dd;
const IPPROTO_ICMP = 1;
const IPPROTO_ICMPV6 = 58;

// OXM (§7.2.3): class OFPXMC_OPENFLOW_BASIC and the field numbers of ofp_oxm_ofb_match_fields.
const OFPXMC_OPENFLOW_BASIC = 0x8000;
const OXM = {
  inPort: 0,
  ethType: 5,
  ipProto: 10,
  ipv4Src: 11,
  ipv4Dst: 12,
  tcpSrc: 13,
  tcpDst: 14,
  udpSrc: 15,
  udpDst: 16,
  sctpSrc: 17,
  sctpDst: 18,
  icmpv4Type: 19,
  icmpv4Code: 20,
  arpSpa: 22,
  arpTpa: 23,
  ipv6Src: 26,
  ipv6Dst: 27,
  icmpv6Type: 29,
  icmpv6Code: 30,
  ndTarget: 31,
} as const;
/** Transport port fields by IP protocol: [src, dst]. */
const TP_FIELDS: ReadonlyMap<number, readonly [number, number]> = new Map([
  [6, [OXM.tcpSrc, OXM.tcpDst]],
  [17, [OXM.udpSrc, OXM.udpDst]],
  [132, [OXM.sctpSrc, OXM.sctpDst]],
]);

/**
 * The whole length of the message at the start of `buf` (ofp_header.length, header included),
 * or null while fewer than the 8 header bytes are there. Throws OfCodecError('bad_length') for a
 * length below 8: the stream cannot be framed past it.
 */
export function frameLength(buf: Buffer): number | null {
  if (buf.length < OFP_HEADER_BYTES) return null;
  const length = buf.readUInt16BE(2);
  if (length < OFP_HEADER_BYTES) throw new OfCodecError('bad_length', `ofp_header.length ${length} < ${OFP_HEADER_BYTES}`);
  return length;
}

/** Bounds-checked big-endian reads over one region; running past its end is OfCodecError('truncated'). */
class Reader {
  constructor(
    readonly buf: Buffer,
    public pos: number,
    readonly end: number,
    readonly what: string,
  ) {}
  get left(): number {
    return this.end - this.pos;
  }
  need(n: number): void {
    if (n < 0 || this.pos + n > this.end) throw new OfCodecError('truncated', `${this.what}: ${n} bytes needed at ${this.pos}, ${this.end - this.pos} left`);
  }
  u8(): number {
    this.need(1);
    return this.buf.readUInt8(this.pos++);
  }
  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  u64(): bigint {
    this.need(8);
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }
  skip(n: number): void {
    this.need(n);
    this.pos += n;
  }
  bytes(n: number): Buffer {
    this.need(n);
    const b = Buffer.from(this.buf.subarray(this.pos, this.pos + n));
    this.pos += n;
    return b;
  }
  /** A sub-reader over the next `n` bytes (consumed here). */
  sub(n: number, what: string): Reader {
    this.need(n);
    const r = new Reader(this.buf, this.pos, this.pos + n, what);
    this.pos += n;
    return r;
  }
}

/** Big-endian writes into a growing list of chunks. */
class Writer {
  private readonly chunks: Buffer[] = [];
  length = 0;
  put(b: Buffer): this {
    this.chunks.push(b);
    this.length += b.length;
    return this;
  }
  u8(v: number): this {
    const b = Buffer.alloc(1);
    b.writeUInt8(v);
    return this.put(b);
  }
  u16(v: number): this {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(v);
    return this.put(b);
  }
  u32(v: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v);
    return this.put(b);
  }
  u64(v: bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(v);
    return this.put(b);
  }
  zeros(n: number): this {
    return this.put(Buffer.alloc(n));
  }
  done(): Buffer {
    return Buffer.concat(this.chunks, this.length);
  }
}

function pad8(n: number): number {
  return (n + 7) & ~7;
}

// ---------------------------------------------------------------------------------------------
// Decoding

/**
 * Decodes exactly one message (`frame` is one whole message, as frameLength framed it). Throws
 * OfCodecError, and only that, for bytes outside the subset: `short`, `bad_length`,
 * `bad_version` (anything but 0x05, except in a hello or an error), `unsupported_type`
 * (message or multipart type), `unsupported_field` (a match or instruction a request needs
 * typed), `bad_value`, `truncated`.
 */
export function decodeMessage(frame: Buffer): OfMessage {
  if (frame.length < OFP_HEADER_BYTES) throw new OfCodecError('short', `${frame.length} bytes, a header is ${OFP_HEADER_BYTES}`);
  const version = frame.readUInt8(0);
  const type = frame.readUInt8(1);
  const length = frame.readUInt16BE(2);
  const xid = frame.readUInt32BE(4);
  if (length !== frame.length) throw new OfCodecError('bad_length', `ofp_header.length ${length}, frame of ${frame.length} bytes`);
  if (version !== OFP14_VERSION && type !== OFPT_HELLO && type !== OFPT_ERROR) throw new OfCodecError('bad_version', `version 0x${version.toString(16)} (type ${type})`);
  const r = new Reader(frame, OFP_HEADER_BYTES, length, `message type ${type}`);
  switch (type) {
    case OFPT_HELLO:
      return { type: 'hello', xid, headerVersion: version, versions: decodeHelloElements(r) };
    case OFPT_ERROR: {
      const errType = r.u16();
      const code = r.u16();
      return { type: 'error', xid, errType, code, data: r.bytes(r.left) };
    }
    case OFPT_ECHO_REQUEST:
    case OFPT_ECHO_REPLY:
      return { type: type === OFPT_ECHO_REQUEST ? 'echo_request' : 'echo_reply', xid, data: r.bytes(r.left) };
    case OFPT_BARRIER_REQUEST:
    case OFPT_BARRIER_REPLY:
      if (r.left !== 0) throw new OfCodecError('bad_length', `barrier with a ${r.left}-byte body`);
      return { type: type === OFPT_BARRIER_REQUEST ? 'barrier_request' : 'barrier_reply', xid };
    case OFPT_FLOW_MOD:
      return decodeFlowMod(r, xid);
    case OFPT_BUNDLE_CONTROL: {
      const bundleId = r.u32();
      const control = BUNDLE_CONTROLS[r.u16()];
      if (control === undefined) throw new OfCodecError('bad_value', 'unknown ofp_bundle_ctrl_type');
      const flags = r.u16();
      // Bundle properties (experimenter only in 1.4) do not change what we read.
      return { type: 'bundle_control', xid, bundleId, control, atomic: (flags & OFPBF_ATOMIC) !== 0, ordered: (flags & OFPBF_ORDERED) !== 0 };
    }
    case OFPT_BUNDLE_ADD_MESSAGE: {
      const bundleId = r.u32();
      r.skip(2);
      const flags = r.u16();
      r.need(OFP_HEADER_BYTES);
      const innerLength = frame.readUInt16BE(r.pos + 2);
      if (innerLength < OFP_HEADER_BYTES) throw new OfCodecError('bad_length', `bundled message length ${innerLength}`);
      r.need(innerLength);
      const inner = decodeMessage(frame.subarray(r.pos, r.pos + innerLength));
      if (inner.type !== 'flow_mod') throw new OfCodecError('unsupported_type', `a bundled ${inner.type}`);
      return { type: 'bundle_add', xid, bundleId, atomic: (flags & OFPBF_ATOMIC) !== 0, ordered: (flags & OFPBF_ORDERED) !== 0, message: inner };
    }
    case OFPT_MULTIPART_REQUEST:
    case OFPT_MULTIPART_REPLY:
      return decodeMultipart(r, xid, type === OFPT_MULTIPART_REPLY);
    default:
      throw new OfCodecError('unsupported_type', `ofp_type ${type}`);
  }
}

/** The versions of a hello's version bitmap elements, ascending; [] without one (§7.5.1). */
function decodeHelloElements(r: Reader): number[] {
  const versions = new Set<number>();
  while (r.left > 0) {
    const start = r.pos;
    const elemType = r.u16();
    const elemLength = r.u16();
    if (elemLength < 4) throw new OfCodecError('bad_length', `hello element length ${elemLength}`);
    const body = r.sub(elemLength - 4, 'hello element');
    if (elemType === OFPHET_VERSIONBITMAP) {
      if ((elemLength - 4) % 4 !== 0) throw new OfCodecError('bad_length', `version bitmap of ${elemLength - 4} bytes`);
      for (let word = 0; body.left > 0; word++) {
        const bits = body.u32();
        for (let bit = 0; bit < 32; bit++) if ((bits >>> bit) & 1) versions.add(word * 32 + bit);
      }
    }
    // Elements are padded to 8 bytes; tolerate a last element whose padding was left off.
    r.pos = Math.min(start + pad8(elemLength), r.end);
  }
  return [...versions].sort((a, b) => a - b);
}

function decodeFlowMod(r: Reader, xid: number): FlowMod {
  const cookie = r.u64();
  r.u64(); // cookie_mask: only delete_strict uses it, and we always send all ones.
  const table = r.u8();
  const commandNumber = r.u8();
  const command = FLOW_MOD_COMMANDS.find(([, n]) => n === commandNumber)?.[0];
  if (command === undefined) throw new OfCodecError('unsupported_field', `flow mod command ${commandNumber}`);
  r.skip(4); // idle and hard timeouts: our flows are permanent.
  const priority = r.u16();
  r.skip(4 + 4 + 4 + 2 + 2); // buffer_id, out_port, out_group, flags, importance
  const oxm = decodeMatchHeader(r);
  const match = typedMatch(oxm);
  const actions = decodeInstructions(r.sub(r.left, 'flow mod instructions'));
  if (actions === null) throw new OfCodecError('unsupported_field', 'flow mod instructions other than apply-actions of outputs');
  const flow: OfFlow = { table, priority, cookie, match: match ?? EMPTY_MATCH, actions };
  return match === null ? { type: 'flow_mod', xid, command, flow, rawMatch: oxm } : { type: 'flow_mod', xid, command, flow };
}

const EMPTY_MATCH: Match = { ethType: null, ipProto: null, fields: new Map() };

/** An ofp_match (§7.2.2) at the reader: its OXM bytes, the header and padding consumed. */
function decodeMatchHeader(r: Reader): Buffer {
  const type = r.u16();
  const length = r.u16();
  if (type !== OFPMT_OXM) throw new OfCodecError('unsupported_field', `ofp_match type ${type}`);
  if (length < 4) throw new OfCodecError('bad_length', `ofp_match length ${length}`);
  const oxm = r.bytes(length - 4);
  r.skip(pad8(length) - length);
  return oxm;
}

function decodeMultipart(r: Reader, xid: number, reply: boolean): OfMessage {
  const mpType = r.u16();
  const flags = r.u16();
  r.skip(4);
  const more = (flags & OFPMPF_MORE) !== 0;
  if (mpType === OFPMP_FLOW_DESC) {
    if (!reply) {
      const table = r.u8();
      r.skip(3 + 4 + 4 + 4); // pad, out_port, out_group, pad: we never filter on them
      const cookie = r.u64();
      const cookieMask = r.u64();
      if (decodeMatchHeader(r).length !== 0) throw new OfCodecError('unsupported_field', 'flow stats request with a match');
      return { type: 'flow_stats_request', xid, table, cookie, cookieMask };
    }
    const flows: ReportedFlow[] = [];
    while (r.left > 0) {
      r.need(2);
      const entryLength = r.buf.readUInt16BE(r.pos);
      flows.push(decodeFlowStats(r.sub(entryLength, 'ofp_flow_stats')));
    }
    return { type: 'flow_stats_reply', xid, more, flows };
  }
  if (mpType === OFPMP_FLOW_MONITOR) {
    if (!reply) {
      const monitorId = r.u32();
      r.skip(4 + 4); // out_port, out_group
      const monitorFlags = r.u16();
      const table = r.u8();
      const command = r.u8();
      if (command !== OFPFMC_ADD) throw new OfCodecError('unsupported_field', `flow monitor command ${command}`);
      if (decodeMatchHeader(r).length !== 0) throw new OfCodecError('unsupported_field', 'flow monitor request with a match');
      if (r.left !== 0) throw new OfCodecError('unsupported_field', 'more than one flow monitor request');
      return { type: 'flow_monitor_request', xid, monitorId, table, initial: (monitorFlags & OFPFMF_INITIAL) !== 0, noAbbrev: (monitorFlags & OFPFMF_NO_ABBREV) !== 0 };
    }
    const updates: FlowUpdate[] = [];
    while (r.left > 0) {
      r.need(2);
      const updateLength = r.buf.readUInt16BE(r.pos);
      updates.push(decodeFlowUpdate(r.sub(updateLength, 'ofp_flow_update')));
    }
    return { type: 'flow_monitor_reply', xid, more, updates };
  }
  throw new OfCodecError('unsupported_type', `multipart type ${mpType}`);
}

function decodeFlowStats(r: Reader): ReportedFlow {
  r.skip(2); // length: the sub-reader is exactly it
  const table = r.u8();
  r.skip(1 + 4 + 4); // pad, duration
  const priority = r.u16();
  r.skip(2 + 2 + 2 + 2 + 2); // timeouts, flags, importance, pad
  const cookie = r.u64();
  r.skip(8 + 8); // packet and byte counts
  return reportedFlow(r, table, priority, cookie);
}

function decodeFlowUpdate(r: Reader): FlowUpdate {
  const length = r.u16();
  const eventNumber = r.u16();
  const event = UPDATE_EVENTS[eventNumber];
  if (event === undefined) throw new OfCodecError('bad_value', `flow update event ${eventNumber}`);
  if (event === 'abbrev') {
    const xid = r.u32();
    return { event, xid };
  }
  if (event === 'paused' || event === 'resumed') {
    if (length < 8) throw new OfCodecError('bad_length', `flow update ${event} of ${length} bytes`);
    return { event };
  }
  const table = r.u8();
  r.skip(1 + 2 + 2); // reason, timeouts
  const priority = r.u16();
  r.skip(4);
  const cookie = r.u64();
  return { event, flow: reportedFlow(r, table, priority, cookie) };
}

/** The match and instructions that end a flow stats entry or a full flow update. */
function reportedFlow(r: Reader, table: number, priority: number, cookie: bigint): ReportedFlow {
  const matchBytes = decodeMatchHeader(r);
  const actions = decodeInstructions(r);
  return { table, priority, cookie, match: typedMatch(matchBytes), matchBytes, actions };
}

/**
 * Instructions (§7.2.4) as our actions: none, or one apply-actions of outputs only (`[]` is
 * drop either way); null for anything else. Lengths that do not add up are errors.
 */
function decodeInstructions(r: Reader): Action[] | null {
  let actions: Action[] = [];
  let typed = true;
  let applies = 0;
  while (r.left > 0) {
    const type = r.u16();
    const length = r.u16();
    if (length < 8 || length % 8 !== 0) throw new OfCodecError('bad_length', `instruction length ${length}`);
    const body = r.sub(length - 4, 'instruction');
    if (type !== OFPIT_APPLY_ACTIONS || ++applies > 1) {
      typed = false;
      continue;
    }
    body.skip(4);
    const list = decodeActions(body);
    if (list === null) typed = false;
    else actions = list;
  }
  return typed ? actions : null;
}

function decodeActions(r: Reader): Action[] | null {
  const actions: Action[] = [];
  let typed = true;
  while (r.left > 0) {
    const type = r.u16();
    const length = r.u16();
    if (length < 8 || length % 8 !== 0) throw new OfCodecError('bad_length', `action length ${length}`);
    const body = r.sub(length - 4, 'action');
    if (type !== OFPAT_OUTPUT || length !== 16) {
      typed = false;
      continue;
    }
    actions.push({ type: 'output', port: body.u32() });
  }
  return typed ? actions : null;
}

/** One OXM TLV as read: its field (OpenFlow basic class only, else null), mask flag, payload. */
interface OxmField {
  readonly field: number | null;
  readonly hasMask: boolean;
  readonly payload: Buffer;
  readonly raw: Buffer;
}

/** Splits OXM bytes into TLVs; null when they do not split exactly (a reported match we cannot read). */
function splitOxm(oxm: Buffer): OxmField[] | null {
  const out: OxmField[] = [];
  let pos = 0;
  while (pos < oxm.length) {
    if (pos + 4 > oxm.length) return null;
    const cls = oxm.readUInt16BE(pos);
    const fieldAndMask = oxm.readUInt8(pos + 2);
    const len = oxm.readUInt8(pos + 3);
    if (pos + 4 + len > oxm.length) return null;
    const raw = oxm.subarray(pos, pos + 4 + len);
    out.push({ field: cls === OFPXMC_OPENFLOW_BASIC ? fieldAndMask >> 1 : null, hasMask: (fieldAndMask & 1) === 1, payload: raw.subarray(4), raw });
    pos += 4 + len;
  }
  return out;
}

/**
 * The typed canonical Match of OXM bytes, or null when they hold a field outside our subset, a
 * field twice, a missing prerequisite, or a non-canonical spelling (a value with bits outside
 * its mask, an all-ones mask): a typed match is given exactly when the bytes are, in some order,
 * the TLVs encodeMatchFields writes for it, so decoding never invents a meaning.
 */
function typedMatch(oxm: Buffer): Match | null {
  const tlvs = splitOxm(oxm);
  if (tlvs === null) return null;
  let ethType: number | null = null;
  let ipProto: number | null = null;
  const fields = new Map<string, FieldValue>();
  const set = (key: string, v: FieldValue): boolean => {
    if (fields.has(key)) return false;
    fields.set(key, v);
    return true;
  };
  for (const tlv of tlvs) {
    const { field, hasMask, payload } = tlv;
    const unmasked = (size: number): number | null => (!hasMask && payload.length === size ? payload.readUIntBE(0, size) : null);
    switch (field) {
      case OXM.inPort: {
        const v = unmasked(4);
        if (v === null || !set('in_port', { kind: 'integer', value: v })) return null;
        break;
      }
      case OXM.ethType: {
        const v = unmasked(2);
        if (v === null || ethType !== null) return null;
        ethType = v;
        break;
      }
      case OXM.ipProto: {
        const v = unmasked(1);
        if (v === null || ipProto !== null) return null;
        ipProto = v;
        break;
      }
      case OXM.tcpSrc:
      case OXM.udpSrc:
      case OXM.sctpSrc:
      case OXM.tcpDst:
      case OXM.udpDst:
      case OXM.sctpDst: {
        const v = unmasked(2);
        const src = field === OXM.tcpSrc || field === OXM.udpSrc || field === OXM.sctpSrc;
        if (v === null || !set(src ? 'tp_src' : 'tp_dst', { kind: 'integer', value: v })) return null;
        break;
      }
      case OXM.icmpv4Type:
      case OXM.icmpv6Type:
      case OXM.icmpv4Code:
      case OXM.icmpv6Code: {
        const v = unmasked(1);
        const key = field === OXM.icmpv4Type || field === OXM.icmpv6Type ? 'icmp_type' : 'icmp_code';
        if (v === null || !set(key, { kind: 'integer', value: v })) return null;
        break;
      }
      case OXM.ipv4Src:
      case OXM.ipv4Dst:
      case OXM.arpSpa:
      case OXM.arpTpa:
      case OXM.ipv6Src:
      case OXM.ipv6Dst:
      case OXM.ndTarget: {
        const bits = field === OXM.ipv6Src || field === OXM.ipv6Dst || field === OXM.ndTarget ? 128 : 32;
        const v = addressOf(payload, hasMask, bits);
        const key = ADDRESS_KEYS[field];
        if (v === null || key === undefined || !set(key, v)) return null;
        break;
      }
      default:
        return null;
    }
  }
  const match: Match = { ethType, ipProto, fields };
  // Prerequisites and canonical spelling in one check: our own encoding has the same TLVs.
  let ours: OxmField[] | null;
  try {
    ours = splitOxm(encodeMatchFields(match));
  } catch (e) {
    if (e instanceof OfCodecError) return null;
    throw e;
  }
  if (ours === null || ours.length !== tlvs.length) return null;
  const key = (f: OxmField): string => f.raw.toString('hex');
  const theirs = tlvs.map(key).sort();
  return ours.map(key).sort().every((k, i) => k === theirs[i]) ? match : null;
}

const ADDRESS_KEYS: Readonly<Record<number, string>> = {
  [OXM.ipv4Src]: 'nw_src',
  [OXM.ipv4Dst]: 'nw_dst',
  [OXM.arpSpa]: 'arp_spa',
  [OXM.arpTpa]: 'arp_tpa',
  [OXM.ipv6Src]: 'ipv6_src',
  [OXM.ipv6Dst]: 'ipv6_dst',
  [OXM.ndTarget]: 'nd_target',
};

function addressOf(payload: Buffer, hasMask: boolean, bits: 32 | 128): AddressValue | null {
  const size = bits / 8;
  if (payload.length !== (hasMask ? 2 * size : size)) return null;
  const value = bigOf(payload.subarray(0, size));
  const mask = hasMask ? bigOf(payload.subarray(size)) : (1n << BigInt(bits)) - 1n;
  return { kind: 'address', bits, value, mask };
}

function bigOf(b: Buffer): bigint {
  return b.length === 0 ? 0n : BigInt(`0x${b.toString('hex')}`);
}

// ---------------------------------------------------------------------------------------------
// Encoding

/**
 * The bytes of one message. Throws OfCodecError: `unsupported_field` for a match field outside
 * the subset (an opaque value, a field without an OXM here), `bad_value` for a number out of its
 * range or a field without its prerequisite (nw_src without ip, ...), `bad_length` for a message
 * longer than 65,535 bytes.
 */
export function encodeMessage(msg: OfMessage): Buffer {
  const w = new Writer();
  let type: number;
  let version = OFP14_VERSION;
  switch (msg.type) {
    case 'hello':
      type = OFPT_HELLO;
      version = u8(msg.headerVersion, 'hello version');
      if (msg.versions.length > 0) {
        const max = Math.max(...msg.versions.map((v) => u8(v, 'hello version')));
        const words = new Array<number>(Math.floor(max / 32) + 1).fill(0);
        for (const v of msg.versions) words[v >> 5] = ((words[v >> 5] ?? 0) | (1 << (v & 31))) >>> 0;
        const length = 4 + 4 * words.length;
        w.u16(OFPHET_VERSIONBITMAP).u16(length);
        for (const word of words) w.u32(word);
        w.zeros(pad8(length) - length);
      }
      break;
    case 'error':
      type = OFPT_ERROR;
      w.u16(u16(msg.errType, 'error type')).u16(u16(msg.code, 'error code')).put(msg.data);
      break;
    case 'echo_request':
    case 'echo_reply':
      type = msg.type === 'echo_request' ? OFPT_ECHO_REQUEST : OFPT_ECHO_REPLY;
      w.put(msg.data);
      break;
    case 'barrier_request':
    case 'barrier_reply':
      type = msg.type === 'barrier_request' ? OFPT_BARRIER_REQUEST : OFPT_BARRIER_REPLY;
      break;
    case 'flow_mod':
      type = OFPT_FLOW_MOD;
      writeFlowModBody(w, msg);
      break;
    case 'bundle_control':
      type = OFPT_BUNDLE_CONTROL;
      w.u32(u32(msg.bundleId, 'bundle id'))
        .u16(BUNDLE_CONTROLS.indexOf(msg.control))
        .u16(bundleFlags(msg));
      break;
    case 'bundle_add':
      type = OFPT_BUNDLE_ADD_MESSAGE;
      w.u32(u32(msg.bundleId, 'bundle id')).zeros(2).u16(bundleFlags(msg)).put(encodeMessage(msg.message));
      break;
    case 'flow_stats_request':
      type = OFPT_MULTIPART_REQUEST;
      w.u16(OFPMP_FLOW_DESC).u16(0).zeros(4);
      w.u8(u8(msg.table, 'table')).zeros(3).u32(OFPP_ANY).u32(OFPG_ANY).zeros(4);
      w.u64(u64(msg.cookie, 'cookie')).u64(u64(msg.cookieMask, 'cookie mask'));
      writeMatch(w, Buffer.alloc(0));
      break;
    case 'flow_stats_reply':
      type = OFPT_MULTIPART_REPLY;
      w.u16(OFPMP_FLOW_DESC).u16(msg.more ? OFPMPF_MORE : 0).zeros(4);
      for (const f of msg.flows) w.put(encodeFlowStats(f));
      break;
    case 'flow_monitor_request':
      type = OFPT_MULTIPART_REQUEST;
      w.u16(OFPMP_FLOW_MONITOR).u16(0).zeros(4);
      w.u32(u32(msg.monitorId, 'monitor id')).u32(OFPP_ANY).u32(OFPG_ANY);
      w.u16(OFPFMF_ADD | OFPFMF_REMOVED | OFPFMF_MODIFY | OFPFMF_INSTRUCTIONS | (msg.initial ? OFPFMF_INITIAL : 0) | (msg.noAbbrev ? OFPFMF_NO_ABBREV : 0));
      w.u8(u8(msg.table, 'table')).u8(OFPFMC_ADD);
      writeMatch(w, Buffer.alloc(0));
      break;
    case 'flow_monitor_reply':
      type = OFPT_MULTIPART_REPLY;
      w.u16(OFPMP_FLOW_MONITOR).u16(msg.more ? OFPMPF_MORE : 0).zeros(4);
      for (const u of msg.updates) w.put(encodeFlowUpdate(u));
      break;
  }
  const length = OFP_HEADER_BYTES + w.length;
  if (length > OFP_MAX_MESSAGE_BYTES) throw new OfCodecError('bad_length', `a ${msg.type} of ${length} bytes`);
  const header = Buffer.alloc(OFP_HEADER_BYTES);
  header.writeUInt8(version, 0);
  header.writeUInt8(type, 1);
  header.writeUInt16BE(length, 2);
  header.writeUInt32BE(u32(msg.xid, 'xid'), 4);
  return Buffer.concat([header, w.done()]);
}

function bundleFlags(m: { atomic: boolean; ordered: boolean }): number {
  return (m.atomic ? OFPBF_ATOMIC : 0) | (m.ordered ? OFPBF_ORDERED : 0);
}

function writeFlowModBody(w: Writer, m: FlowMod): void {
  const f = m.flow;
  const command = FLOW_MOD_COMMANDS.find(([c]) => c === m.command)?.[1];
  if (command === undefined) throw new OfCodecError('bad_value', `flow mod command ${String(m.command)}`);
  const oxm = m.rawMatch ?? encodeMatchFields(f.match);
  // cookie_mask: all ones for delete_strict (only the flow with exactly our cookie); 0 for add,
  // where the cookie is the new flow's, and for modify_strict, where OpenFlow 1.2+ makes the
  // cookie a filter only (a modify cannot change a cookie: an add replaces the flow for that).
  w.u64(u64(f.cookie, 'cookie'))
    .u64(m.command === 'delete_strict' ? ALL_ONES_64 : 0n)
    .u8(u8(f.table, 'table'))
    .u8(command)
    .u16(0) // idle_timeout
    .u16(0) // hard_timeout
    .u16(u16(f.priority, 'priority'))
    .u32(OFP_NO_BUFFER)
    .u32(OFPP_ANY)
    .u32(OFPG_ANY)
    .u16(0) // flags
    .u16(0); // importance
  writeMatch(w, oxm);
  // A delete matches by key and cookie only; its instructions would be ignored.
  if (m.command !== 'delete_strict') writeInstructions(w, f.actions);
}

/** ofp_match of OXM bytes: header, fields, zero padding to 8 bytes. */
function writeMatch(w: Writer, oxm: Buffer): void {
  const length = 4 + oxm.length;
  w.u16(OFPMT_OXM).u16(length).put(oxm).zeros(pad8(length) - length);
}

function writeInstructions(w: Writer, actions: readonly Action[] | null): void {
  if (actions === null) throw new OfCodecError('unsupported_field', 'a flow whose actions are not typed');
  if (actions.length === 0) return;
  w.u16(OFPIT_APPLY_ACTIONS).u16(8 + 16 * actions.length).zeros(4);
  for (const a of actions) {
    if (a.type !== 'output') throw new OfCodecError('unsupported_field', `action ${String(a.type)}`);
    // max_len only counts for output to the controller, which our flows never do.
    w.u16(OFPAT_OUTPUT).u16(16).u32(u32(a.port, 'output port')).u16(0).zeros(6);
  }
}

function flowMatchBytes(f: ReportedFlow): Buffer {
  return f.match === null ? f.matchBytes : encodeMatchFields(f.match);
}

function encodeFlowStats(f: ReportedFlow): Buffer {
  const w = new Writer();
  w.u8(u8(f.table, 'table')).zeros(1 + 4 + 4).u16(u16(f.priority, 'priority')).zeros(2 + 2 + 2 + 2 + 2);
  w.u64(u64(f.cookie, 'cookie')).zeros(16);
  writeMatch(w, flowMatchBytes(f));
  writeInstructions(w, f.actions);
  return withLength16(w);
}

function encodeFlowUpdate(u: FlowUpdate): Buffer {
  const w = new Writer();
  w.u16(UPDATE_EVENTS.indexOf(u.event));
  if (u.event === 'abbrev') w.u32(u32(u.xid, 'xid'));
  else if (!('flow' in u)) w.zeros(4);
  else {
    const f = u.flow;
    w.u8(u8(f.table, 'table')).u8(0).zeros(4).u16(u16(f.priority, 'priority')).zeros(4).u64(u64(f.cookie, 'cookie'));
    writeMatch(w, flowMatchBytes(f));
    writeInstructions(w, f.actions);
  }
  return withLength16(w);
}

/** The body of `w` behind a 16-bit length of the whole (the length field included). */
function withLength16(w: Writer): Buffer {
  const length = 2 + w.length;
  if (length > OFP_MAX_MESSAGE_BYTES) throw new OfCodecError('bad_length', `an entry of ${length} bytes`);
  const head = Buffer.alloc(2);
  head.writeUInt16BE(length);
  return Buffer.concat([head, w.done()]);
}

/**
 * The OXM TLVs (no ofp_match header or padding) of a canonical Match, in OVS's own order, as
 * FlowMod.rawMatch and ReportedFlow.matchBytes hold them. Throws OfCodecError
 * `unsupported_field` for a field outside the subset or an opaque value, `bad_value` for a value
 * out of range or a field whose prerequisite (eth type, IP protocol, ICMPv6 ND type) is missing.
 */
export function encodeMatchFields(m: Match): Buffer {
  const w = new Writer();
  const tlv = (field: number, payload: Buffer, mask: Buffer | null): void => {
    w.u16(OFPXMC_OPENFLOW_BASIC)
      .u8((field << 1) | (mask === null ? 0 : 1))
      .u8(payload.length + (mask?.length ?? 0))
      .put(payload);
    if (mask !== null) w.put(mask);
  };
  const intBytes = (v: number, size: number): Buffer => {
    const b = Buffer.alloc(size);
    b.writeUIntBE(v, 0, size);
    return b;
  };
  const fields = new Map(m.fields);
  const take = (key: string): FieldValue | undefined => {
    const v = fields.get(key);
    fields.delete(key);
    return v;
  };
  const integer = (key: string, max: number): number | null => {
    const v = take(key);
    if (v === undefined) return null;
    if (v.kind !== 'integer') throw new OfCodecError('unsupported_field', `${key} is not an integer`);
    if (!Number.isInteger(v.value) || v.value < 0 || v.value > max) throw new OfCodecError('bad_value', `${key}=${v.value}`);
    return v.value;
  };
  const address = (key: string, field: number, bits: 32 | 128): void => {
    const v = take(key);
    if (v === undefined) return;
    if (v.kind !== 'address' || v.bits !== bits) throw new OfCodecError('unsupported_field', `${key} is not an IPv${bits === 32 ? 4 : 6} address`);
    const all = (1n << BigInt(bits)) - 1n;
    if (v.mask < 0n || v.mask > all || v.value < 0n || v.value > all) throw new OfCodecError('bad_value', `${key} out of range`);
    if (v.mask === 0n) return;
    const size = bits / 8;
    tlv(field, bigBytes(v.value & v.mask, size), v.mask === all ? null : bigBytes(v.mask, size));
  };
  const needEth = (key: string, ...eth: number[]): void => {
    if (m.fields.has(key) && (m.ethType === null || !eth.includes(m.ethType))) throw new OfCodecError('bad_value', `${key} without its eth type`);
  };

  needEth('nw_src', ETH_IP);
  needEth('nw_dst', ETH_IP);
  needEth('arp_spa', ETH_ARP);
  needEth('arp_tpa', ETH_ARP);
  needEth('ipv6_src', ETH_IPV6);
  needEth('ipv6_dst', ETH_IPV6);
  if (m.ipProto !== null && m.ethType !== ETH_IP && m.ethType !== ETH_IPV6) throw new OfCodecError('bad_value', 'ip_proto without ip or ipv6');

  const inPort = integer('in_port', 0xffffffff);
  if (inPort !== null) tlv(OXM.inPort, intBytes(inPort, 4), null);
  if (m.ethType !== null) tlv(OXM.ethType, intBytes(u16(m.ethType, 'eth type'), 2), null);
  address('nw_src', OXM.ipv4Src, 32);
  address('nw_dst', OXM.ipv4Dst, 32);
  address('ipv6_src', OXM.ipv6Src, 128);
  address('ipv6_dst', OXM.ipv6Dst, 128);
  address('arp_spa', OXM.arpSpa, 32);
  address('arp_tpa', OXM.arpTpa, 32);
  if (m.ipProto !== null) tlv(OXM.ipProto, intBytes(u8(m.ipProto, 'ip proto'), 1), null);

  const tp = m.ipProto === null ? undefined : TP_FIELDS.get(m.ipProto);
  for (const [i, key] of ['tp_src', 'tp_dst'].entries()) {
    if (!fields.has(key)) continue;
    if (tp === undefined) throw new OfCodecError('bad_value', `${key} without tcp, udp or sctp`);
    tlv(tp[i] as number, intBytes(integer(key, 0xffff) as number, 2), null);
  }
  const icmpv4 = m.ethType === ETH_IP && m.ipProto === IPPROTO_ICMP;
  const icmpv6 = m.ethType === ETH_IPV6 && m.ipProto === IPPROTO_ICMPV6;
  const icmpType = fields.get('icmp_type');
  for (const [key, v4, v6] of [
    ['icmp_type', OXM.icmpv4Type, OXM.icmpv6Type],
    ['icmp_code', OXM.icmpv4Code, OXM.icmpv6Code],
  ] as const) {
    if (!fields.has(key)) continue;
    if (!icmpv4 && !icmpv6) throw new OfCodecError('bad_value', `${key} without icmp or icmp6`);
    tlv(icmpv4 ? v4 : v6, intBytes(integer(key, 0xff) as number, 1), null);
  }
  if (fields.has('nd_target')) {
    // OVS's prerequisite: an ICMPv6 neighbour solicitation (135) or advertisement (136).
    const nd = icmpv6 && icmpType?.kind === 'integer' && (icmpType.value === 135 || icmpType.value === 136);
    if (!nd) throw new OfCodecError('bad_value', 'nd_target without icmp6 and icmp_type 135 or 136');
    address('nd_target', OXM.ndTarget, 128);
  }
  const [left] = fields.keys();
  if (left !== undefined) throw new OfCodecError('unsupported_field', `the match field ${left}`);
  return w.done();
}

function bigBytes(v: bigint, size: number): Buffer {
  return Buffer.from(v.toString(16).padStart(size * 2, '0'), 'hex');
}

function u8(v: number, what: string): number {
  return uint(v, 0xff, what);
}
function u16(v: number, what: string): number {
  return uint(v, 0xffff, what);
}
function u32(v: number, what: string): number {
  return uint(v, 0xffffffff, what);
}
function uint(v: number, max: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new OfCodecError('bad_value', `${what} ${v} not in 0..${max}`);
  return v;
}
function u64(v: bigint, what: string): bigint {
  if (typeof v !== 'bigint' || v < 0n || v > ALL_ONES_64) throw new OfCodecError('bad_value', `${what} not a 64-bit unsigned integer`);
  return v;
}
