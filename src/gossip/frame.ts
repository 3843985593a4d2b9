// The frame codec of an authenticated link (docs/GOSSIP.md "Frames"). On the wire a frame is one
// binary WebSocket message: 32 bytes of HMAC-SHA256 under the link's key for this direction,
// then the UTF-8 JSON `{"type":…,"seq":…,"body":…}` it authenticates. The MAC is checked over
// the exact bytes before they are parsed, so nothing a non-member sends reaches JSON.parse;
// the sequence number starts at 1 and must grow by exactly 1, so a frame replayed, dropped or
// reordered within the link is refused, and a frame from another link fails its MAC (every
// link and direction has its own key, derived in the handshake).
//
// Pure apart from the hashing: the sealer and the opener hold a key and a counter, nothing else.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { BODY_PARSERS, type Frame, type FrameBodies, type FrameType, isFrameType } from './messages.js';
import { type Decoded, refuse } from './refusal.js';

/** Bytes of the MAC that opens every frame. */
export const MAC_BYTES = 32;
/** The largest frame a link accepts by default (the transport sets ws's maxPayload to the same). */
export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024;
/** Bytes of a frame key (SHA-256 sized). */
export const KEY_BYTES = 32;

function mac(key: Buffer, payload: Buffer): Buffer {
  return createHmac('sha256', key).update(payload).digest();
}

function requireKey(key: Buffer): void {
  if (!Buffer.isBuffer(key) || key.length !== KEY_BYTES) throw new Error(`a frame key is ${KEY_BYTES} bytes`);
}

/** Seals outgoing frames of one link direction: MAC and the next sequence number. */
export class FrameSealer {
  private seq = 0;

  /** `key`: this direction's key from the handshake (KEY_BYTES). Throws on a key of another size. */
  constructor(private readonly key: Buffer) {
    requireKey(key);
  }

  /** The wire bytes of the next frame. Throws if the body cannot be encoded as JSON (a bug, not the peer's fault). */
  seal<K extends FrameType>(type: K, body: FrameBodies[K]): Buffer {
    this.seq += 1;
    const payload = Buffer.from(JSON.stringify({ type, seq: this.seq, body }), 'utf8');
    return Buffer.concat([mac(this.key, payload), payload]);
  }
}

/**
 * Opens incoming frames of one link direction: size, MAC, JSON, sequence, type and body are
 * checked in that order, and the first failure is returned as a refusal (never thrown). The
 * transport closes the link on any refusal, so the opener does not resynchronise after one.
 */
export class FrameOpener {
  private expected = 1;

  /** `key`: the peer's sending key for this link (KEY_BYTES). `maxFrameBytes` caps a frame's whole size. */
  constructor(
    private readonly key: Buffer,
    private readonly maxFrameBytes = DEFAULT_MAX_FRAME_BYTES,
  ) {
    requireKey(key);
    if (!Number.isSafeInteger(maxFrameBytes) || maxFrameBytes <= MAC_BYTES) throw new Error(`maxFrameBytes must be an integer above ${MAC_BYTES}`);
  }

  /** The sequence number the next frame must carry. */
  get nextSeq(): number {
    return this.expected;
  }

  open(data: Buffer | Uint8Array): Decoded<Frame> {
    if (data.length > this.maxFrameBytes) return refuse('FRAME_TOO_LARGE', `a frame of ${data.length} bytes; this link accepts at most ${this.maxFrameBytes}`);
    if (data.length <= MAC_BYTES) return refuse('MALFORMED_FRAME', `a frame of ${data.length} bytes is shorter than its MAC`);
    const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.length);
    const payload = bytes.subarray(MAC_BYTES);
    if (!timingSafeEqual(bytes.subarray(0, MAC_BYTES), mac(this.key, payload))) return refuse('BAD_MAC');
    let parsed: unknown;
    try {
      parsed = JSON.parse(payload.toString('utf8'));
    } catch {
      return refuse('MALFORMED_FRAME', 'the authenticated payload is not JSON');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return refuse('MALFORMED_FRAME');
    const { type, seq, body } = parsed as Record<string, unknown>;
    if (!Number.isSafeInteger(seq)) return refuse('MALFORMED_FRAME', 'seq is not an integer');
    if (seq !== this.expected) return refuse('BAD_SEQUENCE', `seq ${String(seq)} where ${this.expected} was due (replayed or reordered)`);
    if (!isFrameType(type)) return refuse('UNKNOWN_FRAME_TYPE', `frame type ${JSON.stringify(type)?.slice(0, 64) ?? 'undefined'}`);
    const checked = (BODY_PARSERS[type] as (x: unknown) => unknown)(body);
    if (checked === undefined) return refuse('BAD_BODY', `a ${type} body of the wrong shape`);
    this.expected += 1;
    return { ok: true, value: { type, seq, body: checked } as Frame };
  }
}
