// The membership proof that opens every gossip link (SPEC §8, docs/GOSSIP.md "Handshake"): a
// challenge-response over fresh nonces from both sides, HMAC-SHA256 under the shared secret,
// then one key per direction derived with HKDF from the secret and both nonces. Nothing but
// these three messages moves before both sides have proved they hold the secret.
//
//   dialer → listener   hello     {type, protocol, node, nonce}
//   listener → dialer   challenge {type, protocol, node, nonce, proof: HMAC(secret, transcript("listener"))}
//   dialer → listener   proof     {type, proof: HMAC(secret, transcript("dialer"))}
//
// The transcript names the protocol, the role, both node ids and both nonces, so a proof is
// good for one handshake in one role only: a recorded handshake replayed to a listener fails
// against its fresh nonce, and a listener's proof cannot be reflected back as a dialer's.
// Pure apart from the hashing: the nonces are passed in (crypto.randomBytes in the transport).
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { ID_PATTERN } from '../domain/types.js';
import { KEY_BYTES } from './frame.js';
import { type Decoded, refuse } from './refusal.js';

/** The protocol name both sides must announce; a different one is refused (BAD_HANDSHAKE). */
export const PROTOCOL = 'vpc-peerd-gossip/1';
export const NONCE_BYTES = 32;
/** The shortest shared secret accepted (SPEC §11 gossip.secretFile). */
export const MIN_SECRET_BYTES = 32;
/** A handshake message larger than this is refused unread. */
export const MAX_HANDSHAKE_BYTES = 1024;

/** What a finished handshake gives a link: one key per direction and the peer's node id. */
export interface LinkKeys {
  readonly send: Buffer;
  readonly receive: Buffer;
  readonly peerNode: string;
}

type Role = 'dialer' | 'listener';

interface Transcript {
  readonly dialerNode: string;
  readonly listenerNode: string;
  readonly dialerNonce: Buffer;
  readonly listenerNonce: Buffer;
}

function proofOf(secret: Buffer, role: Role, t: Transcript): Buffer {
  const text = [PROTOCOL, role, t.dialerNode, t.listenerNode, t.dialerNonce.toString('base64'), t.listenerNonce.toString('base64')].join('\n');
  return createHmac('sha256', secret).update(text).digest();
}

function keyFor(secret: Buffer, from: Role, t: Transcript): Buffer {
  const info = `${PROTOCOL} frames from ${from} ${t.dialerNode} ${t.listenerNode}`;
  return Buffer.from(hkdfSync('sha256', secret, Buffer.concat([t.dialerNonce, t.listenerNonce]), info, KEY_BYTES));
}

function requireSetup(secret: Buffer, node: string, nonce: Buffer): void {
  if (!Buffer.isBuffer(secret) || secret.length < MIN_SECRET_BYTES) throw new Error(`the gossip secret must be at least ${MIN_SECRET_BYTES} bytes`);
  if (!ID_PATTERN.test(node)) throw new Error(`node id ${JSON.stringify(node)} does not match ${String(ID_PATTERN)}`);
  if (!Buffer.isBuffer(nonce) || nonce.length !== NONCE_BYTES) throw new Error(`a handshake nonce is ${NONCE_BYTES} bytes`);
}

const B64 = /^[A-Za-z0-9+/]+={0,2}$/;

function decodeBytes(x: unknown, length: number): Buffer | undefined {
  if (typeof x !== 'string' || !B64.test(x)) return undefined;
  const b = Buffer.from(x, 'base64');
  return b.length === length && b.toString('base64') === x ? b : undefined;
}

/** Parses one handshake message of the expected type into its fields, or refuses it. */
function parse(data: Buffer | Uint8Array, type: string): Decoded<Record<string, unknown>> {
  if (data.length > MAX_HANDSHAKE_BYTES) return refuse('FRAME_TOO_LARGE', `a handshake message of ${data.length} bytes (at most ${MAX_HANDSHAKE_BYTES})`);
  let m: unknown;
  try {
    m = JSON.parse(Buffer.from(data).toString('utf8'));
  } catch {
    return refuse('BAD_HANDSHAKE', `the ${type} is not JSON`);
  }
  if (typeof m !== 'object' || m === null || Array.isArray(m) || (m as { type?: unknown }).type !== type) {
    return refuse('BAD_HANDSHAKE', `expected a ${type}`);
  }
  const fields = m as Record<string, unknown>;
  if (type !== 'proof' && fields.protocol !== PROTOCOL) return refuse('BAD_HANDSHAKE', `protocol ${JSON.stringify(fields.protocol)?.slice(0, 64) ?? 'missing'}, this daemon speaks ${PROTOCOL}`);
  return { ok: true, value: fields };
}

function peerNodeOf(fields: Record<string, unknown>, own: string): Decoded<string> {
  const node = fields.node;
  if (typeof node !== 'string' || !ID_PATTERN.test(node)) return refuse('BAD_HANDSHAKE', 'the peer node id is not a valid id');
  if (node === own) return refuse('SAME_NODE');
  return { ok: true, value: node };
}

function encode(m: object): Buffer {
  return Buffer.from(JSON.stringify(m), 'utf8');
}

function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The dialling side: sends `hello()`, answers the challenge with a proof, gets the link keys. */
export class DialerHandshake {
  /** Throws on a secret shorter than MIN_SECRET_BYTES, a bad node id or a nonce of the wrong size. */
  constructor(
    private readonly secret: Buffer,
    private readonly node: string,
    private readonly nonce: Buffer,
  ) {
    requireSetup(secret, node, nonce);
  }

  /** The first message of the handshake. */
  hello(): Buffer {
    return encode({ type: 'hello', protocol: PROTOCOL, node: this.node, nonce: this.nonce.toString('base64') });
  }

  /** Checks the listener's proof; on success, the proof message to send and this side's keys. */
  onChallenge(data: Buffer | Uint8Array): Decoded<{ readonly reply: Buffer; readonly keys: LinkKeys }> {
    const m = parse(data, 'challenge');
    if (!m.ok) return m;
    const peer = peerNodeOf(m.value, this.node);
    if (!peer.ok) return peer;
    const listenerNonce = decodeBytes(m.value.nonce, NONCE_BYTES);
    const proof = decodeBytes(m.value.proof, 32);
    if (listenerNonce === undefined || proof === undefined) return refuse('BAD_HANDSHAKE', 'the challenge nonce or proof is malformed');
    const t: Transcript = { dialerNode: this.node, listenerNode: peer.value, dialerNonce: this.nonce, listenerNonce };
    if (!sameBytes(proof, proofOf(this.secret, 'listener', t))) return refuse('BAD_PROOF', 'the listener could not prove it holds the shared secret');
    return {
      ok: true,
      value: {
        reply: encode({ type: 'proof', proof: proofOf(this.secret, 'dialer', t).toString('base64') }),
        keys: { send: keyFor(this.secret, 'dialer', t), receive: keyFor(this.secret, 'listener', t), peerNode: peer.value },
      },
    };
  }
}

/** The listening side: answers a hello with a challenge, checks the dialer's proof, gets the link keys. */
export class ListenerHandshake {
  private transcript: Transcript | undefined;

  /** Throws on a secret shorter than MIN_SECRET_BYTES, a bad node id or a nonce of the wrong size. */
  constructor(
    private readonly secret: Buffer,
    private readonly node: string,
    private readonly nonce: Buffer,
  ) {
    requireSetup(secret, node, nonce);
  }

  /** The challenge to send for a dialer's hello (which proves nothing yet). */
  onHello(data: Buffer | Uint8Array): Decoded<Buffer> {
    if (this.transcript !== undefined) throw new Error('onHello called twice on one handshake');
    const m = parse(data, 'hello');
    if (!m.ok) return m;
    const peer = peerNodeOf(m.value, this.node);
    if (!peer.ok) return peer;
    const dialerNonce = decodeBytes(m.value.nonce, NONCE_BYTES);
    if (dialerNonce === undefined) return refuse('BAD_HANDSHAKE', 'the hello nonce is malformed');
    this.transcript = { dialerNode: peer.value, listenerNode: this.node, dialerNonce, listenerNonce: this.nonce };
    return {
      ok: true,
      value: encode({
        type: 'challenge',
        protocol: PROTOCOL,
        node: this.node,
        nonce: this.nonce.toString('base64'),
        proof: proofOf(this.secret, 'listener', this.transcript).toString('base64'),
      }),
    };
  }

  /** Checks the dialer's proof; on success, this side's keys. Throws if no hello was accepted first. */
  onProof(data: Buffer | Uint8Array): Decoded<LinkKeys> {
    const t = this.transcript;
    if (t === undefined) throw new Error('onProof called before a hello was accepted');
    const m = parse(data, 'proof');
    if (!m.ok) return m;
    const proof = decodeBytes(m.value.proof, 32);
    if (proof === undefined) return refuse('BAD_HANDSHAKE', 'the proof is malformed');
    if (!sameBytes(proof, proofOf(this.secret, 'dialer', t))) return refuse('BAD_PROOF', 'the dialer could not prove it holds the shared secret');
    return { ok: true, value: { send: keyFor(this.secret, 'listener', t), receive: keyFor(this.secret, 'dialer', t), peerNode: t.dialerNode } };
  }
}
