// The frames two daemons exchange once the handshake has proved membership (docs/GOSSIP.md
// "Frames"), and the shape checks of their bodies. A body is checked here for the structure
// gossip relies on (sizes are capped), and every slot by the one slot rule (records.ts
// slotProblem: the record rules of SPEC §2, versions, basis) that the journal loader uses too.
import type { PeeringSlot, VpcSlot } from '../domain/replica.js';
import { slotProblem } from '../domain/records.js';
import { type DigestBody, type EntriesBody, isRef, MAX_ENTRIES, parseDigestBody, parseEntriesBody } from './digest.js';
import { type HostsBody, parseHostsBody } from './host-reports.js';

/** Slots per push frame at most: a bigger batch (a full resync) is sent as several frames. */
export const MAX_SLOTS_PER_PUSH = 4096;

/** `push`: versions the sender holds (a fresh commit, a forward, or the answer to a digest or a want). */
export interface PushBody {
  readonly vpcs: readonly VpcSlot[];
  readonly peerings: readonly PeeringSlot[];
}

/**
 * `ae.want`: the refs (`vpc/<id>`, `peering/<id>`) whose slots the sender asks for; `missing`,
 * those of them it holds nothing of (a host away too long ends them instead: engine.ts resync).
 */
export interface WantBody {
  readonly refs: readonly string[];
  readonly missing?: readonly string[];
}

/** Every frame type, with its body. */
export interface FrameBodies {
  readonly push: PushBody;
  'ae.digest': DigestBody;
  'ae.entries': EntriesBody;
  'ae.want': WantBody;
  hosts: HostsBody;
}

export type FrameType = keyof FrameBodies;

/** One decoded frame: its type, its sequence number on the link, its checked body. */
export type Frame = { [K in FrameType]: { readonly type: K; readonly seq: number; readonly body: FrameBodies[K] } }[FrameType];

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function parsePush(x: unknown): PushBody | undefined {
  if (!isObject(x) || !Array.isArray(x.vpcs) || !Array.isArray(x.peerings)) return undefined;
  if (x.vpcs.length + x.peerings.length > MAX_SLOTS_PER_PUSH) return undefined;
  if (!x.vpcs.every((s) => slotProblem('vpc', s) === null) || !x.peerings.every((s) => slotProblem('peering', s) === null)) return undefined;
  return x as unknown as PushBody;
}

function parseWant(x: unknown): WantBody | undefined {
  if (!isObject(x) || !Array.isArray(x.refs) || x.refs.length > MAX_ENTRIES || !x.refs.every(isRef)) return undefined;
  if (x.missing !== undefined && (!Array.isArray(x.missing) || x.missing.length > x.refs.length || !x.missing.every(isRef))) return undefined;
  return x as unknown as WantBody;
}

/** The body check of each frame type: the checked body, or undefined when it has the wrong shape. */
export const BODY_PARSERS: { readonly [K in FrameType]: (x: unknown) => FrameBodies[K] | undefined } = {
  push: parsePush,
  'ae.digest': parseDigestBody,
  'ae.entries': parseEntriesBody,
  'ae.want': parseWant,
  hosts: parseHostsBody,
};

export function isFrameType(x: unknown): x is FrameType {
  return typeof x === 'string' && Object.hasOwn(BODY_PARSERS, x);
}
