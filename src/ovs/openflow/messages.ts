// The OpenFlow messages the data plane speaks, as typed values: the subset of OpenFlow 1.4
// (ONF TS-012, wire version 0x05) that programs and reads our flows over a bridge's management
// socket. Bundles are native in 1.4 (§7.3.9), so a bridge's changes are atomic without Nicira
// extensions. The codec (codec.ts) turns these into bytes and back; nothing here does I/O.
import type { Match } from '../flow.js';

/** OpenFlow 1.4's wire version (ofp_header.version). */
export const OFP14_VERSION = 0x05;
/** ofp_header is 8 bytes: version, type, length (of the whole message, header included), xid. */
export const OFP_HEADER_BYTES = 8;
/** The largest message: ofp_header.length is 16 bits. */
export const OFP_MAX_MESSAGE_BYTES = 0xffff;
/** Reserved port numbers (ofp_port_no) the daemon uses. */
export const OFPP_NORMAL = 0xfffffffa;
export const OFPP_ANY = 0xffffffff;
/** "Every table" for flow stats and the flow monitor (OFPTT_ALL). */
export const OFPTT_ALL = 0xff;

/** One action of an apply-actions instruction: forward out of a port (OFPP_NORMAL for NORMAL). */
export interface OutputAction {
  readonly type: 'output';
  readonly port: number;
}
/** Our flows' actions: outputs only; an empty list is `drop`. */
export type Action = OutputAction;

/** A flow as a flow mod writes it and flow stats report it. */
export interface OfFlow {
  readonly table: number;
  readonly priority: number;
  readonly cookie: bigint;
  readonly match: Match;
  readonly actions: readonly Action[];
}

/**
 * A flow as the switch reported it. `matchBytes` are the raw OXM fields of its ofp_match (without
 * the match header and padding), so a flow whose match we cannot type can still be deleted
 * strictly by echoing them back; `match` is null exactly then. Likewise `actions` is null when its
 * instructions hold something other than apply-actions of outputs.
 */
export interface ReportedFlow {
  readonly table: number;
  readonly priority: number;
  readonly cookie: bigint;
  readonly match: Match | null;
  readonly matchBytes: Buffer;
  readonly actions: readonly Action[] | null;
}

export type FlowModCommand = 'add' | 'modify_strict' | 'delete_strict';

/**
 * A flow mod (OFPT_FLOW_MOD). For delete_strict only table, priority, match and cookie count:
 * the cookie is matched exactly (cookie_mask all ones), so another controller's flow with the same
 * key is left alone. `rawMatch` (OXM bytes, as in ReportedFlow.matchBytes) replaces `flow.match`
 * when set: the delete of a flow we could not type.
 */
export interface FlowMod {
  readonly type: 'flow_mod';
  readonly xid: number;
  readonly command: FlowModCommand;
  readonly flow: OfFlow;
  readonly rawMatch?: Buffer;
}

export interface Hello {
  readonly type: 'hello';
  readonly xid: number;
  /** The versions offered (the version bitmap element); [] when the peer sent none. */
  readonly versions: readonly number[];
  /** ofp_header.version of the hello itself: the highest version its sender speaks. */
  readonly headerVersion: number;
}

export interface ErrorMsg {
  readonly type: 'error';
  readonly xid: number;
  /** ofp_error_type (e.g. 4 OFPET_BAD_MATCH, 5 OFPET_FLOW_MOD_FAILED, 17 OFPET_BUNDLE_FAILED). */
  readonly errType: number;
  readonly code: number;
  /** At least the first 64 bytes of the request that failed (its header gives the xid and type). */
  readonly data: Buffer;
}

export interface Echo {
  readonly type: 'echo_request' | 'echo_reply';
  readonly xid: number;
  readonly data: Buffer;
}

export interface Barrier {
  readonly type: 'barrier_request' | 'barrier_reply';
  readonly xid: number;
}

export type BundleControlType = 'open_request' | 'open_reply' | 'close_request' | 'close_reply' | 'commit_request' | 'commit_reply' | 'discard_request' | 'discard_reply';

/** OFPT_BUNDLE_CONTROL (§7.3.9.1). `atomic` and `ordered` are OFPBF_ATOMIC / OFPBF_ORDERED. */
export interface BundleControl {
  readonly type: 'bundle_control';
  readonly xid: number;
  readonly bundleId: number;
  readonly control: BundleControlType;
  readonly atomic: boolean;
  readonly ordered: boolean;
}

/** OFPT_BUNDLE_ADD_MESSAGE carrying one flow mod (its xid must equal the outer xid, §7.3.9.2). */
export interface BundleAdd {
  readonly type: 'bundle_add';
  readonly xid: number;
  readonly bundleId: number;
  readonly atomic: boolean;
  readonly ordered: boolean;
  readonly message: FlowMod;
}

/** OFPMP_FLOW_DESC request: every flow of `table` (OFPTT_ALL) whose cookie matches cookie/cookieMask. */
export interface FlowStatsRequest {
  readonly type: 'flow_stats_request';
  readonly xid: number;
  readonly table: number;
  readonly cookie: bigint;
  readonly cookieMask: bigint;
}

/** One part of a flow stats reply; more parts follow with the same xid while `more`. */
export interface FlowStatsReply {
  readonly type: 'flow_stats_reply';
  readonly xid: number;
  readonly more: boolean;
  readonly flows: readonly ReportedFlow[];
}

/**
 * OFPMP_FLOW_MONITOR request (§7.3.5.19), command add: watch every flow of `table`. OpenFlow's
 * monitor has no cookie filter; callers filter updates by cookie themselves.
 */
export interface FlowMonitorRequest {
  readonly type: 'flow_monitor_request';
  readonly xid: number;
  readonly monitorId: number;
  readonly table: number;
  /** OFPFMF_INITIAL: the first reply lists every flow the monitor covers. */
  readonly initial: boolean;
  /** OFPFMF_NO_ABBREV: our own changes come in full instead of as `abbrev`. */
  readonly noAbbrev: boolean;
}

/** One update of a flow monitor (ofp_flow_update_header and what follows it). */
export type FlowUpdate =
  | { readonly event: 'initial' | 'added' | 'removed' | 'modified'; readonly flow: ReportedFlow }
  /** One of our own flow mods took effect: its xid (sent without OFPFMF_NO_ABBREV). */
  | { readonly event: 'abbrev'; readonly xid: number }
  /** The switch stopped (paused) or resumed sending updates: changes may have been missed. */
  | { readonly event: 'paused' | 'resumed' };

/** Monitor updates: the reply to the request (with `initial`), then unsolicited parts with xid 0. */
export interface FlowMonitorReply {
  readonly type: 'flow_monitor_reply';
  readonly xid: number;
  readonly more: boolean;
  readonly updates: readonly FlowUpdate[];
}

/** Every message the codec reads or writes. */
export type OfMessage =
  | Hello
  | ErrorMsg
  | Echo
  | Barrier
  | FlowMod
  | BundleControl
  | BundleAdd
  | FlowStatsRequest
  | FlowStatsReply
  | FlowMonitorRequest
  | FlowMonitorReply;

export type OfMessageType = OfMessage['type'];

/**
 * The codec refused bytes or a value: `reason` says which rule (`short`, `bad_length`,
 * `bad_version`, `unsupported_type`, `unsupported_field`, `bad_value`, …) and `detail` what was
 * seen. The only error the codec throws.
 */
export class OfCodecError extends Error {
  override readonly name = 'OfCodecError';
  constructor(
    readonly reason: string,
    detail: string,
  ) {
    super(`${reason}: ${detail}`);
  }
}
