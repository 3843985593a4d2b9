import { createHmac, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import t from 'tap';
import { holds } from '../../helpers/property.js';
import { openingDigest, DigestIndex } from '../../../src/gossip/digest.js';
import { FrameOpener, FrameSealer, MAC_BYTES } from '../../../src/gossip/frame.js';
import { RefusalCodes } from '../../../src/gossip/refusal.js';
import type { PushBody } from '../../../src/gossip/messages.js';

const key = randomBytes(32);
const version = { wallMs: 1_700_000_000_000, logical: 0, node: 'hv-01' };
const push: PushBody = {
  vpcs: [{ record: { id: 'va', tenantId: 't1', cidrs: ['10.0.0.0/16'], bridge: 'br-a', createdAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z' }, version, incarnation: version }],
  peerings: [{ kind: 'peering', id: 'pcx-0123456789abcdef0', version, deletedAt: '2026-01-01T00:00:00.000Z' }],
};

/** A frame with a valid MAC over any payload: what a member (or a bug) could send. */
function sealedRaw(k: Buffer, payload: Buffer): Buffer {
  return Buffer.concat([createHmac('sha256', k).update(payload).digest(), payload]);
}

t.test('frames round-trip in order with their bodies', (t) => {
  const sealer = new FrameSealer(key);
  const opener = new FrameOpener(key);
  const a = opener.open(sealer.seal('push', push));
  const b = opener.open(sealer.seal('ae.digest', openingDigest(new DigestIndex())));
  const c = opener.open(sealer.seal('ae.want', { refs: ['vpc/va', 'peering/pcx-0123456789abcdef0'] }));
  t.same(a, { ok: true, value: { type: 'push', seq: 1, body: push } });
  t.match(b, { ok: true, value: { type: 'ae.digest', seq: 2 } });
  t.match(c, { ok: true, value: { type: 'ae.want', seq: 3 } });
  t.equal(opener.nextSeq, 4);
  t.end();
});

const code = (r: ReturnType<FrameOpener['open']>): string => (r.ok ? 'ok' : r.refusal.code);

t.test('refusals: wrong key, altered, replayed, reordered, oversized, unknown type, bad body', (t) => {
  const sealer = new FrameSealer(key);
  const f1 = sealer.seal('push', push);
  const f2 = sealer.seal('push', push);
  t.equal(code(new FrameOpener(randomBytes(32)).open(f1)), 'BAD_MAC', 'another key (another link)');
  for (const at of [0, MAC_BYTES, f1.length - 1]) {
    const altered = Buffer.from(f1);
    altered[at]! ^= 0x01;
    t.equal(code(new FrameOpener(key).open(altered)), 'BAD_MAC', `one bit flipped at byte ${at}`);
  }
  const opener = new FrameOpener(key);
  t.equal(code(opener.open(f1)), 'ok');
  t.equal(code(opener.open(f1)), 'BAD_SEQUENCE', 'replayed');
  t.equal(code(new FrameOpener(key).open(f2)), 'BAD_SEQUENCE', 'seq 2 first (1 dropped or reordered)');
  t.equal(code(opener.open(f2)), 'ok', 'a refusal does not consume a sequence number');
  t.equal(code(new FrameOpener(key, 100).open(f1)), 'FRAME_TOO_LARGE');
  t.equal(code(new FrameOpener(key).open(Buffer.alloc(11 * 1024 * 1024))), 'FRAME_TOO_LARGE', 'a 10 MB frame is refused before any hashing');
  t.equal(code(new FrameOpener(key).open(Buffer.alloc(MAC_BYTES))), 'MALFORMED_FRAME');
  const raw = (payload: unknown): Buffer => sealedRaw(key, Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload)));
  t.equal(code(new FrameOpener(key).open(raw('{"type":'))), 'MALFORMED_FRAME', 'authenticated but not JSON');
  t.equal(code(new FrameOpener(key).open(raw([1, 2]))), 'MALFORMED_FRAME');
  t.equal(code(new FrameOpener(key).open(raw({ type: 'push', seq: '1', body: push }))), 'MALFORMED_FRAME');
  t.equal(code(new FrameOpener(key).open(raw({ type: 'shutdown', seq: 1, body: {} }))), 'UNKNOWN_FRAME_TYPE');
  t.equal(code(new FrameOpener(key).open(raw({ type: 'toString', seq: 1, body: {} }))), 'UNKNOWN_FRAME_TYPE', 'no prototype keys');
  t.equal(code(new FrameOpener(key).open(raw({ type: 'push', seq: 1, body: { vpcs: [{ record: { id: 'BAD' }, version, incarnation: version }], peerings: [] } }))), 'BAD_BODY');
  t.equal(code(new FrameOpener(key).open(raw({ type: 'push', seq: 1, body: { vpcs: [], peerings: [{ ...push.vpcs[0] }] } }))), 'BAD_BODY', 'a VPC slot in the peerings list');
  t.equal(code(new FrameOpener(key).open(raw({ type: 'ae.want', seq: 1, body: { refs: ['vpc/../etc'] } }))), 'BAD_BODY');
  t.equal(code(new FrameOpener(key).open(raw({ type: 'ae.digest', seq: 1, body: { groups: [{ bits: 3, first: 0, hashes: '' }] } }))), 'BAD_BODY');
  t.throws(() => new FrameSealer(Buffer.alloc(16)), 'a short key is misuse');
  t.end();
});

t.test('fuzz: random bytes, with or without a valid MAC, only ever give a typed refusal', (t) => {
  const known = new Set(Object.keys(RefusalCodes));
  const neverThrows = (data: Buffer): boolean => {
    const r = new FrameOpener(key, 4096).open(data);
    return r.ok || known.has(r.refusal.code);
  };
  holds(t, 'raw random bytes', fc.property(fc.uint8Array({ maxLength: 5000 }), (b) => neverThrows(Buffer.from(b))), 2000);
  holds(t, 'authenticated random bytes', fc.property(fc.uint8Array({ maxLength: 2000 }), (b) => neverThrows(sealedRaw(key, Buffer.from(b)))), 2000);
  holds(
    t,
    'authenticated random JSON in a frame of a known type',
    fc.property(fc.constantFrom('push', 'ae.digest', 'ae.entries', 'ae.want'), fc.jsonValue(), (type, body) =>
      neverThrows(sealedRaw(key, Buffer.from(JSON.stringify({ type, seq: 1, body })))),
    ),
    2000,
  );
  t.end();
});
