// Properties of the OpenFlow codec: every message of the subset, with matches generated from
// the daemon's own vocabulary, survives encode → decode unchanged (its match canonical, as
// parseMatch gives it); and no bytes, random or a valid frame mutated, make decodeMessage throw
// anything but OfCodecError.
import fc from 'fast-check';
import t from 'tap';
import { parseMatch, renderMatch } from '../../../../src/ovs/flow.js';
import { decodeMessage, encodeMatchFields, encodeMessage, frameLength } from '../../../../src/ovs/openflow/codec.js';
import { OFPP_NORMAL, OfCodecError, type Action, type FlowMod, type OfMessage, type ReportedFlow } from '../../../../src/ovs/openflow/messages.js';
import { holds } from '../../../helpers/property.js';

const v4 = fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.oneof(fc.integer({ min: 0, max: 32 }).map(String), fc.integer({ min: 0, max: 0xffffffff }).map(ipv4))).map(([a, m]) => `${ipv4(a)}/${m}`);
const v6 = fc.tuple(fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }), fc.integer({ min: 0, max: 128 })).map(([a, len]) => `${ipv6(a)}/${len}`);
const port = fc.integer({ min: 1, max: 0xfeff });
const opt = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | null> => fc.option(a, { nil: null });

/** Match texts of our vocabulary (src/reconcile/desired.ts) and a little more (tcp/udp, icmp). */
const matchText: fc.Arbitrary<string> = fc
  .oneof(
    fc.tuple(fc.constant('ip'), opt(port), opt(v4), opt(v4)).map(([p, i, s, d]) => [p, i && `in_port=${i}`, s && `nw_src=${s}`, d && `nw_dst=${d}`]),
    fc.tuple(fc.constant('arp'), opt(port), opt(v4), opt(v4)).map(([p, i, s, d]) => [p, i && `in_port=${i}`, s && `arp_spa=${s}`, d && `arp_tpa=${d}`]),
    fc.tuple(fc.constant('ipv6'), opt(port), opt(v6), opt(v6)).map(([p, i, s, d]) => [p, i && `in_port=${i}`, s && `ipv6_src=${s}`, d && `ipv6_dst=${d}`]),
    fc.tuple(fc.constantFrom(135, 136), opt(port), opt(v6), opt(v6)).map(([ty, i, s, n]) => ['icmp6', `icmp_type=${ty}`, i && `in_port=${i}`, s && `ipv6_src=${s}`, n && `nd_target=${n}`]),
    fc.tuple(fc.constantFrom('icmp', 'icmp6'), opt(fc.nat(255)), opt(fc.nat(255))).map(([p, ty, c]) => [p, ty === null ? null : `icmp_type=${ty}`, c === null ? null : `icmp_code=${c}`]),
    fc.tuple(fc.constantFrom('tcp', 'udp', 'sctp', 'tcp6', 'udp6'), opt(fc.nat(0xffff)), opt(fc.nat(0xffff))).map(([p, s, d]) => [p, s === null ? null : `tp_src=${s}`, d === null ? null : `tp_dst=${d}`]),
    opt(port).map((i) => [i && `in_port=${i}`]),
  )
  .map((tokens) => tokens.filter((x): x is string => typeof x === 'string' && x !== '').join(','));

const actions: fc.Arbitrary<Action[]> = fc.array(fc.oneof(port, fc.constant(OFPP_NORMAL)).map((p): Action => ({ type: 'output', port: p })), { maxLength: 3 });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const cookie = fc.bigInt({ min: 0n, max: 0xffff_ffff_ffff_ffffn });
const flow = fc.record({ table: fc.nat(254), priority: fc.nat(0xffff), cookie, match: matchText.map(parseMatch), actions });
const reported: fc.Arbitrary<ReportedFlow> = flow.map((f) => ({ ...f, matchBytes: encodeMatchFields(f.match) }));
const flowMod = (xid: fc.Arbitrary<number>): fc.Arbitrary<FlowMod> =>
  fc.record({ xid, command: fc.constantFrom('add', 'modify_strict', 'delete_strict'), flow }).map((m): FlowMod => ({
    type: 'flow_mod',
    ...m,
    // A delete carries no instructions: its actions decode as [].
    flow: m.command === 'delete_strict' ? { ...m.flow, actions: [] } : m.flow,
  }));
const bytes = fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a));

const message: fc.Arbitrary<OfMessage> = fc.oneof(
  fc.record({ xid: u32, versions: fc.uniqueArray(fc.integer({ min: 1, max: 70 }), { maxLength: 4 }).map((v) => v.sort((a, b) => a - b)), headerVersion: fc.integer({ min: 1, max: 6 }) }).map((m): OfMessage => ({ type: 'hello', ...m })),
  fc.record({ xid: u32, errType: fc.nat(0xffff), code: fc.nat(0xffff), data: bytes }).map((m): OfMessage => ({ type: 'error', ...m })),
  fc.record({ type: fc.constantFrom('echo_request' as const, 'echo_reply' as const), xid: u32, data: bytes }),
  fc.record({ type: fc.constantFrom('barrier_request' as const, 'barrier_reply' as const), xid: u32 }),
  flowMod(u32),
  fc.record({ xid: u32, bundleId: u32, control: fc.constantFrom('open_request', 'open_reply', 'close_request', 'close_reply', 'commit_request', 'commit_reply', 'discard_request', 'discard_reply'), atomic: fc.boolean(), ordered: fc.boolean() }).map((m): OfMessage => ({ type: 'bundle_control', ...m })),
  fc.record({ bundleId: u32, atomic: fc.boolean(), ordered: fc.boolean(), message: flowMod(u32) }).map((m): OfMessage => ({ type: 'bundle_add', xid: m.message.xid, ...m })),
  fc.record({ xid: u32, table: fc.nat(255), cookie, cookieMask: cookie }).map((m): OfMessage => ({ type: 'flow_stats_request', ...m })),
  fc.record({ xid: u32, more: fc.boolean(), flows: fc.array(reported, { maxLength: 5 }) }).map((m): OfMessage => ({ type: 'flow_stats_reply', ...m })),
  fc.record({ xid: u32, monitorId: u32, table: fc.nat(255), initial: fc.boolean(), noAbbrev: fc.boolean() }).map((m): OfMessage => ({ type: 'flow_monitor_request', ...m })),
  fc
    .record({
      xid: u32,
      more: fc.boolean(),
      updates: fc.array(
        fc.oneof(
          fc.record({ event: fc.constantFrom('initial' as const, 'added' as const, 'removed' as const, 'modified' as const), flow: reported }),
          fc.record({ event: fc.constant('abbrev' as const), xid: u32 }),
          fc.record({ event: fc.constantFrom('paused' as const, 'resumed' as const) }),
        ),
        { maxLength: 4 },
      ),
    })
    .map((m): OfMessage => ({ type: 'flow_monitor_reply', ...m })),
);

/** A stable text of a message: keys sorted, Maps as sorted entries, bigints and Buffers in hex. */
function stable(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => {
    if (typeof x === 'bigint') return `0x${x.toString(16)}`;
    if (x instanceof Map) return [...(x as Map<string, unknown>)].sort(([a], [b]) => (a < b ? -1 : 1));
    if (x !== null && typeof x === 'object' && 'type' in x && x.type === 'Buffer') return Buffer.from((x as unknown as { data: number[] }).data).toString('hex');
    if (x !== null && typeof x === 'object' && !Array.isArray(x)) return Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : 1)));
    return x;
  });
}

t.test('encode → decode gives the message back', async (t) => {
  holds(t, 'round trip', fc.property(message, (m) => stable(decodeMessage(encodeMessage(m))) === stable(m)), 3000);
  holds(
    t,
    'a decoded match renders as parseMatch of its text',
    fc.property(matchText, (text) => {
      const m: OfMessage = { type: 'flow_mod', xid: 1, command: 'add', flow: { table: 0, priority: 1, cookie: 1n, match: parseMatch(text), actions: [] } };
      const d = decodeMessage(encodeMessage(m));
      return d.type === 'flow_mod' && d.rawMatch === undefined && renderMatch(d.flow.match) === renderMatch(parseMatch(text));
    }),
    3000,
  );
});

t.test('the encoder refuses what OXM of the subset cannot say', async (t) => {
  const refuse = (text: string, reason: string): void => {
    const flow = { table: 0, priority: 1, cookie: 1n, match: parseMatch(text), actions: [] };
    t.throws(() => encodeMessage({ type: 'flow_mod', xid: 1, command: 'add', flow }), { name: 'OfCodecError', reason }, text);
  };
  refuse('dl_src=aa:00:00:00:00:01', 'unsupported_field');
  refuse('ip,nw_tos=4', 'unsupported_field');
  refuse('in_port=LOCAL', 'unsupported_field');
  refuse('nw_src=10.0.0.1', 'bad_value');
  refuse('ipv6,nd_target=::1', 'bad_value');
  refuse('ip,tp_src=80', 'bad_value');
  refuse('icmp6,icmp_type=300', 'bad_value');
});

/** Decoding `b` returns or throws OfCodecError, nothing else. */
function onlyTypedErrors(b: Buffer): boolean {
  try {
    frameLength(b);
    decodeMessage(b);
  } catch (e) {
    if (!(e instanceof OfCodecError)) throw e;
  }
  return true;
}

/** `b` with its header's length made to agree, so the decoder gets past framing. */
function framed(b: Buffer, version: number | null): Buffer {
  if (b.length >= 4 && b.length <= 0xffff) {
    b.writeUInt16BE(b.length, 2);
    if (version !== null) b.writeUInt8(version, 0);
  }
  return b;
}

t.test('fuzz: random and mutated bytes throw only OfCodecError', async (t) => {
  const start = Date.now();
  holds(t, 'random bytes', fc.property(fc.uint8Array({ maxLength: 120 }), fc.option(fc.constant(5)), fc.nat(40), (a, v, type) => {
    const b = Buffer.from(a);
    if (b.length > 1) b.writeUInt8(type, 1);
    return onlyTypedErrors(framed(b, v));
  }), 20_000);
  const valid = fc.tuple(message, fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 4 }), fc.nat(), fc.boolean());
  holds(t, 'mutated valid frames', fc.property(valid, ([m, flips, cut, fix]) => {
    const b = Buffer.from(encodeMessage(m));
    for (const [at, byte] of flips) b.writeUInt8(byte, at % b.length);
    const c = cut % 3 === 0 ? b.subarray(0, cut % b.length) : b;
    return onlyTypedErrors(fix ? framed(Buffer.from(c), null) : c);
  }), 20_000);
  t.ok(Date.now() - start < 20_000, `fuzzing took ${Date.now() - start} ms`);
});

function ipv4(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 0xff).join('.');
}

function ipv6(n: bigint): string {
  return Array.from({ length: 8 }, (_, i) => ((n >> BigInt(112 - 16 * i)) & 0xffffn).toString(16)).join(':');
}
