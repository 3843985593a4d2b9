import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import t from 'tap';
import { holds } from '../../helpers/property.js';
import { FrameOpener, FrameSealer } from '../../../src/gossip/frame.js';
import { DialerHandshake, ListenerHandshake, type LinkKeys, NONCE_BYTES } from '../../../src/gossip/handshake.js';
import { RefusalCodes } from '../../../src/gossip/refusal.js';
import { loadGossipSecret } from '../../../src/gossip/secret.js';

const secret = randomBytes(32);
const nonce = (): Buffer => randomBytes(NONCE_BYTES);

function must<T>(r: { ok: true; value: T } | { ok: false; refusal: { code: string } }): T {
  if (!r.ok) throw new Error(`refused: ${r.refusal.code}`);
  return r.value;
}

function handshake(dialerSecret = secret, listenerSecret = secret): { dialer: LinkKeys; listener: LinkKeys } {
  const d = new DialerHandshake(dialerSecret, 'hv-01', nonce());
  const l = new ListenerHandshake(listenerSecret, 'hv-02', nonce());
  const challenge = must(l.onHello(d.hello()));
  const { reply, keys } = must(d.onChallenge(challenge));
  return { dialer: keys, listener: must(l.onProof(reply)) };
}

t.test('a handshake between members gives matching keys per direction and names the peers', (t) => {
  const { dialer, listener } = handshake();
  t.equal(dialer.peerNode, 'hv-02');
  t.equal(listener.peerNode, 'hv-01');
  t.ok(dialer.send.equals(listener.receive));
  t.ok(dialer.receive.equals(listener.send));
  t.notOk(dialer.send.equals(dialer.receive), 'each direction has its own key (no reflection)');
  const opened = new FrameOpener(listener.receive).open(new FrameSealer(dialer.send).seal('ae.want', { refs: [] }));
  t.ok(opened.ok);
  const again = handshake();
  t.notOk(again.dialer.send.equals(dialer.send), 'each link has its own keys');
  t.end();
});

t.test('a wrong secret is refused on both sides', (t) => {
  const other = randomBytes(32);
  const d = new DialerHandshake(other, 'hv-01', nonce());
  const l = new ListenerHandshake(secret, 'hv-02', nonce());
  const r = d.onChallenge(must(l.onHello(d.hello())));
  t.match(r, { ok: false, refusal: { code: 'BAD_PROOF' } }, 'the dialer refuses a listener that cannot prove membership');
  // A dialer without the secret that forges a proof anyway.
  const d2 = new DialerHandshake(other, 'hv-01', nonce());
  const l2 = new ListenerHandshake(secret, 'hv-02', nonce());
  must(l2.onHello(d2.hello()));
  const forged = Buffer.from(JSON.stringify({ type: 'proof', proof: randomBytes(32).toString('base64') }));
  t.match(l2.onProof(forged), { ok: false, refusal: { code: 'BAD_PROOF' } });
  t.end();
});

t.test('a recorded handshake replayed to a listener fails on its fresh nonce', (t) => {
  const d = new DialerHandshake(secret, 'hv-01', nonce());
  const hello = d.hello();
  const l1 = new ListenerHandshake(secret, 'hv-02', nonce());
  const { reply } = must(d.onChallenge(must(l1.onHello(hello))));
  must(l1.onProof(reply));
  const l2 = new ListenerHandshake(secret, 'hv-02', nonce());
  must(l2.onHello(hello));
  t.match(l2.onProof(reply), { ok: false, refusal: { code: 'BAD_PROOF' } });
  t.end();
});

t.test('malformed, out-of-turn, other-protocol and self handshakes are refused', (t) => {
  const l = (): ListenerHandshake => new ListenerHandshake(secret, 'hv-02', nonce());
  const msg = (m: unknown): Buffer => Buffer.from(JSON.stringify(m));
  const good = { type: 'hello', protocol: 'vpc-peerd-gossip/1', node: 'hv-01', nonce: nonce().toString('base64') };
  t.match(l().onHello(msg({ ...good, protocol: 'vpc-peerd-gossip/2' })), { ok: false, refusal: { code: 'BAD_HANDSHAKE' } });
  t.match(l().onHello(msg({ ...good, type: 'proof' })), { ok: false, refusal: { code: 'BAD_HANDSHAKE' } });
  t.match(l().onHello(msg({ ...good, nonce: 'AAAA' })), { ok: false, refusal: { code: 'BAD_HANDSHAKE' } });
  t.match(l().onHello(msg({ ...good, node: 'HV 01' })), { ok: false, refusal: { code: 'BAD_HANDSHAKE' } });
  t.match(l().onHello(msg({ ...good, node: 'hv-02' })), { ok: false, refusal: { code: 'SAME_NODE' } });
  t.match(l().onHello(Buffer.alloc(2000, 0x20)), { ok: false, refusal: { code: 'FRAME_TOO_LARGE' } });
  t.match(l().onHello(Buffer.from('{')), { ok: false, refusal: { code: 'BAD_HANDSHAKE' } });
  t.throws(() => l().onProof(msg({ type: 'proof', proof: '' })), 'a proof before a hello is a caller bug');
  t.throws(() => new DialerHandshake(Buffer.alloc(31), 'hv-01', nonce()), 'a secret under 32 bytes');
  t.end();
});

t.test('fuzz: random bytes to each handshake step only ever give a typed refusal', (t) => {
  const known = new Set(Object.keys(RefusalCodes));
  const typed = (r: { ok: boolean; refusal?: { code: string } }): boolean => r.ok || known.has(r.refusal!.code);
  const bytes = fc.oneof(fc.uint8Array({ maxLength: 1500 }), fc.jsonValue().map((v) => new TextEncoder().encode(JSON.stringify(v))));
  holds(t, 'listener hello', fc.property(bytes, (b) => typed(new ListenerHandshake(secret, 'hv-02', nonce()).onHello(b))), 1000);
  holds(t, 'dialer challenge', fc.property(bytes, (b) => typed(new DialerHandshake(secret, 'hv-01', nonce()).onChallenge(b))), 1000);
  holds(
    t,
    'listener proof',
    fc.property(bytes, (b) => {
      const l = new ListenerHandshake(secret, 'hv-02', nonce());
      must(l.onHello(new DialerHandshake(secret, 'hv-01', nonce()).hello()));
      return typed(l.onProof(b));
    }),
    1000,
  );
  t.end();
});

t.test('the secret file: owner-only, at least 32 bytes, trailing newline dropped', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'gossip-secret-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'secret');
  await writeFile(file, `${'a'.repeat(64)}\n`, { mode: 0o600 });
  t.equal((await loadGossipSecret(file)).toString(), 'a'.repeat(64));
  await chmod(file, 0o640);
  await t.rejects(loadGossipSecret(file), { name: 'ConfigError', issues: [{ key: 'gossip.secretFile' }] }, 'group-readable');
  await writeFile(file, 'short\n', { mode: 0o600 });
  await chmod(file, 0o600);
  await t.rejects(loadGossipSecret(file), { name: 'ConfigError', issues: [{ key: 'gossip.secretFile' }] }, 'too short');
  await t.rejects(loadGossipSecret(join(dir, 'missing')), { name: 'ConfigError', issues: [{ key: 'gossip.secretFile' }] });
  await t.rejects(loadGossipSecret(dir), { name: 'ConfigError', issues: [{ key: 'gossip.secretFile' }] }, 'a folder');
});
