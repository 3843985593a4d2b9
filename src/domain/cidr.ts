// CIDR blocks of SPEC §2 and §3 rule 8: a strict grammar check of our own, then cidr-tools for
// the arithmetic and the canonical text. cidr-tools alone accepts garbage silently
// (`10.0.0.256/24` becomes `10.0.1.0/24`), so nothing reaches it that this grammar refused.
//
// Decisions:
// - The prefix is required: a bare address is refused rather than read as /32 or /128, because a
//   forgotten prefix is far likelier a mistake than a one-host VPC.
// - Leading zeros are refused in IPv4 octets (`010.0.0.0` reads as octal to some tools) and in
//   the prefix; IPv6 groups may carry them (`2001:0db8::`), as RFC 4291 allows.
// - No zone ids (`fe80::1%eth0`) and no whitespace anywhere.
// - IPv6 blocks that touch the IPv4-mapped range `::ffff:0:0/96` are refused: such addresses
//   stand for IPv4 hosts (RFC 4291 §2.5.5.2) and never travel as IPv6 on the wire, so accepting
//   them would let a block alias an IPv4 block of a peer while escaping CIDR_OVERLAP (v4 and v6
//   never overlap here). Blocks that contain the range (`::/0`, `::/64`) are refused with it:
//   they claim every mapped address too. Other IPv6 blocks, NAT64 `64:ff9b::/96` included, are
//   plain IPv6.
import { normalizeCidr, parseCidr } from 'cidr-tools';

export type CidrFamily = 4 | 6;

export type CidrParse =
  | { readonly ok: true; readonly cidr: string; readonly family: CidrFamily }
  | { readonly ok: false; readonly why: string };

/** Longer than any valid text (`ffff:…:255.255.255.255/128` is 49), so the grammar never sees a megabyte. */
export const MAX_CIDR_TEXT = 64;

const OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const IPV4 = new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`);
const HEX_GROUP = /^[0-9A-Fa-f]{1,4}$/;
const PREFIX = /^(?:0|[1-9][0-9]{0,2})$/;

const MAPPED_START = 0xffff_0000_0000n;
const MAPPED_END = 0xffff_ffff_ffffn;

function isIpv6(text: string): boolean {
  // A dotted IPv4 tail (`::1.2.3.4`) fills the last two groups: check it, then stand two
  // placeholder groups in for it so that one group count covers both spellings.
  const lastColon = text.lastIndexOf(':');
  if (lastColon === -1) return false;
  const tail = text.slice(lastColon + 1);
  let hex = text;
  if (tail.includes('.')) {
    if (!IPV4.test(tail)) return false;
    hex = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const halves = hex.split('::');
  if (halves.length > 2) return false;
  const groups = halves.flatMap((h) => (h === '' ? [] : h.split(':')));
  if (!groups.every((g) => HEX_GROUP.test(g))) return false;
  // `::` stands for at least one zero group, so with it at most 7 groups are written.
  return halves.length === 2 ? groups.length <= 7 : groups.length === 8;
}

/** Parses CIDR text strictly; on success `cidr` is the normalised block (network address, canonical text). */
export function parseCidrStrict(text: string): CidrParse {
  if (text.length === 0) return { ok: false, why: 'is empty' };
  if (text.length > MAX_CIDR_TEXT) return { ok: false, why: 'is too long to be a CIDR block' };
  const slash = text.indexOf('/');
  if (slash === -1) return { ok: false, why: 'has no prefix length; write it as address/prefix, e.g. 10.0.0.0/16' };
  const address = text.slice(0, slash);
  const prefixText = text.slice(slash + 1);
  let family: CidrFamily;
  if (IPV4.test(address)) family = 4;
  else if (isIpv6(address)) family = 6;
  else return { ok: false, why: `has "${address}", which is not an IPv4 or IPv6 address` };
  const maxPrefix = family === 4 ? 32 : 128;
  if (!PREFIX.test(prefixText) || Number(prefixText) > maxPrefix) {
    return { ok: false, why: `has prefix "/${prefixText}"; an IPv${family} prefix is 0 to ${maxPrefix} without leading zeros` };
  }
  if (family === 6) {
    const { start, end } = parseCidr(text);
    if (start <= MAPPED_END && MAPPED_START <= end) {
      return { ok: false, why: 'touches the IPv4-mapped range ::ffff:0:0/96; give the IPv4 block itself instead' };
    }
  }
  return { ok: true, cidr: normalizeCidr(text), family };
}

interface Range {
  readonly family: number;
  readonly start: bigint;
  readonly end: bigint;
}

function rangeOf(cidr: string): Range {
  const { version, start, end } = parseCidr(cidr);
  return { family: version, start, end };
}

/**
 * The first pair (one block of `a`, one of `b`) whose address ranges intersect, or null.
 * Inputs are normalised blocks (as stored). An IPv4 block never overlaps an IPv6 block.
 */
export function cidrsOverlap(a: readonly string[], b: readonly string[]): readonly [string, string] | null {
  const rangesB = b.map(rangeOf);
  for (const ca of a) {
    const ra = rangeOf(ca);
    const j = rangesB.findIndex((rb) => rb.family === ra.family && ra.start <= rb.end && rb.start <= ra.end);
    if (j !== -1) return [ca, b[j]!];
  }
  return null;
}

/** True when the two lists hold the same blocks, in any order (inputs normalised). */
export function sameCidrSet(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const sa = [...a].sort();
  const sb = [...b].sort();
  return sa.every((c, i) => c === sb[i]);
}
