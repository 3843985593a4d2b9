// The hybrid logical clock of SPEC §8 (Kulkarni et al., "Logical Physical Clocks", 2014): a
// version is (physical ms, logical counter, node id). It stays close to wall time, never goes
// backwards on one node, and orders a write after every version its node had seen, so "newer"
// means the same thing on every host. The node id breaks ties, which makes the order total.
//
// Pure: the physical clock is passed in (a number of ms since the epoch), never read here.
import { compareText } from './validate.js';
import { NODE_ID_PATTERN } from './types.js';

/** One version: `wallMs` ms since the epoch, `logical` orders events within one ms, `node` wrote it. */
export interface Hlc {
  readonly wallMs: number;
  readonly logical: number;
  readonly node: string;
}

/** 2^48 - 1 ms (year 10889): the 12 hex digits of the text form. */
export const MAX_WALL_MS = 0xffff_ffff_ffff;
/** The 4 hex digits of the text form; a clock that would pass it borrows the next millisecond. */
export const MAX_LOGICAL = 0xffff;
/** How far ahead of our physical clock a remote version may run before it is refused. */
export const DEFAULT_MAX_DRIFT_MS = 60_000;

/** Whether `x` is a well-formed Hlc (integers in range, a node id as the config allows it). */
export function isHlc(x: unknown): x is Hlc {
  if (typeof x !== 'object' || x === null) return false;
  const h = x as Record<string, unknown>;
  return (
    Number.isSafeInteger(h.wallMs) && (h.wallMs as number) >= 0 && (h.wallMs as number) <= MAX_WALL_MS &&
    Number.isSafeInteger(h.logical) && (h.logical as number) >= 0 && (h.logical as number) <= MAX_LOGICAL &&
    typeof h.node === 'string' && NODE_ID_PATTERN.test(h.node)
  );
}

function requireHlc(what: string, x: Hlc): void {
  if (!isHlc(x)) throw new Error(`${what} is not a valid HLC: ${JSON.stringify(x)}`);
}

function requirePhysical(ms: number): void {
  if (!Number.isSafeInteger(ms) || ms < 0 || ms > MAX_WALL_MS) {
    throw new Error(`physical time must be an integer number of ms in [0, ${MAX_WALL_MS}], got ${ms}`);
  }
}

/** Total order: wall ms, then logical, then node id (code points). Negative, 0 or positive. */
export function compareHlc(a: Hlc, b: Hlc): number {
  return a.wallMs - b.wallMs || a.logical - b.logical || compareText(a.node, b.node);
}

/** The later of two versions (either, when equal). */
export function maxHlc(a: Hlc, b: Hlc): Hlc {
  return compareHlc(a, b) >= 0 ? a : b;
}

/** The version right after `h` for `node`: same ms, next logical (or the next ms on overflow). */
function bump(wallMs: number, logical: number, node: string): Hlc {
  if (logical < MAX_LOGICAL) return { wallMs, logical: logical + 1, node };
  if (wallMs >= MAX_WALL_MS) throw new Error('HLC exhausted: wall clock at its maximum');
  return { wallMs: wallMs + 1, logical: 0, node };
}

/**
 * The smallest version of `h.node` greater than `h`. Used where a version must be derived from
 * others rather than read from a clock (the post-merge repair), so every host derives the same.
 */
export function successorHlc(h: Hlc): Hlc {
  requireHlc('successorHlc argument', h);
  return bump(h.wallMs, h.logical, h.node);
}

/**
 * The "send or local event" rule: the version of a new local write, given the clock's last
 * value and the physical time now (ms). Strictly greater than `last`. Throws on misuse.
 */
export function tickHlc(last: Hlc, physicalMs: number): Hlc {
  requireHlc('last', last);
  requirePhysical(physicalMs);
  if (physicalMs > last.wallMs) return { wallMs: physicalMs, logical: 0, node: last.node };
  return bump(last.wallMs, last.logical, last.node);
}

/** What receiving a remote version gives: the advanced clock, or a refusal with a stable code. */
export type HlcReceive =
  | { readonly ok: true; readonly clock: Hlc }
  | { readonly ok: false; readonly code: 'CLOCK_AHEAD'; readonly aheadMs: number };

/** How far (ms) `remote` runs ahead of `physicalMs`, when that is more than `maxDriftMs` (the receive rule refuses it); else 0. */
export function aheadBeyondDrift(remote: Hlc, physicalMs: number, maxDriftMs = DEFAULT_MAX_DRIFT_MS): number {
  const aheadMs = remote.wallMs - physicalMs;
  return aheadMs > maxDriftMs ? aheadMs : 0;
}

/**
 * The "receive" rule: the clock after seeing remote version `remote`, greater than both `last`
 * and `remote`. A remote clock more than `maxDriftMs` ahead of our physical time is refused
 * (CLOCK_AHEAD) and the clock is left as it was: accepting it would drag every later local
 * write of ours that far into the future and let one bad host outvote everyone's writes.
 */
export function receiveHlc(last: Hlc, remote: Hlc, physicalMs: number, maxDriftMs = DEFAULT_MAX_DRIFT_MS): HlcReceive {
  requireHlc('last', last);
  requireHlc('remote', remote);
  requirePhysical(physicalMs);
  if (!Number.isSafeInteger(maxDriftMs) || maxDriftMs < 0) throw new Error(`maxDriftMs must be a non-negative integer, got ${maxDriftMs}`);
  const aheadMs = aheadBeyondDrift(remote, physicalMs, maxDriftMs);
  if (aheadMs > 0) return { ok: false, code: 'CLOCK_AHEAD', aheadMs };
  const wallMs = Math.max(last.wallMs, remote.wallMs, physicalMs);
  const node = last.node;
  let clock: Hlc;
  if (wallMs === last.wallMs && wallMs === remote.wallMs) clock = bump(wallMs, Math.max(last.logical, remote.logical), node);
  else if (wallMs === last.wallMs) clock = bump(wallMs, last.logical, node);
  else if (wallMs === remote.wallMs) clock = bump(wallMs, remote.logical, node);
  else clock = { wallMs, logical: 0, node };
  return { ok: true, clock };
}

const TEXT = /^([0-9a-f]{12})\.([0-9a-f]{4})\.(.+)$/;

/**
 * The text form `WWWWWWWWWWWW.LLLL.node` (wall ms and logical in fixed-width lowercase hex):
 * sorting the texts by code point sorts the versions as compareHlc does, which the journal
 * and the anti-entropy digest rely on.
 */
export function encodeHlc(h: Hlc): string {
  requireHlc('encodeHlc argument', h);
  return `${h.wallMs.toString(16).padStart(12, '0')}.${h.logical.toString(16).padStart(4, '0')}.${h.node}`;
}

/** Parses the text form; `undefined` for anything encodeHlc would not have written. */
export function decodeHlc(text: string): Hlc | undefined {
  const m = TEXT.exec(text);
  if (!m) return undefined;
  const h = { wallMs: parseInt(m[1]!, 16), logical: parseInt(m[2]!, 16), node: m[3]! };
  return isHlc(h) ? h : undefined;
}

/**
 * A node's clock: the pure rules above over the last value it gave out. `physicalNow` returns
 * ms since the epoch (Date.now in the daemon, a counter in tests).
 */
export class HlcClock {
  private lastValue: Hlc;

  /** Throws if `node` is not a valid node id. `start` resumes from a version already issued (say, the journal's latest). */
  constructor(
    node: string,
    private readonly physicalNow: () => number,
    private readonly maxDriftMs = DEFAULT_MAX_DRIFT_MS,
    start?: Hlc,
  ) {
    if (!NODE_ID_PATTERN.test(node)) throw new Error(`node id ${JSON.stringify(node)} does not match ${String(NODE_ID_PATTERN)}`);
    if (start !== undefined) requireHlc('start', start);
    this.lastValue = { wallMs: start?.wallMs ?? 0, logical: start?.logical ?? 0, node };
  }

  /** The last version given out or seen (not a new one). */
  get last(): Hlc {
    return this.lastValue;
  }

  /** A fresh version for a local write: greater than anything this clock gave out or received. */
  now(): Hlc {
    this.lastValue = tickHlc(this.lastValue, this.physicalNow());
    return this.lastValue;
  }

  /** Advances past a remote version; a refusal (CLOCK_AHEAD) leaves the clock unchanged. */
  receive(remote: Hlc): HlcReceive {
    const r = receiveHlc(this.lastValue, remote, this.physicalNow(), this.maxDriftMs);
    if (r.ok) this.lastValue = r.clock;
    return r;
  }
}
